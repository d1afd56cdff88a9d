// The candlestick chart: REST history for the interval, then `kline_<interval>@M` live.
// lightweight-charts loads after the first paint (its own chunk): the book comes first.

import type { IChartApi, ISeriesApi, UTCTimestamp } from "lightweight-charts";
import type { Candle } from "../api.js";
import { h } from "../dom.js";
import { dec, toNumber } from "../decimal.js";
import type { Ctx } from "../state.js";

export const INTERVALS = ["1m", "5m", "15m", "1h", "4h", "1d"] as const;
export type Interval = (typeof INTERVALS)[number];

export interface ChartView {
  interval(): Interval;
  onCandle(market: string, interval: string, candle: Candle): void;
  load(market: string): Promise<void>;
}

interface Series {
  chart: IChartApi;
  candles: ISeriesApi<"Candlestick">;
  volume: ISeriesApi<"Histogram">;
}

const seconds = (iso: string) => Math.floor(new Date(iso).getTime() / 1000) as UTCTimestamp;
const num = (text: string) => toNumber(dec(text));

export function mountChart(ctx: Ctx, changeInterval: (from: Interval, to: Interval) => void): ChartView {
  const panel = document.getElementById("chart-panel")!;
  let current: Interval = "1m";
  const buttons = INTERVALS.map((iv) => {
    const b = h("button", { type: "button", "aria-pressed": String(iv === current), "data-interval": iv }, iv);
    b.addEventListener("click", () => {
      if (iv === current) return;
      const from = current;
      current = iv;
      buttons.forEach((x) => x.setAttribute("aria-pressed", String(x.dataset["interval"] === iv)));
      changeInterval(from, iv);
      void view.load(ctx.market.symbol);
    });
    return b;
  });
  const host = h("div", { class: "chart", "data-testid": "chart", role: "img", "aria-label": "Candlestick chart" });
  const empty = h("p", { class: "chart-empty muted", hidden: true }, "No trades yet: candles appear with the first trade.");
  host.append(empty);
  panel.append(h("h2", {}, "Chart", h("span", { class: "intervals", role: "group", "aria-label": "Interval" }, ...buttons)), host);

  let series: Series | null = null;
  const ready = import("lightweight-charts").then((lib) => {
    const chart = lib.createChart(host, {
      autoSize: true,
      layout: { background: { color: "#121821" }, textColor: "#8593a6" },
      grid: { vertLines: { color: "#1b2431" }, horzLines: { color: "#1b2431" } },
      timeScale: { timeVisible: true, secondsVisible: false, borderColor: "#243041", barSpacing: 8, rightOffset: 8 },
      rightPriceScale: { borderColor: "#243041" },
    });
    const candles = chart.addSeries(lib.CandlestickSeries, {
      upColor: "#2ebd85", downColor: "#f6465d", borderVisible: false,
      wickUpColor: "#2ebd85", wickDownColor: "#f6465d",
    });
    const volume = chart.addSeries(lib.HistogramSeries, {
      priceFormat: { type: "volume" }, priceScaleId: "", lastValueVisible: false, priceLineVisible: false,
    });
    volume.priceScale().applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
    series = { chart, candles, volume };
  });

  const bar = (c: Candle) => ({ time: seconds(c.openTime), open: num(c.open), high: num(c.high), low: num(c.low), close: num(c.close) });
  const vol = (c: Candle) => ({
    time: seconds(c.openTime), value: num(c.volume),
    color: num(c.close) >= num(c.open) ? "rgba(46,189,133,.4)" : "rgba(246,70,93,.4)",
  });
  let lastTime = 0;

  const view: ChartView = {
    interval: () => current,
    onCandle(market, interval, candle) {
      if (!series || market !== ctx.market.symbol || interval !== current) return;
      const t = seconds(candle.openTime);
      if (t < lastTime) return;
      lastTime = t;
      empty.hidden = true;
      series.candles.update(bar(candle));
      series.volume.update(vol(candle));
    },
    async load(market) {
      const wanted = current;
      const [history] = await Promise.all([
        ctx.api.get<Candle[]>(`/markets/${market}/candles?interval=${wanted}`).catch(() => [] as Candle[]),
        ready,
      ]);
      if (!series || market !== ctx.market.symbol || wanted !== current) return;
      const sorted = [...history].sort((a, b) => seconds(a.openTime) - seconds(b.openTime));
      series.candles.setData(sorted.map(bar));
      series.volume.setData(sorted.map(vol));
      lastTime = sorted.length ? seconds(sorted[sorted.length - 1].openTime) : 0;
      empty.hidden = sorted.length > 0;
      if (sorted.length > 30) series.chart.timeScale().fitContent();
      else series.chart.timeScale().scrollToRealTime();
    },
  };
  return view;
}
