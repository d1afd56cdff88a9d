// The market list with live tickers (`ticker@M`), and the selected market's ticker bar.

import type { Market } from "../api.js";
import { dash, h } from "../dom.js";
import { dec, toNumber } from "../decimal.js";
import type { Ctx } from "../state.js";

interface Ticker {
  market?: string;
  last?: string;
  bestBid?: string;
  bestAsk?: string;
  high24h?: string;
  low24h?: string;
  volume24h?: string;
  change24h?: string;
  markPrice?: string;
  indexPrice?: string;
  fundingRate?: string;
}

export function changePercent(t: Ticker): string {
  if (!t.last || !t.change24h) return "";
  const last = toNumber(dec(t.last));
  const change = toNumber(dec(t.change24h));
  const open = last - change;
  return open > 0 ? `${((change / open) * 100).toFixed(2)}%` : "";
}

export function mountMarkets(ctx: Ctx, select: (m: Market) => void): void {
  const nav = document.getElementById("markets")!;
  const tickers = new Map<string, Ticker>();
  const rows = new Map<string, HTMLButtonElement>();
  const list = h("ul", {});
  for (const market of ctx.markets) {
    const button = h("button", { type: "button", "data-market": market.symbol },
      h("span", { class: "m-sym" }, market.symbol), h("span", { class: "m-last num" }, "—"),
      h("span", { class: "m-kind" }, market.kind === "PERP" ? "perpetual" : "spot"),
      h("span", { class: "m-chg num" }, ""));
    button.addEventListener("click", () => select(market));
    rows.set(market.symbol, button);
    list.append(h("li", {}, button));
  }
  nav.append(h("h2", {}, "Markets"), list);

  const paintRow = (symbol: string) => {
    const t = tickers.get(symbol) ?? {};
    const row = rows.get(symbol);
    if (!row) return;
    row.querySelector(".m-last")!.textContent = dash(t.last || t.markPrice);
    const chg = row.querySelector(".m-chg")!;
    chg.textContent = changePercent(t);
    chg.className = `m-chg num ${t.change24h?.startsWith("-") ? "down" : "up"}`;
  };
  const paintBar = () => paintTickerBar(ctx.market, tickers.get(ctx.market.symbol) ?? {});

  ctx.bus.on("ticker", (data) => {
    const t = data as Ticker;
    if (!t.market) return;
    tickers.set(t.market, { ...tickers.get(t.market), ...t });
    paintRow(t.market);
    if (t.market === ctx.market.symbol) paintBar();
  });
  ctx.bus.on("market", (market) => {
    for (const [symbol, row] of rows) row.setAttribute("aria-current", String(symbol === market.symbol));
    paintBar();
  });
}

function paintTickerBar(market: Market, t: Ticker): void {
  const bar = document.getElementById("ticker-bar")!;
  const stat = (label: string, value: string | undefined, cls = "") =>
    h("span", {}, h("span", { class: "lbl" }, label), h("span", { class: `num ${cls}` }, dash(value)));
  const down = t.change24h?.startsWith("-");
  const items = [
    h("span", { class: "sym" }, market.symbol),
    h("span", { class: `last num ${down ? "down" : "up"}`, "data-testid": "last" }, dash(t.last)),
    stat("24h change", [t.change24h, changePercent(t) && `(${changePercent(t)})`].filter(Boolean).join(" "), down ? "down" : "up"),
    stat("24h high", t.high24h),
    stat("24h low", t.low24h),
    stat(`24h volume (${market.baseAsset})`, t.volume24h),
  ];
  if (market.kind === "PERP") {
    items.push(stat("Mark", t.markPrice), stat("Index", t.indexPrice), stat("Funding", t.fundingRate));
  }
  bar.replaceChildren(...items);
}
