// The sign-in screen: paste a token (production), or, where the server offers it
// (`tickerdesk up`), name a user id and get a token from the development sign-in.

import { ApiError, createApi } from "./api.js";
import { byId } from "./dom.js";
import { saveSession, subjectOf, takeNotice } from "./session.js";

function fieldError(input, error, message) {
  error.textContent = message || "";
  if (message) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
}

/** Show the screen; resolves with the session once a sign-in worked. */
export function signIn({ devLogin }) {
  const section = byId("sign-in");
  const notice = byId("sign-in-notice");
  const devForm = byId("dev-sign-in");
  const tokenForm = byId("token-sign-in");
  const userId = byId("user-id");
  const token = byId("token");
  section.hidden = false;
  notice.textContent = takeNotice() || "";
  notice.hidden = !notice.textContent;
  if (devLogin) {
    devForm.hidden = false;
    const alternative = byId("token-alternative");
    alternative.hidden = false;
    alternative.append(tokenForm);
    byId("token-submit").textContent = "Use this token";
    userId.focus();
  } else {
    token.focus();
  }
  const anonymous = createApi(null);

  return new Promise((resolve) => {
    devForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      fieldError(userId, byId("user-id-error"), "");
      try {
        const answer = await anonymous.post("/dev/sign-in", { userId: userId.value });
        saveSession(answer);
        resolve(answer);
      } catch (error) {
        fieldError(userId, byId("user-id-error"), error instanceof ApiError && error.errors.length
          ? error.errors.map((e) => e.message).join("; ") : error.message);
        userId.focus();
      }
    });

    tokenForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const pasted = token.value.trim();
      fieldError(token, byId("token-error"), "");
      try {
        await createApi(pasted).get("/balance"); // the server says whether the token is good
        const session = { userId: subjectOf(pasted) || "you", token: pasted };
        saveSession(session);
        resolve(session);
      } catch (error) {
        fieldError(token, byId("token-error"), error.message);
        token.focus();
      }
    });
  }).then((session) => {
    section.hidden = true;
    return session;
  });
}
