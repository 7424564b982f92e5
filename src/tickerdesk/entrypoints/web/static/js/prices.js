// Prices of the stocks the user holds or watches, each with a small chart of its recent
// prices: the last hour's one-minute bars (GET /stocks/{symbol}/bars), followed by the
// prices this page has seen since. Where the server has no bars (404), the prices seen
// since the page opened.

import { ApiError, query } from "./api.js";
import { byId, h } from "./dom.js";
import { sparkline } from "./charts.js";
import { approximate, sub } from "./decimal.js";
import { money, trend } from "./format.js";

const WINDOW_MINUTES = 60;
const KEEP_TICKS = 120;
const DEFAULT_WATCH = ["AAPL", "MSFT", "NVDA"];

export class PricesView {
  constructor(api, userId, { onTrade }) {
    this.api = api;
    this.onTrade = onTrade;
    this.key = `tickerdesk.watch.${userId}`;
    this.list = byId("price-list");
    this.rows = new Map();
    this.held = [];
    this.stocks = new Map(); // symbol -> {name, lastPrice}
    this.bars = new Map(); // symbol -> [close, ...] (decimal strings), oldest first
    this.ticks = new Map(); // symbol -> [price, ...] seen by this page
    this.barsUnavailable = false;
    this.watched = this.loadWatchlist();
    const form = byId("watch-form");
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.watch(byId("watch-symbol").value);
    });
  }

  loadWatchlist() {
    try {
      const saved = JSON.parse(localStorage.getItem(this.key) || "null");
      return Array.isArray(saved) ? saved : [...DEFAULT_WATCH];
    } catch {
      return [...DEFAULT_WATCH];
    }
  }

  saveWatchlist() {
    localStorage.setItem(this.key, JSON.stringify(this.watched));
  }

  watch(text) {
    const symbol = text.trim().toUpperCase();
    const error = byId("watch-error");
    const input = byId("watch-symbol");
    if (!this.stocks.has(symbol)) {
      error.textContent = symbol ? `${symbol} is not a listed stock` : "Name a stock to watch";
      input.setAttribute("aria-invalid", "true");
      return;
    }
    error.textContent = "";
    input.removeAttribute("aria-invalid");
    input.value = "";
    if (!this.watched.includes(symbol)) this.watched.push(symbol);
    this.saveWatchlist();
    this.render();
    this.loadBars([symbol]);
  }

  unwatch(symbol) {
    this.watched = this.watched.filter((s) => s !== symbol);
    this.saveWatchlist();
    this.render();
  }

  symbols() {
    return [...new Set([...this.held, ...this.watched])].filter((s) => this.stocks.has(s) || !this.stocks.size);
  }

  /** The quote board (GET /stocks, public): the last price of every stock. Returns the symbols that moved. */
  async poll() {
    const board = await this.api.get("/stocks");
    const moved = [];
    for (const stock of board.items) {
      const before = this.stocks.get(stock.symbol);
      if (before && before.lastPrice !== stock.lastPrice) moved.push(stock.symbol);
      this.stocks.set(stock.symbol, stock);
      if (stock.lastPrice !== null) {
        const ticks = this.ticks.get(stock.symbol) || [];
        if (ticks[ticks.length - 1] !== stock.lastPrice) ticks.push(stock.lastPrice);
        this.ticks.set(stock.symbol, ticks.slice(-KEEP_TICKS));
      }
    }
    this.render();
    return moved;
  }

  setHeld(symbols) {
    const changed = symbols.join() !== this.held.join();
    this.held = symbols;
    if (changed) {
      this.render();
      this.loadBars(symbols.filter((s) => !this.bars.has(s)));
    }
  }

  async loadBars(symbols = this.symbols()) {
    const from = new Date(Date.now() - WINDOW_MINUTES * 60_000).toISOString();
    await Promise.all(symbols.map(async (symbol) => {
      try {
        const answer = await this.api.get(
          `/stocks/${encodeURIComponent(symbol)}/bars${query({ interval: "1m", from })}`);
        this.barsUnavailable = false;
        this.bars.set(symbol, answer.bars.map((bar) => bar.close));
        // the page's own ticks continue the bars from now on
        const last = this.stocks.get(symbol)?.lastPrice;
        this.ticks.set(symbol, last ? [last] : []);
      } catch (error) {
        if (error instanceof ApiError && error.status === 404) this.barsUnavailable = true;
      }
    }));
    this.render();
  }

  series(symbol) {
    const bars = this.bars.get(symbol) || [];
    const ticks = this.ticks.get(symbol) || [];
    const joined = bars.length && ticks.length && bars[bars.length - 1] === ticks[0] ? ticks.slice(1) : ticks;
    return [...bars, ...joined];
  }

  render() {
    const symbols = this.symbols();
    for (const symbol of [...this.rows.keys()]) {
      if (!symbols.includes(symbol)) {
        this.rows.get(symbol).el.remove();
        this.rows.delete(symbol);
      }
    }
    symbols.forEach((symbol, i) => {
      let row = this.rows.get(symbol);
      if (!row) {
        row = this.createRow(symbol);
        this.rows.set(symbol, row);
      }
      this.updateRow(row, symbol);
      if (this.list.children[i] !== row.el) this.list.insertBefore(row.el, this.list.children[i] || null);
    });
  }

  createRow(symbol) {
    const row = {
      name: h("p", { class: "muted stock-name" }),
      price: h("p", { class: "price" }),
      move: h("p", { class: "move" }),
      chart: h("div", { class: "chart" }),
      unwatch: h("button", {
        type: "button", class: "quiet", "aria-label": `Stop watching ${symbol}`, onclick: () => this.unwatch(symbol),
      }, "Unwatch"),
    };
    row.el = h("li", { class: "row quote", "data-symbol": symbol },
      h("div", { class: "row-main" }, h("p", { class: "row-title" }, symbol), row.name),
      row.chart,
      h("div", { class: "row-side" }, row.price, row.move),
      h("div", { class: "row-actions" },
        h("button", { type: "button", "aria-label": `Trade ${symbol}`, onclick: () => this.onTrade(symbol) }, "Trade"),
        row.unwatch));
    return row;
  }

  updateRow(row, symbol) {
    const stock = this.stocks.get(symbol);
    const series = this.series(symbol);
    const first = series[0];
    const last = stock?.lastPrice ?? series[series.length - 1];
    const change = first && last ? sub(last, first) : null;
    const direction = trend(change);
    row.name.textContent = stock?.name || "";
    row.price.textContent = money(last);
    if (change !== null && approximate(first)) {
      const percent = (approximate(change) / approximate(first)) * 100;
      const arrow = direction === "up" ? "▲" : direction === "down" ? "▼" : "";
      const span = this.bars.get(symbol)?.length ? "in the last hour" : "since you opened the page";
      row.move.replaceChildren(
        h("span", { "aria-hidden": "true" }, arrow ? `${arrow} ` : ""),
        `${percent >= 0 ? "+" : ""}${percent.toFixed(2)}%`,
        h("span", { class: "visually-hidden" }, ` ${span}`));
    } else {
      row.move.replaceChildren();
    }
    row.move.className = `move ${direction}`;
    row.chart.replaceChildren(sparkline(series.map(approximate), { trend: direction }));
    row.unwatch.hidden = !this.watched.includes(symbol);
  }
}
