// Transaction history: filters (stock, trade type, status, dates) and pages by cursor.

import { query } from "./api.js";
import { byId, debounce, h } from "./dom.js";
import { dateTime, describeOrder, money, shares, STATUS_NAMES } from "./format.js";
import { detailsDisclosure } from "./orders.js";

const PAGE_SIZE = 10;

/** The start of a local calendar day as an instant ("2026-11-28" -> RFC 3339 UTC). */
function startOfDay(value, plusDays = 0) {
  if (!value) return null;
  const [year, month, day] = value.split("-").map(Number);
  return new Date(year, month - 1, day + plusDays).toISOString();
}

export class HistoryView {
  constructor(api) {
    this.api = api;
    this.list = byId("history-list");
    this.status = byId("history-status");
    this.previous = byId("history-previous");
    this.next = byId("history-next");
    this.pageLabel = byId("history-page");
    this.form = byId("history-filters");
    this.cursors = [null]; // the cursor of each page seen, for going back
    this.page = 0;
    this.nextCursor = null;
    this.loading = 0;
    const refilter = debounce(() => this.first(), 300);
    this.form.addEventListener("input", refilter);
    this.form.addEventListener("change", refilter);
    this.form.addEventListener("reset", () => setTimeout(() => this.first(), 0));
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.first();
    });
    this.previous.addEventListener("click", () => this.go(this.page - 1));
    this.next.addEventListener("click", () => this.go(this.page + 1));
  }

  filters() {
    return {
      stockSymbol: byId("h-symbol").value.trim().toUpperCase(),
      tradeType: byId("h-side").value,
      status: byId("h-status").value,
      from: startOfDay(byId("h-from").value),
      to: startOfDay(byId("h-to").value, 1), // the whole "to" day: the API's `to` is exclusive
    };
  }

  first() {
    this.cursors = [null];
    this.page = 0;
    return this.load();
  }

  go(page) {
    if (page < 0 || (page > this.page && !this.nextCursor)) return;
    if (page > this.page) this.cursors[page] = this.nextCursor;
    this.page = page;
    return this.load();
  }

  /** Reload the page shown (a trade reached the history, or the stream came back). */
  async load() {
    const ticket = ++this.loading;
    const params = { ...this.filters(), limit: PAGE_SIZE, cursor: this.cursors[this.page] };
    let answer;
    try {
      answer = await this.api.get(`/transaction-history${query(params)}`);
    } catch (error) {
      if (ticket === this.loading) this.status.textContent = error.message;
      return;
    }
    if (ticket !== this.loading) return; // a newer request was made meanwhile
    this.nextCursor = answer.nextCursor;
    const expanded = new Set([...this.list.querySelectorAll('[aria-expanded="true"]')]
      .map((button) => button.closest("li").dataset.tradeId));
    this.list.replaceChildren(...answer.items.map((trade) => this.row(trade, expanded.has(trade.tradeId))));
    const filtered = Object.entries(params).some(([k, v]) => !["limit", "cursor"].includes(k) && v);
    this.status.textContent = answer.items.length ? ""
      : filtered ? "No trades match these filters." : "No trades yet: filled, canceled and expired orders appear here.";
    this.pageLabel.textContent = `Page ${this.page + 1}`;
    this.previous.disabled = this.page === 0;
    this.next.disabled = !this.nextCursor;
  }

  row(trade, expanded) {
    const details = detailsDisclosure(this.api, trade.tradeId, "history");
    const filled = trade.filledQuantity
      ? `${shares(trade.filledQuantity)} filled at ${money(trade.averageFillPrice)} · total ${money(trade.totalPrice)}`
      : "nothing filled";
    const li = h("li", { class: "row trade", "data-trade-id": trade.tradeId },
      h("div", { class: "row-main" },
        h("p", { class: "row-title" }, describeOrder(trade)),
        h("p", { class: "muted" }, `${filled} · ${dateTime(trade.createdAt)}`)),
      h("div", { class: "row-side" },
        h("span", { class: "chip", "data-status": trade.status }, STATUS_NAMES[trade.status] || trade.status)),
      h("div", { class: "row-actions" }, details.button),
      details.panel);
    if (expanded) details.button.click();
    return li;
  }
}
