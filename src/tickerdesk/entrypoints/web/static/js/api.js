// The public API over fetch: the bearer token, exact money, problem+json as ApiError.

/**
 * JSON with exact numbers. The API writes money as JSON numbers with every digit (189.5,
 * 0.0001); JSON.parse would round them to binary floats, so each number that is not a safe
 * integer (quantities, seq) is kept as the decimal string it was written as (decimal.js
 * does the arithmetic). Chromium, Firefox and Safari pass the source text to the reviver.
 */
export function parseExact(text) {
  return JSON.parse(text, (key, value, context) => {
    if (typeof value !== "number" || !context || typeof context.source !== "string") return value;
    return Number.isSafeInteger(value) && /^-?\d+$/.test(context.source) ? value : context.source;
  });
}

const NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;

/**
 * What the user typed into a numeric field, for a JSON body: the number exactly as typed
 * when it is one (so "1.5" reaches the API as 1.5 and the API says why it refuses it),
 * otherwise the text itself (which the API refuses with its own message).
 */
export function typedNumber(text) {
  const trimmed = text.trim();
  if (!NUMBER.test(trimmed)) return trimmed;
  if (typeof JSON.rawJSON === "function") return JSON.rawJSON(trimmed);
  return Number.isSafeInteger(Number(trimmed)) && /^-?\d+$/.test(trimmed) ? Number(trimmed) : trimmed;
}

/** A refusal: the problem's status, code and detail, and its per-field errors when it has them. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || `HTTP ${status}`);
    this.status = status;
    this.code = problem.code || "error";
    this.detail = problem.detail || `HTTP ${status}`;
    this.errors = Array.isArray(problem.errors) ? problem.errors : [];
  }
}

/** The request never got an answer (offline, server down). */
export class NetworkError extends Error {}

export function createApi(token, { onUnauthenticated = () => {} } = {}) {
  async function request(method, path, { body, headers = {}, signal } = {}) {
    const init = { method, headers: { Accept: "application/json", ...headers }, signal, cache: "no-store" };
    if (token) init.headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (error) {
      if (error.name === "AbortError") throw error;
      throw new NetworkError(`no answer from the server (${error.message})`);
    }
    const text = await response.text();
    let data = null;
    if (text) {
      try {
        data = parseExact(text);
      } catch {
        data = { detail: text.slice(0, 200) };
      }
    }
    if (!response.ok) {
      const error = new ApiError(response.status, data || {});
      if (response.status === 401 && token) onUnauthenticated(error);
      throw error;
    }
    return data;
  }

  return {
    token,
    get: (path, options) => request("GET", path, options),
    post: (path, body, options = {}) => request("POST", path, { ...options, body }),
  };
}

/** A query string of the parameters that are set. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") search.set(name, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}
