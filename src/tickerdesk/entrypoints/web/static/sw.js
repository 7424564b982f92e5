// tickerdesk's service worker: it keeps the application shell (the page and its hashed
// assets) so the app opens installed and offline. It never answers for the API: balances,
// orders and prices always come from the network, or not at all.
// Filled in by the server at start-up (entrypoints/web/site.py): the release and its shell.
const RELEASE = "__RELEASE__";
const SHELL = __SHELL__;
const CACHE = `tickerdesk-shell-${RELEASE}`;

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys()
    .then((names) => Promise.all(names.filter((name) => name !== CACHE).map((name) => caches.delete(name))))
    .then(() => self.clients.claim()));
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (request.mode === "navigate" && url.pathname === "/") {
    // The page first from the network (it names the newest release), the kept one when offline.
    event.respondWith(fetch(request).catch(() => caches.match("/")));
  } else if (url.pathname.startsWith("/assets/")) {
    // Hashed names never change content: the kept copy is the copy.
    event.respondWith(caches.match(request).then((kept) => kept || fetch(request)));
  }
  // Everything else (the API) is not touched: the browser fetches it as if there were no worker.
});

// Web Push (README "Notifications"): the server sends {title, body, tag, url, type, eventId},
// encrypted for this browser's subscription. A newer message about the same order (same tag)
// replaces the older one; a tap focuses the app (or opens it).
const ICON = SHELL.find((url) => url.includes("icon-192")) || undefined;

self.addEventListener("push", (event) => {
  let message = {};
  try {
    message = event.data ? event.data.json() : {};
  } catch {
    message = { body: event.data ? event.data.text() : "" };
  }
  const title = message.title || "tickerdesk";
  event.waitUntil(self.registration.showNotification(title, {
    body: message.body || "",
    tag: message.tag || undefined,
    renotify: Boolean(message.tag),
    icon: ICON,
    badge: ICON,
    data: { url: message.url || "/" },
  }));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const target = new URL((event.notification.data && event.notification.data.url) || "/", self.location.origin);
  event.waitUntil(self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((windows) => {
    const open = windows.find((client) => new URL(client.url).origin === self.location.origin);
    return open ? open.focus() : self.clients.openWindow(target.origin === self.location.origin ? target.href : "/");
  }));
});
