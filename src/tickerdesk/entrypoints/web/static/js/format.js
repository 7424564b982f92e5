// How amounts, quantities, times and events read on the screen.

import { format, sign } from "./decimal.js";

const MINUS = "\u2212";

/** "$1,234.50"; "—" when the API has no figure (a market order's price before any fill). */
export function money(value) {
  if (value === null || value === undefined) return "—";
  const text = format(value);
  return text.startsWith("-") ? `${MINUS}$${text.slice(1)}` : `$${text}`;
}

/** "+$12.00", "−$3.50", "$0.00": a profit or loss. */
export function pnl(value) {
  if (value === null || value === undefined) return "—";
  const amount = money(value);
  return sign(value) > 0 ? `+${amount}` : amount;
}

/** "up", "down" or "flat": the class a profit, loss or price move is coloured by. */
export function trend(value) {
  if (value === null || value === undefined) return "flat";
  const s = sign(value);
  return s > 0 ? "up" : s < 0 ? "down" : "flat";
}

export function shares(quantity) {
  return Number(quantity).toLocaleString("en-US");
}

const TIME = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
const DATE_TIME = new Intl.DateTimeFormat(undefined, {
  month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
});

export function time(iso) {
  return TIME.format(new Date(iso));
}

export function dateTime(iso) {
  return DATE_TIME.format(new Date(iso));
}

export const STATUS_NAMES = {
  pending: "Pending",
  partiallyExecuted: "Partly filled",
  executed: "Filled",
  canceled: "Canceled",
  expired: "Expired",
  rejected: "Rejected",
};

export const TIF_NAMES = { day: "Day", gtc: "Good till canceled", ioc: "Immediate or cancel", fok: "Fill or kill" };

/** "Buy 10 AAPL at limit $95.00" or "Sell 3 MSFT at market". */
export function describeOrder(trade) {
  const side = trade.tradeType === "sell" ? "Sell" : "Buy";
  const price = trade.orderType === "limit" ? `limit ${money(trade.limitPrice)}` : "market";
  return `${side} ${shares(trade.quantity)} ${trade.stockSymbol} at ${price}`;
}

/** What a notification says, in one line, for the feed and the toasts. */
export function describeEvent(notification) {
  const data = notification.data || {};
  const verb = data.tradeType === "sell" ? "Sold" : "Bought";
  switch (notification.type) {
    case "trade.placed":
      return `Order placed: ${describeOrder(data)}`;
    case "trade.partiallyExecuted":
      return `Partly filled: ${verb.toLowerCase()} ${shares(data.lastQuantity)} ${data.stockSymbol} at ` +
        `${money(data.lastPrice)} (${shares(data.filledQuantity)} of ${shares(data.quantity)})`;
    case "trade.executed":
      return `Filled: ${verb.toLowerCase()} ${shares(data.filledQuantity)} ${data.stockSymbol} at ` +
        `${money(data.averageFillPrice)}`;
    case "trade.canceled":
      return `Canceled: ${describeOrder(data)} (${shares(data.filledQuantity)} filled)`;
    case "trade.expired":
      return `Expired: ${describeOrder(data)} (${shares(data.filledQuantity)} filled)`;
    case "trade.rejected":
      return `Rejected: ${describeOrder(data)}${data.rejectReason ? ` (${data.rejectReason})` : ""}`;
    case "balance.updated":
      return `Balance: ${money(data.availableBalance)} available, ${money(data.heldForTrades)} held`;
    case "portfolio.updated":
      return `Portfolio: ${shares(data.quantity)} ${data.stockSymbol}`;
    default:
      return notification.type;
  }
}
