// The trades tape from `trades@M` (with the recent trades from REST to start with).

import type { Trade } from "../api.js";
import { h, perFrame, timeText } from "../dom.js";
import type { Ctx } from "../state.js";

const KEPT = 40;

export interface TradesView {
  onTrade(market: string, trade: Trade): void;
  load(market: string): Promise<void>;
}

export function mountTrades(ctx: Ctx): TradesView {
  const panel = document.getElementById("trades")!;
  const tape = h("div", { class: "tape", "data-testid": "tape", role: "table", "aria-label": "Recent trades" });
  panel.append(h("h2", {}, "Trades"), h("div", { class: "tape-head", role: "row" },
    h("span", { role: "columnheader" }, "Price"), h("span", { role: "columnheader" }, "Size"),
    h("span", { role: "columnheader" }, "Time")), tape);
  let trades: Trade[] = [];
  const draw = perFrame(() => {
    tape.replaceChildren(...trades.map((t) =>
      h("div", { class: `tape-row ${t.takerSide === "SELL" ? "sell" : "buy"}`, role: "row" },
        h("span", { class: "px", role: "cell" }, t.price), h("span", { role: "cell" }, t.quantity),
        h("span", { class: "muted", role: "cell" }, timeText(t.time)))));
  });
  return {
    onTrade(market, trade) {
      if (market !== ctx.market.symbol) return;
      if (trades.some((t) => t.tradeId === trade.tradeId)) return;
      trades = [trade, ...trades].slice(0, KEPT);
      draw();
    },
    async load(market) {
      trades = [];
      draw();
      try {
        const recent = await ctx.api.get<Trade[]>(`/markets/${market}/trades`);
        if (market !== ctx.market.symbol) return;
        const known = new Set(trades.map((t) => t.tradeId));
        trades = [...trades, ...recent.filter((t) => !known.has(t.tradeId))]
          .sort((a, b) => Number(BigInt(b.tradeId) - BigInt(a.tradeId))).slice(0, KEPT);
        draw();
      } catch {
        /* the live tape still fills */
      }
    },
  };
}
