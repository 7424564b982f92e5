// The web application's start: sign in, then the dashboard. Registers the service worker
// that makes it an installable app (it caches the shell only; see /sw.js).

import { Dashboard } from "./dashboard.js";
import { byId } from "./dom.js";
import { loadSession } from "./session.js";
import { signIn } from "./signin.js";

const devLogin = document.querySelector('meta[name="tickerdesk:dev-login"]')?.content === "on";

// The page's Trusted Types allow one script URL to be made from text: the service worker's.
const workerUrl = window.trustedTypes
  ? window.trustedTypes.createPolicy("tickerdesk-worker", {
    createScriptURL: (url) => {
      if (url !== "/sw.js") throw new TypeError(`not the service worker: ${url}`);
      return url;
    },
  }).createScriptURL("/sw.js")
  : "/sw.js";

if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register(workerUrl, { scope: "/" }).catch(() => {
    // Without it the app still works; it is just not installable.
  });
}

async function start() {
  byId("loading").hidden = true;
  const session = loadSession() || (await signIn({ devLogin }));
  new Dashboard(session).start();
}

start();
