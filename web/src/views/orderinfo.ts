// Beside the order form: what the trader has to spend (balances, reloaded when the `user`
// channel says they changed) and what the order would cost (value, and margin on a perp),
// computed exactly from the decimal strings.

import type { Balance, Market } from "../api.js";
import { h } from "../dom.js";
import { type Dec, format, lotsFor, mul, parseDec, placesOf } from "../decimal.js";
import type { Ctx } from "../state.js";

export interface Draft {
  side: "BUY" | "SELL";
  price: string; // "" for a market order
  quantity: string;
  leverage: number;
}

const RELOAD_MS = 150;

/** ``value`` / ``divisor`` rounded down to ``places`` decimals. */
function divide(value: Dec, divisor: number, places: number): string {
  const scaled = value.units * 10n ** BigInt(Math.max(0, places - value.scale));
  const scale = Math.max(places, value.scale);
  return format({ units: scaled / BigInt(Math.max(1, divisor)), scale }, places);
}

export interface OrderInfo {
  element: HTMLElement;
  update(): void;
  /** The quantity that spends ``percent`` of what is available (fees kept aside). */
  quantityFor(percent: number, price: string): string;
}

export function mountOrderInfo(ctx: Ctx, draft: () => Draft): OrderInfo {
  const available = h("dd", { class: "num", "data-testid": "available" }, "—");
  const value = h("dd", { class: "num", "data-testid": "order-value" }, "—");
  const margin = h("dd", { class: "num", "data-testid": "order-margin" }, "—");
  const marginRow = [h("dt", {}, "Margin"), margin];
  const element = h("dl", { class: "quote info" }, h("dt", {}, "Available"), available,
    h("dt", {}, "Order value"), value, ...marginRow);
  let balances: Balance[] = [];

  const spending = (m: Market, side: Draft["side"]) => (m.kind === "SPOT" && side === "SELL" ? m.baseAsset : m.quoteAsset);
  const update = () => {
    const m = ctx.market;
    const d = draft();
    const asset = spending(m, d.side);
    const held = balances.find((b) => b.asset === asset);
    available.textContent = ctx.api.token ? `${held?.available ?? "0"} ${asset}` : "—";
    const price = parseDec(d.price);
    const quantity = parseDec(d.quantity);
    const places = Math.max(2, placesOf(m.tickSize));
    const notional = price && quantity ? mul(price, quantity) : null;
    value.textContent = notional ? `${format(notional, places)} ${m.quoteAsset}` : "—";
    marginRow.forEach((el) => { el.hidden = m.kind !== "PERP"; });
    margin.textContent = notional ? `${divide(notional, d.leverage, places)} ${m.quoteAsset}` : "—";
  };

  let timer: number | undefined;
  const reload = () => {
    window.clearTimeout(timer);
    timer = window.setTimeout(async () => {
      if (!ctx.api.token) {
        balances = [];
        return update();
      }
      balances = await ctx.api.get<Balance[]>("/account/balances").catch(() => balances);
      update();
    }, RELOAD_MS);
  };
  ctx.bus.on("user", reload);
  ctx.bus.on("session", reload);
  ctx.bus.on("market", update);
  // margin (or cost) plus the taker fee must fit: notional * (1/lev + fee) <= share, so
  // notional <= share * lev / (1 + fee * lev), in exact integers
  const quantityFor = (percent: number, priceText: string): string => {
    const m = ctx.market;
    const d = draft();
    const held = parseDec(balances.find((b) => b.asset === spending(m, d.side))?.available ?? "0");
    if (!held) return "";
    const share = mul(held, { units: BigInt(percent), scale: 2 });
    if (m.kind === "SPOT" && d.side === "SELL") return lotsFor(share, { units: 1n, scale: 0 }, m.lotSize);
    const price = parseDec(priceText);
    if (!price) return "";
    const lev = BigInt(m.kind === "PERP" ? Math.max(1, d.leverage) : 1);
    const budget = mul(share, { units: lev * 10_000n, scale: 0 });
    const scaled = mul(price, { units: 10_000n + BigInt(m.takerFeeBps ?? 0) * lev, scale: 0 });
    return lotsFor(budget, scaled, m.lotSize);
  };
  return { element, update, quantityFor };
}
