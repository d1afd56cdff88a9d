// Order entry: limit/market, time in force, post-only, reduce-only, leverage, isolated margin, stop-loss /
// take-profit. A market order is quoted first (`POST /orders/quote`: average and worst price,
// slippage from the best price) and placed on a second, confirming press. The API's field
// violations are shown on their fields; anything else above the button.

import type { Order, Quote } from "../api.js";
import { h } from "../dom.js";
import { dec, toNumber } from "../decimal.js";
import { ApiError } from "../errors.js";
import type { Ctx } from "../state.js";
import { notify } from "./notices.js";
import { mountOrderInfo } from "./orderinfo.js";

type Side = "BUY" | "SELL";
type Kind = "LIMIT" | "MARKET";

const FIELDS = ["price", "quantity", "timeInForce", "leverage", "slippageBps", "stopLoss", "takeProfit"] as const;
type FieldName = (typeof FIELDS)[number];

export function mountOrderForm(ctx: Ctx, host: HTMLElement): void {
  let side: Side = "BUY";
  let kind: Kind = "LIMIT";
  let confirmed: Quote | null = null;
  const inputs = new Map<FieldName, HTMLInputElement | HTMLSelectElement>();
  const errors = new Map<FieldName, HTMLElement>();

  const field = (name: FieldName, label: string, control: HTMLInputElement | HTMLSelectElement) => {
    control.id = `f-${name}`;
    control.name = name;
    const error = h("p", { class: "field-error", id: `f-${name}-error`, "data-testid": `error-${name}` });
    control.setAttribute("aria-describedby", error.id);
    inputs.set(name, control);
    errors.set(name, error);
    return h("div", { class: "field", id: `f-${name}-field` }, h("label", { for: control.id }, label), control, error);
  };
  const text = (placeholder = "") => h("input", { type: "text", inputmode: "decimal", autocomplete: "off", placeholder });
  const segment = <T extends string>(values: [T, string, string][], pick: (v: T) => void, label: string) => {
    const buttons = values.map(([value, caption, cls]) =>
      h("button", { type: "button", class: cls, "data-value": value, "aria-pressed": "false" }, caption));
    buttons.forEach((b) => b.addEventListener("click", () => {
      buttons.forEach((x) => x.setAttribute("aria-pressed", String(x === b)));
      pick(b.dataset["value"] as T);
    }));
    buttons[0].setAttribute("aria-pressed", "true");
    return h("div", { class: "seg", role: "group", "aria-label": label }, ...buttons);
  };

  const tif = h("select", {}, ...["GTC", "IOC", "FOK"].map((v) => h("option", { value: v }, v)));
  const leverage = h("input", { type: "number", min: "1", step: "1", value: "1" });
  const slippage = h("input", { type: "number", min: "0", step: "1", value: "50" });
  const postOnly = h("input", { type: "checkbox", id: "f-postOnly" });
  const reduceOnly = h("input", { type: "checkbox", id: "f-reduceOnly" });
  const isolated = h("input", { type: "checkbox", id: "f-isolated" });
  const quoteBox = h("dl", { class: "quote", "data-testid": "quote", hidden: true });
  const formError = h("p", { class: "form-error", role: "alert", "data-testid": "form-error" });
  const info = mountOrderInfo(ctx, () => ({
    side, price: kind === "LIMIT" ? inputs.get("price")!.value.trim() : "",
    quantity: inputs.get("quantity")!.value.trim(), leverage: ctx.market.kind === "PERP" ? Number(leverage.value || "1") : 1,
  }));
  const submit = h("button", { type: "submit", class: "submit buy", "data-testid": "submit" }, "Buy");

  const priceRow = field("price", "Price", text());
  const quantityRow = field("quantity", "Quantity", text());
  const shares = h("div", { class: "shares", role: "group", "aria-label": "Quantity from what is available" },
    ...[25, 50, 75, 100].map((pct) => {
      const b = h("button", { type: "button", "data-pct": String(pct) }, `${pct}%`);
      b.addEventListener("click", () => {
        const price = kind === "LIMIT" ? value("price") : bestPrice(side);
        const quantity = info.quantityFor(pct, price);
        inputs.get("quantity")!.value = quantity;
        formError.textContent = quantity ? "" : kind === "LIMIT" && !price ? "Enter a price first." : "Nothing available for that.";
        info.update();
        if (confirmed) refresh();
      });
      return b;
    }));
  const tifRow = field("timeInForce", "Time in force", tif);
  const perpRows = h("div", { class: "perp-only", style: "display:grid;gap:8px" },
    field("leverage", "Leverage", leverage),
    h("label", { class: "check", title: "A position of its own, backed only by this order's margin" }, isolated, "Isolated margin"),
    h("div", { class: "row2" }, field("stopLoss", "Stop-loss", text("optional")), field("takeProfit", "Take-profit", text("optional"))));
  const slippageRow = field("slippageBps", "Max slippage (bps)", slippage);
  const limitOnly = h("div", { class: "row2" }, h("label", { class: "check" }, postOnly, "Post-only"),
    h("label", { class: "check", id: "reduce-label" }, reduceOnly, "Reduce-only"));

  const form = h("form", { class: "order", id: "order-form", "aria-label": "Place an order", novalidate: true },
    segment<Side>([["BUY", "Buy", "buy"], ["SELL", "Sell", "sell"]], (v) => { side = v; refresh(); }, "Side"),
    segment<Kind>([["LIMIT", "Limit", "plain"], ["MARKET", "Market", "plain"]], (v) => { kind = v; refresh(); }, "Order type"),
    priceRow, quantityRow, shares, tifRow, slippageRow, limitOnly, perpRows, info.element, quoteBox, formError, submit);
  host.replaceChildren(form);

  const value = (name: FieldName) => inputs.get(name)!.value.trim();
  const clearErrors = () => {
    for (const [name, el] of errors) {
      el.textContent = "";
      inputs.get(name)!.removeAttribute("aria-invalid");
    }
    formError.textContent = "";
  };
  const refresh = () => {
    const m = ctx.market;
    const perp = m.kind === "PERP";
    priceRow.hidden = kind === "MARKET";
    tifRow.hidden = kind === "MARKET";
    slippageRow.hidden = kind === "LIMIT";
    postOnly.disabled = kind === "MARKET";
    perpRows.hidden = !perp;
    reduceOnly.disabled = !perp;
    leverage.max = String(m.maxLeverage ?? 1);
    inputs.get("price")!.setAttribute("placeholder", `tick ${m.tickSize}`);
    inputs.get("quantity")!.setAttribute("placeholder", `lot ${m.lotSize} ${m.baseAsset}`);
    submit.className = `submit ${side === "BUY" ? "buy" : "sell"}`;
    confirmed = null;
    quoteBox.hidden = true;
    submit.textContent = `${kind === "MARKET" ? "Quote " : ""}${side === "BUY" ? "Buy" : "Sell"} ${m.baseAsset}`;
    info.update();
  };

  const body = (): Record<string, unknown> => {
    const m = ctx.market;
    const order: Record<string, unknown> = { market: m.symbol, side, type: kind, quantity: value("quantity") };
    if (kind === "LIMIT") {
      order["price"] = value("price");
      order["timeInForce"] = value("timeInForce");
      if (postOnly.checked) order["postOnly"] = true;
    } else {
      order["slippageBps"] = Number(value("slippageBps") || "0");
    }
    if (m.kind === "PERP") {
      order["leverage"] = Number(value("leverage") || "1");
      if (reduceOnly.checked) order["reduceOnly"] = true;
      if (isolated.checked) order["marginMode"] = "ISOLATED";
      if (value("stopLoss")) order["stopLoss"] = value("stopLoss");
      if (value("takeProfit")) order["takeProfit"] = value("takeProfit");
    }
    return order;
  };

  const showError = (err: unknown) => {
    if (!(err instanceof ApiError)) {
      formError.textContent = String(err);
      return;
    }
    let placed = false;
    for (const [name, description] of err.fieldErrors()) {
      const target = errors.get(name as FieldName);
      const control = inputs.get(name as FieldName);
      if (!target || !control || control.closest("[hidden]")) continue;
      target.textContent = description;
      control.setAttribute("aria-invalid", "true");
      if (!placed) control.focus();
      placed = true;
    }
    if (!placed) formError.textContent = err.message;
  };

  const quote = async (): Promise<Quote> => {
    const q = await ctx.api.post<Quote>("/orders/quote", { market: ctx.market.symbol, side, quantity: value("quantity") });
    const best = bestPrice(side);
    const slip = best ? slippageBps(q.averagePrice, best, side) : "";
    quoteBox.replaceChildren(
      h("dt", {}, "Average price"), h("dd", { class: "num" }, q.averagePrice || "—"),
      h("dt", {}, "Worst price"), h("dd", { class: "num" }, q.worstPrice || "—"),
      h("dt", {}, "Fillable"), h("dd", { class: "num" }, `${q.fillableQuantity} ${ctx.market.baseAsset}`),
      h("dt", {}, "Notional"), h("dd", { class: "num" }, `${q.notional} ${ctx.market.quoteAsset}`),
      h("dt", {}, "Slippage"), h("dd", { class: "num", "data-testid": "slippage" }, slip ? `${slip} bps` : "—"));
    quoteBox.hidden = false;
    return q;
  };

  form.addEventListener("input", () => {
    info.update();
    if (confirmed) refresh();
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!ctx.api.token) {
      formError.textContent = "Sign in to trade.";
      return;
    }
    clearErrors();
    submit.disabled = true;
    try {
      if (kind === "MARKET" && !confirmed) {
        confirmed = await quote();
        submit.textContent = `Confirm market ${side === "BUY" ? "buy" : "sell"}`;
        return;
      }
      const order = await ctx.api.post<Order>("/orders", body());
      const done = order.status === "REJECTED" ? `rejected: ${order.reason}` : order.status.toLowerCase().replace("_", " ");
      notify("info", `Order ${order.orderId} ${order.side} ${order.quantity} ${order.market}: ${done}`);
      refresh();
      ctx.bus.emit("user", {});
    } catch (err) {
      confirmed = null;
      showError(err);
    } finally {
      submit.disabled = false;
    }
  });

  ctx.bus.on("market", () => { clearErrors(); refresh(); });
  ctx.bus.on("pickPrice", (price) => {
    const input = inputs.get("price")!;
    input.value = price;
    input.focus();
    info.update();
  });
  refresh();

  function bestPrice(s: Side): string {
    const rows = document.querySelectorAll<HTMLElement>(s === "BUY" ? "[data-testid=asks] .book-row[data-price]" : "[data-testid=bids] .book-row[data-price]");
    const row = s === "BUY" ? rows[rows.length - 1] : rows[0];
    return row?.dataset["price"] ?? "";
  }
}

/** How far ``average`` is from ``best`` against the taker, in basis points (display). */
export function slippageBps(average: string, best: string, side: Side): string {
  const a = toNumber(dec(average));
  const b = toNumber(dec(best));
  if (!a || !b) return "";
  const bps = ((side === "BUY" ? a - b : b - a) / b) * 10_000;
  return bps.toFixed(1);
}
