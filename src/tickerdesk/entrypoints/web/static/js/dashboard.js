// The dashboard: balance, portfolio, prices, open orders, history and notifications, kept
// live by the notification stream. The stream is opened before anything is read, so no
// change falls between a read and the stream; after a reconnection everything is read again.

import { createApi } from "./api.js";
import { allocation } from "./charts.js";
import { approximate, sum } from "./decimal.js";
import { byId, debounce, h } from "./dom.js";
import { FeedView } from "./feed.js";
import { money, pnl, shares, trend } from "./format.js";
import { HistoryView } from "./history.js";
import { OrdersView } from "./orders.js";
import { PricesView } from "./prices.js";
import { endSession } from "./session.js";
import { LiveStream } from "./stream.js";
import { TicketView } from "./ticket.js";

const PRICE_POLL_MS = 2000;
const CONNECTION_TEXT = {
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Connection lost. Reconnecting…",
};

export class Dashboard {
  constructor(session) {
    this.session = session;
    const signOut = () => endSession("Your session has ended: sign in again.");
    this.api = createApi(session.token, { onUnauthenticated: signOut });
    this.orders = new OrdersView(this.api);
    this.history = new HistoryView(this.api);
    this.feed = new FeedView();
    this.prices = new PricesView(this.api, session.userId, { onTrade: (symbol) => this.ticket.use(symbol) });
    this.ticket = new TicketView(this.api, { stocks: () => this.prices.stocks });
    this.stream = new LiveStream({
      token: session.token,
      onNotification: (notification) => this.apply(notification),
      onState: (state, transport) => this.connection(state, transport),
      onUnauthenticated: signOut,
    });
    this.refreshPortfolio = debounce(() => this.loadPortfolio().catch(() => {}), 150);
    this.refreshHistory = debounce(() => this.history.load(), 300);
    this.everLive = false;
    this.balanceEvents = 0; // a read that started before the newest balance event is older than it
    this.portfolioReads = 0;
  }

  start() {
    byId("dashboard").hidden = false;
    byId("account").hidden = false;
    byId("who").textContent = this.session.userId;
    byId("sign-out").addEventListener("click", () => {
      this.stream.stop();
      endSession();
    });
    this.stream.start();
    // Read at once too: the stream may take a moment, or not come at all (then the state says so).
    this.loadAll();
    this.pollPrices();
  }

  async loadAll() {
    await Promise.allSettled([
      this.loadBalance(), this.loadPortfolio(), this.orders.load(), this.history.load(), this.loadStocks(),
    ]);
  }

  async loadStocks() {
    await this.prices.poll();
    const options = [...this.prices.stocks.values()].map((stock) => h("option", { value: stock.symbol }, stock.name));
    byId("symbol-list").replaceChildren(...options);
    this.prices.loadBars();
  }

  pollPrices() {
    setTimeout(async () => {
      if (document.visibilityState === "visible") {
        try {
          const moved = await this.prices.poll();
          if (moved.some((symbol) => this.prices.held.includes(symbol))) this.refreshPortfolio();
          this.ticket.showHint();
        } catch {
          // offline: the connection state already says so
        }
      }
      this.pollPrices();
    }, PRICE_POLL_MS);
  }

  connection(state, transport) {
    const el = byId("connection");
    el.dataset.state = state;
    el.textContent = CONNECTION_TEXT[state] || "";
    el.title = transport === "sse" ? "Live over Server-Sent Events" : transport ? "Live over WebSocket" : "";
    document.body.dataset.connection = state;
    if (state === "live") {
      if (this.everLive) this.loadAll(); // what happened while the line was down
      this.everLive = true;
    }
  }

  apply(notification) {
    this.feed.add(notification);
    const data = notification.data;
    if (notification.type === "balance.updated") {
      this.balanceEvents += 1;
      this.showBalance(data);
    }
    else if (notification.type === "portfolio.updated") this.refreshPortfolio();
    else if (notification.type.startsWith("trade.")) {
      this.orders.upsert(data);
      if (!["trade.placed"].includes(notification.type)) this.refreshHistory();
      if (["trade.executed", "trade.partiallyExecuted"].includes(notification.type)) this.refreshPortfolio();
    }
  }

  async loadBalance() {
    const events = this.balanceEvents;
    const balance = await this.api.get("/balance");
    if (events === this.balanceEvents) this.showBalance(balance);
  }

  showBalance(balance) {
    byId("balance-available").textContent = money(balance.availableBalance);
    byId("balance-held").textContent = money(balance.heldForTrades);
    byId("balance-total").textContent = money(balance.totalBalance);
  }

  async loadPortfolio() {
    const read = ++this.portfolioReads;
    const portfolio = await this.api.get("/portfolio");
    if (read !== this.portfolioReads) return; // a newer read is on its way
    const holdings = portfolio.holdings.filter((holding) => holding.quantity > 0);
    byId("portfolio-empty").hidden = holdings.length > 0;
    byId("holdings").replaceChildren(...holdings.map((holding) => this.holdingRow(holding)));
    byId("allocation").replaceChildren(holdings.length ? allocation(holdings.map((holding) => ({
      label: holding.stockSymbol, value: approximate(holding.marketValue ?? "0"),
    }))) : "");
    const totals = byId("portfolio-totals");
    totals.hidden = holdings.length === 0;
    const unrealized = sum(holdings.map((holding) => holding.unrealizedPnl ?? "0"));
    const realized = sum(portfolio.holdings.map((holding) => holding.realizedPnl ?? "0"));
    byId("portfolio-value").textContent = money(portfolio.totalValue);
    this.setPnl(byId("portfolio-unrealized"), unrealized);
    this.setPnl(byId("portfolio-realized"), realized);
    this.prices.setHeld(holdings.map((holding) => holding.stockSymbol));
  }

  setPnl(el, value) {
    el.textContent = pnl(value);
    el.className = `pnl ${trend(value)}`;
  }

  holdingRow(holding) {
    const figure = (term, value, className) => h("div", {}, h("dt", {}, term), h("dd", { class: className }, value));
    return h("li", { class: "row holding", "data-symbol": holding.stockSymbol },
      h("p", { class: "row-title" }, holding.stockSymbol),
      h("dl", { class: "figures small" },
        figure("Shares", shares(holding.quantity)),
        figure("In open sells", shares(holding.heldQuantity)),
        figure("Average price", money(holding.averagePurchasePrice)),
        figure("Last price", money(holding.currentPrice)),
        figure("Market value", money(holding.marketValue)),
        figure("Unrealized P&L", pnl(holding.unrealizedPnl), `pnl ${trend(holding.unrealizedPnl)}`),
        figure("Realized P&L", pnl(holding.realizedPnl), `pnl ${trend(holding.realizedPnl)}`)));
  }
}
