// Open orders (live, each with its fills, details and a Cancel button), and the order
// detail with its executions that the history rows share.

import { ApiError, query } from "./api.js";
import { byId, h } from "./dom.js";
import { describeOrder, money, shares, STATUS_NAMES, time, TIF_NAMES } from "./format.js";

const OPEN = new Set(["pending", "partiallyExecuted"]);

function fillsText(trade) {
  if (!trade.filledQuantity) return `0 of ${shares(trade.quantity)} filled`;
  return `${shares(trade.filledQuantity)} of ${shares(trade.quantity)} filled at ${money(trade.averageFillPrice)} average`;
}

/** A "Details" button and the panel it opens: the order's executions, from GET /trade/{id}. */
export function detailsDisclosure(api, tradeId, key) {
  const panel = h("div", { class: "details", id: `details-${key}-${tradeId}`, hidden: true });
  const button = h("button", {
    type: "button", class: "quiet", "aria-expanded": "false", "aria-controls": panel.id,
  }, "Details");
  button.addEventListener("click", async () => {
    const open = button.getAttribute("aria-expanded") !== "true";
    button.setAttribute("aria-expanded", String(open));
    panel.hidden = !open;
    if (!open) return;
    panel.replaceChildren(h("p", { class: "muted" }, "Loading…"));
    try {
      const trade = await api.get(`/trade/${encodeURIComponent(tradeId)}`);
      const executions = trade.executions || [];
      panel.replaceChildren(
        h("p", {}, `${TIF_NAMES[trade.timeInForce] || trade.timeInForce} · placed ${time(trade.createdAt)}` +
          (trade.holdPrice ? ` · holds at ${money(trade.holdPrice)}` : "")),
        executions.length
          ? h("ul", { class: "executions", "aria-label": "Executions" }, executions.map((e) =>
            h("li", {}, `${shares(e.quantity)} at ${money(e.price)}`, h("span", { class: "muted" },
              e.executedAt ? ` · ${time(e.executedAt)}` : ""))))
          : h("p", { class: "muted" }, "No executions yet."),
      );
    } catch (error) {
      panel.replaceChildren(h("p", { class: "field-error" }, error.message));
    }
  });
  return { button, panel };
}

class OrderRow {
  constructor(view, trade) {
    this.view = view;
    this.summary = h("p", { class: "row-title" });
    this.fills = h("p", { class: "muted" });
    this.status = h("span", { class: "chip" });
    this.error = h("p", { class: "field-error", role: "alert" });
    this.cancel = h("button", { type: "button", class: "danger", onclick: () => this.requestCancel() }, "Cancel");
    const details = detailsDisclosure(view.api, trade.tradeId, "open");
    this.el = h("li", { class: "row order", "data-trade-id": trade.tradeId },
      h("div", { class: "row-main" }, this.summary, this.fills),
      h("div", { class: "row-side" }, this.status),
      h("div", { class: "row-actions" }, details.button, this.cancel),
      this.error, details.panel);
    this.update(trade);
  }

  update(trade) {
    this.trade = trade;
    this.summary.textContent = describeOrder(trade);
    this.fills.textContent = fillsText(trade);
    this.status.textContent = trade.cancelRequested ? "Cancel requested" : STATUS_NAMES[trade.status] || trade.status;
    this.status.dataset.status = trade.cancelRequested ? "canceling" : trade.status;
    this.cancel.disabled = Boolean(trade.cancelRequested);
  }

  async requestCancel() {
    this.error.textContent = "";
    this.cancel.disabled = true;
    try {
      this.update(await this.view.api.post(`/trade/${encodeURIComponent(this.trade.tradeId)}/cancel`));
    } catch (error) {
      this.cancel.disabled = false;
      this.error.textContent = error instanceof ApiError ? error.detail : error.message;
    }
  }
}

export class OrdersView {
  constructor(api) {
    this.api = api;
    this.list = byId("order-list");
    this.empty = byId("orders-empty");
    this.rows = new Map();
    this.closed = new Set(); // orders an event has shown final: an older read must not bring them back
  }

  async load() {
    const pages = await Promise.all([...OPEN].map((status) => this.api.get(`/trades${query({ status, limit: 100 })}`)));
    const trades = pages.flatMap((page) => page.items).filter((trade) => !this.closed.has(trade.tradeId));
    const open = new Set(trades.map((t) => t.tradeId));
    for (const id of [...this.rows.keys()]) if (!open.has(id)) this.remove(id);
    trades.forEach((trade) => this.upsert(trade));
  }

  /** A trade as an event or the API shows it: kept while open, removed once it is not. */
  upsert(trade) {
    if (!OPEN.has(trade.status)) {
      this.closed.add(trade.tradeId);
      this.remove(trade.tradeId);
      return;
    }
    const row = this.rows.get(trade.tradeId);
    if (row) {
      if (trade.updatedAt >= row.trade.updatedAt) row.update(trade);
    } else {
      this.rows.set(trade.tradeId, new OrderRow(this, trade));
      this.render();
    }
  }

  remove(tradeId) {
    const row = this.rows.get(tradeId);
    if (!row) return;
    const hadFocus = row.el.contains(document.activeElement);
    this.rows.delete(tradeId);
    row.el.remove();
    this.render();
    if (hadFocus) byId("orders-title").focus(); // the row the user was on has gone: keep them here
  }

  render() {
    const rows = [...this.rows.values()].sort((a, b) => (a.trade.createdAt < b.trade.createdAt ? 1 : -1));
    rows.forEach((row, i) => {
      if (this.list.children[i] !== row.el) this.list.insertBefore(row.el, this.list.children[i] || null);
    });
    this.empty.hidden = rows.length > 0;
  }
}
