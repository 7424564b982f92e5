// The notifications feed (a live region: role="log") and a toast for each order event.

import { byId, h } from "./dom.js";
import { describeEvent, time } from "./format.js";

const KEEP = 50;
const TOAST_MS = 6000;
const TOAST_TYPES = new Set([
  "trade.placed", "trade.partiallyExecuted", "trade.executed", "trade.canceled", "trade.expired", "trade.rejected",
]);

export class FeedView {
  constructor() {
    this.feed = byId("feed");
    this.empty = byId("feed-empty");
    this.toasts = byId("toasts");
  }

  add(notification) {
    const text = describeEvent(notification);
    this.feed.prepend(h("li", { "data-type": notification.type },
      h("time", { datetime: notification.occurredAt }, time(notification.occurredAt)), " ", text));
    while (this.feed.children.length > KEEP) this.feed.lastElementChild.remove();
    this.empty.hidden = true;
    if (TOAST_TYPES.has(notification.type)) this.toast(text, notification.type);
  }

  /**
   * Toasts are visual and pass every tap through (they cover controls for a few seconds,
   * so they must never take a tap meant for one); the log above keeps each event and
   * announces it to a screen reader.
   */
  toast(text, type) {
    const toast = h("div", { class: "toast", "data-type": type }, h("p", {}, text));
    this.toasts.append(toast);
    while (this.toasts.children.length > 3) this.toasts.firstElementChild.remove();
    setTimeout(() => toast.remove(), TOAST_MS);
  }
}
