// The market list with live tickers (`ticker@M`), and the selected market's ticker bar.

import type { Market } from "../api.js";
import { dash, h, perFrame } from "../dom.js";
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

  // tickers come with every change of a best price: painted at most once a frame
  const changed = new Set<string>();
  const paint = perFrame(() => {
    for (const symbol of changed) paintRow(symbol);
    if (changed.has(ctx.market.symbol)) paintBar();
    changed.clear();
  });
  ctx.bus.on("ticker", (data) => {
    const t = data as Ticker;
    if (!t.market) return;
    tickers.set(t.market, { ...tickers.get(t.market), ...t });
    changed.add(t.market);
    paint();
  });
  ctx.bus.on("market", (market) => {
    for (const [symbol, row] of rows) row.setAttribute("aria-current", String(symbol === market.symbol));
    paintBar();
  });
}

/** The ticker bar: built once per market, then only its numbers change. */
function paintTickerBar(market: Market, t: Ticker): void {
  const bar = document.getElementById("ticker-bar")!;
  if (bar.dataset["market"] !== market.symbol) {
    const stat = (label: string, key: string, optional = true) =>
      h("span", { class: optional ? "opt" : "" }, h("span", { class: "lbl" }, label), h("span", { class: "num", "data-k": key }, "—"));
    const items = [
      h("span", { class: "sym" }, market.symbol),
      h("span", { class: "last num", "data-k": "last", "data-testid": "last" }, "—"),
      stat("24h change", "change", false), stat("24h high", "high24h"), stat("24h low", "low24h"),
      stat(`24h volume (${market.baseAsset})`, "volume24h"),
    ];
    if (market.kind === "PERP") items.push(stat("Mark", "markPrice", false), stat("Index", "indexPrice"), stat("Funding", "fundingRate"));
    bar.replaceChildren(...items);
    bar.dataset["market"] = market.symbol;
  }
  const direction = t.change24h?.startsWith("-") ? "down" : "up";
  const price = t.last || t.markPrice;
  document.title = price ? `${price} ${market.symbol} · trademesh` : `${market.symbol} · trademesh`;
  const values: Record<string, string> = {
    last: dash(t.last),
    change: dash([t.change24h, changePercent(t) && `(${changePercent(t)})`].filter(Boolean).join(" ")),
    high24h: dash(t.high24h), low24h: dash(t.low24h), volume24h: dash(t.volume24h),
    markPrice: dash(t.markPrice), indexPrice: dash(t.indexPrice), fundingRate: dash(t.fundingRate),
  };
  for (const el of bar.querySelectorAll<HTMLElement>("[data-k]")) {
    const key = el.dataset["k"]!;
    if (el.textContent !== values[key]) el.textContent = values[key];
    if (key === "last" || key === "change") el.className = `${key === "last" ? "last " : ""}num ${direction}`;
  }
}
