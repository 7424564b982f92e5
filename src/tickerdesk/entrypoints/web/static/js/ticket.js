// The order ticket. As the user types it asks POST /trade/preview what the order would
// cost and hold, and shows a refusal the placement would get next to the field it concerns,
// in the API's own words; Place order sends nothing the preview already refused.

import { ApiError, NetworkError, typedNumber } from "./api.js";
import { byId, debounce, h } from "./dom.js";
import { describeOrder, money, shares, STATUS_NAMES } from "./format.js";

// The ticket's fields, by the names the API's errors use.
const FIELDS = {
  stockSymbol: "t-symbol",
  quantity: "t-quantity",
  tradeType: "t-side",
  orderType: "t-order-type",
  limitPrice: "t-limit-price",
  pricePerShare: "t-limit-price",
  timeInForce: "t-tif",
};
// A refusal without a field of its own concerns the field that would fix it.
const FIELD_OF_CODE = {
  unknown_symbol: "stockSymbol",
  insufficient_funds: "quantity",
  insufficient_shares: "quantity",
  price_out_of_band: "limitPrice",
};

/** {field id: message} for a refusal (a problem with `errors`, or one with only a `code` and `detail`). */
function errorsByField(problem) {
  const found = {};
  for (const error of problem.errors || []) {
    const field = FIELDS[String(error.field || "").split(".")[0]];
    if (field) found[field] = found[field] ? `${found[field]}; ${error.message}` : error.message;
  }
  if (Object.keys(found).length) return found;
  let name = FIELD_OF_CODE[problem.code];
  if (!name) name = Object.keys(FIELDS).find((field) => problem.detail && problem.detail.includes(field));
  return { [name ? FIELDS[name] : "t-error"]: problem.detail };
}

export class TicketView {
  constructor(api, { stocks }) {
    this.api = api;
    this.stocks = stocks; // () => Map of symbol -> stock
    this.form = byId("ticket-form");
    this.symbol = byId("t-symbol");
    this.side = byId("t-side");
    this.quantity = byId("t-quantity");
    this.orderType = byId("t-order-type");
    this.limitPrice = byId("t-limit-price");
    this.tif = byId("t-tif");
    this.preview = byId("t-preview");
    this.hint = byId("t-symbol-hint");
    this.asked = 0;
    this.previewed = null; // {body, ok} of the newest preview answered
    this.idempotencyKey = null;
    const later = debounce(() => this.ask(), 250);
    this.form.addEventListener("input", () => {
      this.idempotencyKey = null; // a changed order is a new order
      this.syncLimitField();
      this.showHint();
      later();
    });
    this.form.addEventListener("change", () => later());
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.place();
    });
    this.syncLimitField();
  }

  use(symbol) {
    this.symbol.value = symbol;
    this.showHint();
    this.quantity.focus();
    this.ask();
  }

  syncLimitField() {
    byId("t-limit-field").hidden = this.orderType.value !== "limit";
  }

  showHint() {
    const stock = this.stocks().get(this.symbol.value.trim().toUpperCase());
    this.hint.textContent = stock ? `${stock.name} · last ${money(stock.lastPrice)}` : "";
  }

  body() {
    const body = {
      stockSymbol: this.symbol.value.trim().toUpperCase(),
      quantity: typedNumber(this.quantity.value),
      tradeType: this.side.value,
      orderType: this.orderType.value,
      timeInForce: this.tif.value,
    };
    if (this.orderType.value === "limit") body.limitPrice = typedNumber(this.limitPrice.value);
    return body;
  }

  showErrors(byField) {
    for (const id of [...Object.values(FIELDS), "t-error"]) {
      const input = byId(id);
      const message = byField[id] || "";
      const holder = id === "t-error" ? input : byId(`${id}-error`);
      holder.textContent = message;
      if (id === "t-error") continue;
      if (message) input.setAttribute("aria-invalid", "true");
      else input.removeAttribute("aria-invalid");
    }
  }

  complete() {
    return this.symbol.value.trim() && this.quantity.value.trim() &&
      (this.orderType.value !== "limit" || this.limitPrice.value.trim());
  }

  /** Preview the order as it stands; returns {ok, body} for the order previewed (null: not answered). */
  async ask() {
    if (!this.complete()) {
      this.previewed = null;
      this.preview.replaceChildren();
      this.showErrors({});
      return null;
    }
    const body = this.body();
    const asked = ++this.asked;
    let answer;
    try {
      answer = await this.api.post("/trade/preview", body);
    } catch (error) {
      if (asked !== this.asked) return null;
      if (error instanceof ApiError) {
        this.previewed = { key: JSON.stringify(body), ok: false };
        this.preview.replaceChildren();
        this.showErrors(errorsByField(error));
        return this.previewed;
      }
      this.previewed = null;
      return null; // no answer: Place order will ask the API itself
    }
    if (asked !== this.asked) return null; // the user has typed on: a newer preview is coming
    this.previewed = { key: JSON.stringify(body), ok: answer.ok };
    this.showErrors(answer.error ? errorsByField(answer.error) : {});
    this.preview.replaceChildren(...this.describe(body, answer));
    return this.previewed;
  }

  describe(body, answer) {
    const lines = [];
    if (answer.estimatedCost !== null) {
      const word = body.tradeType === "sell" ? "Estimated proceeds" : "Estimated cost";
      lines.push(h("p", {}, `${word}: ${money(answer.estimatedCost)}`));
    }
    if (answer.holdAmount !== null) lines.push(h("p", {}, `Holds ${money(answer.holdAmount)} of your cash ` +
      `(${money(answer.available)} available)`));
    if (answer.heldShares !== null) lines.push(h("p", {}, `Holds ${shares(answer.heldShares)} shares`));
    if (answer.ok) lines.push(h("p", { class: "ok" }, "Ready to place."));
    return lines;
  }

  async place() {
    const body = this.body();
    const key = JSON.stringify(body);
    if (!this.complete()) {
      const missing = !this.symbol.value.trim() ? "t-symbol" : !this.quantity.value.trim() ? "t-quantity" : "t-limit-price";
      this.showErrors({ [missing]: "Fill this in to place an order" });
      byId(missing).focus();
      return;
    }
    const previewed = this.previewed && this.previewed.key === key ? this.previewed : await this.ask();
    if (previewed && !previewed.ok) return this.focusFirstError(); // the API would refuse it: nothing is sent
    this.idempotencyKey ||= crypto.randomUUID(); // a retry of this order cannot place it twice
    try {
      const trade = await this.api.post("/trade/place", body, { headers: { "Idempotency-Key": this.idempotencyKey } });
      this.idempotencyKey = null;
      this.quantity.value = "";
      this.previewed = null;
      this.showErrors({});
      this.preview.replaceChildren(h("p", { class: "ok" },
        `Placed: ${describeOrder(trade)} (${(STATUS_NAMES[trade.status] || trade.status).toLowerCase()})`));
    } catch (error) {
      if (error instanceof ApiError) {
        this.showErrors(errorsByField(error));
        this.focusFirstError();
      } else {
        this.showErrors({ "t-error": error instanceof NetworkError
          ? "The order could not be sent: no connection. Try again; it will not be placed twice." : error.message });
      }
    }
  }

  focusFirstError() {
    const invalid = this.form.querySelector('[aria-invalid="true"]');
    if (invalid) invalid.focus();
  }
}
