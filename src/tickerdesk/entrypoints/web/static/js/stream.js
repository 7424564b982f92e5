// The live notification stream: a WebSocket, else Server-Sent Events over fetch (which,
// unlike EventSource, can send the Authorization header). Every notification carries the
// user's `seq`; after a drop the stream resumes after the last one seen, so nothing is
// missed and nothing is shown twice. The state (connecting, live, reconnecting) is told to
// the page, which shows it.

import { parseExact } from "./api.js";

const SILENCE_MS = 45_000; // the server sends a heartbeat every 15 s: three missed ones is a dead line
const BACKOFF_MS = [500, 1000, 2000, 4000, 8000];

export class LiveStream {
  constructor({ token, onNotification, onState, onUnauthenticated }) {
    this.token = token;
    this.onNotification = onNotification;
    this.onState = onState;
    this.onUnauthenticated = onUnauthenticated;
    this.lastSeq = null;
    this.preferred = "websocket";
    this.failures = 0;
    this.state = "idle";
    this.stopped = false;
    this.close = () => {};
    this.retryTimer = null;
    this.silenceTimer = null;
    this.wake = () => this.state === "reconnecting" && this.reconnectNow();
    window.addEventListener("online", this.wake);
    document.addEventListener("visibilitychange", this.wake);
  }

  start() {
    this.setState("connecting");
    this.connect(this.preferred, true);
  }

  stop() {
    this.stopped = true;
    this.current = null;
    clearTimeout(this.retryTimer);
    clearTimeout(this.silenceTimer);
    window.removeEventListener("online", this.wake);
    document.removeEventListener("visibilitychange", this.wake);
    this.close();
  }

  setState(state, transport) {
    this.state = state;
    this.onState(state, transport);
  }

  reconnectNow() {
    clearTimeout(this.retryTimer);
    this.current = null;
    this.close();
    this.connect(this.preferred, true);
  }

  /** One attempt with `transport`; on failure before it is live, the other transport once, then a pause. */
  connect(transport, mayFallBack) {
    if (this.stopped) return;
    let live = false;
    let ended = false;
    const attempt = {
      live: () => {
        live = true;
        this.failures = 0;
        this.preferred = transport;
        this.setState("live", transport);
        this.heard(attempt);
      },
      message: (notification) => {
        this.heard(attempt);
        if (typeof notification.seq !== "number") return;
        if (this.lastSeq !== null && notification.seq <= this.lastSeq) return; // seen before the drop
        this.lastSeq = notification.seq;
        this.onNotification(notification);
      },
      heard: () => this.heard(attempt),
      ended: (reason) => {
        if (ended || this.stopped || this.current !== attempt) return; // an attempt already given up
        ended = true;
        clearTimeout(this.silenceTimer);
        this.close();
        if (reason === "unauthenticated") {
          this.onUnauthenticated();
          return;
        }
        if (!live && mayFallBack) {
          this.connect(transport === "websocket" ? "sse" : "websocket", false);
          return;
        }
        this.setState("reconnecting");
        const delay = BACKOFF_MS[Math.min(this.failures, BACKOFF_MS.length - 1)];
        this.failures += 1;
        this.retryTimer = setTimeout(() => this.connect(this.preferred, true), delay);
      },
    };
    this.current = attempt;
    this.close = transport === "websocket" ? this.openWebSocket(attempt) : this.openEventStream(attempt);
  }

  heard(attempt) {
    clearTimeout(this.silenceTimer);
    this.silenceTimer = setTimeout(() => attempt.ended("silent"), SILENCE_MS);
  }

  resumeQuery() {
    return this.lastSeq === null ? "" : `?after=${this.lastSeq}`;
  }

  openWebSocket(attempt) {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    let socket;
    try {
      socket = new WebSocket(`${scheme}://${location.host}/notifications/ws${this.resumeQuery()}`);
    } catch {
      setTimeout(() => attempt.ended("error"), 0);
      return () => {};
    }
    // A browser cannot set headers on a WebSocket: the token is the first message.
    socket.onopen = () => socket.send(JSON.stringify({ token: this.token }));
    socket.onmessage = (event) => {
      let message;
      try {
        message = parseExact(event.data);
      } catch {
        return;
      }
      if (message.type === "connected") attempt.live();
      else if (message.type === "heartbeat") attempt.heard();
      else attempt.message(message);
    };
    socket.onclose = (event) => attempt.ended(event.code === 4401 ? "unauthenticated" : "closed");
    socket.onerror = () => attempt.ended("error");
    return () => {
      socket.onclose = socket.onerror = socket.onmessage = socket.onopen = null;
      if (socket.readyState <= WebSocket.OPEN) socket.close();
    };
  }

  openEventStream(attempt) {
    const controller = new AbortController();
    (async () => {
      const response = await fetch(`/notifications/stream${this.resumeQuery()}`, {
        headers: { Authorization: `Bearer ${this.token}`, Accept: "text/event-stream" },
        cache: "no-store",
        signal: controller.signal,
      });
      if (response.status === 401) return attempt.ended("unauthenticated");
      if (!response.ok || !response.body) return attempt.ended("refused");
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        attempt.heard();
        buffer = (buffer + value).replace(/\r\n?/g, "\n");
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = [];
          for (const line of block.split("\n")) {
            if (line === ": connected") attempt.live();
            else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
          }
          if (data.length) attempt.message(parseExact(data.join("\n")));
        }
      }
      attempt.ended("closed");
    })().catch(() => attempt.ended("error"));
    return () => controller.abort();
  }
}
