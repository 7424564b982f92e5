// Who is signed in: the user id and bearer token, kept in this browser until Sign out.

const KEY = "tickerdesk.session";
const NOTICE = "tickerdesk.notice";

export function loadSession() {
  try {
    const session = JSON.parse(localStorage.getItem(KEY) || "null");
    return session && typeof session.token === "string" && typeof session.userId === "string" ? session : null;
  } catch {
    return null;
  }
}

export function saveSession(session) {
  localStorage.setItem(KEY, JSON.stringify({ userId: session.userId, token: session.token }));
}

/** Forget the token; `notice` is shown on the sign-in screen after the reload. */
export function endSession(notice) {
  localStorage.removeItem(KEY);
  if (notice) sessionStorage.setItem(NOTICE, notice);
  location.reload();
}

export function takeNotice() {
  const notice = sessionStorage.getItem(NOTICE);
  sessionStorage.removeItem(NOTICE);
  return notice;
}

/** The `sub` of a pasted JWT, to show who is signed in (the server verifies the token, not this). */
export function subjectOf(token) {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const json = new TextDecoder().decode(Uint8Array.from(atob(payload), (c) => c.charCodeAt(0)));
    const sub = JSON.parse(json).sub;
    return typeof sub === "string" ? sub : null;
  } catch {
    return null;
  }
}
