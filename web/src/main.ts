// The terminal's composition root: config and markets from the gateway, one WebSocket to
// the feed bridge, and the views. Performance marks: `trademesh:ws-open`,
// `trademesh:book-live` (the first drawn snapshot); figures in `window.__trademesh.metrics`.

import "./styles.css";
import { Api, type Candle, type Market, type Trade } from "./api.js";
import { h } from "./dom.js";
import { Feed, type FeedState } from "./feed.js";
import type { DepthMessage } from "./orderbook.js";
import { Bus, type Ctx, type Metrics } from "./state.js";
import { mountAccount } from "./views/account.js";
import { mountBook } from "./views/book.js";
import { type Interval, mountChart } from "./views/chart.js";
import { mountMarkets } from "./views/markets.js";
import { mountNotices, notify } from "./views/notices.js";
import { mountOrderForm } from "./views/orderform.js";
import { mountSession } from "./views/session.js";
import { mountTrades } from "./views/trades.js";

const marketChannels = (symbol: string, interval: Interval) =>
  [`depth@${symbol}`, `trades@${symbol}`, `kline_${interval}@${symbol}`];

async function main(): Promise<void> {
  const metrics: Metrics = {
    loadStart: performance.now(), wsOpenMs: null, bookLiveMs: null, depthSnapshots: 0,
    depthDiffs: 0, depthGaps: 0, bookRenders: 0, bookWorkMs: 0, feedConnects: 0,
  };
  const api = new Api();
  const marketsLoading = api.get<Market[]>("/markets");
  const config = await fetch("/config.json").then((r) => r.json() as Promise<{ wsUrl: string }>);
  const wanted = decodeURIComponent(location.hash.slice(1));

  // The WebSocket opens while the markets load; its messages wait in `early` until the
  // views exist (then `late` points at them).
  const early: [string, Record<string, unknown>][] = [];
  const late: {
    data: (stream: string, data: Record<string, unknown>) => void;
    state: (state: FeedState, detail: string) => void;
    reopened: () => void;
  } = { data: (stream, data) => void early.push([stream, data]), state: () => {}, reopened: () => {} };
  const feed = new Feed(config.wsUrl, (s, d) => late.data(s, d), (s, d) => late.state(s, d), () => {
    metrics.feedConnects += 1;
    if (metrics.wsOpenMs === null) {
      metrics.wsOpenMs = performance.now();
      performance.mark("trademesh:ws-open");
    } else late.reopened();
  });
  if (wanted) feed.subscribe(marketChannels(wanted, "1m"));
  feed.start();
  const markets = await marketsLoading;
  const bus = new Bus();
  const ctx = {
    api, bus, markets, metrics, email: "", marks: new Map<string, string>(),
    market: markets.find((m) => m.symbol === wanted) ?? markets.find((m) => m.kind === "PERP") ?? markets[0],
    feed,
  } as Ctx;
  if (wanted && wanted !== ctx.market.symbol) feed.unsubscribe(marketChannels(wanted, "1m"));

  const book = mountBook(ctx);
  const trades = mountTrades(ctx);
  const chart = mountChart(ctx, (from, to) => {
    ctx.feed.unsubscribe([`kline_${from}@${ctx.market.symbol}`]);
    ctx.feed.subscribe([`kline_${to}@${ctx.market.symbol}`]);
  });

  const onData = (stream: string, data: Record<string, unknown>) => {
    if (stream === "user") return bus.emit("user", data);
    const [kind, market] = stream.split("@");
    if (kind === "depth") book.onDepth(market, data as unknown as DepthMessage);
    else if (kind === "trades") trades.onTrade(market, data as unknown as Trade);
    else if (kind === "ticker") bus.emit("ticker", data);
    else if (kind === "mark" && typeof data["markPrice"] === "string" && data["markPrice"]) {
      ctx.marks.set(market, data["markPrice"]);
      bus.emit("mark", { market, price: data["markPrice"] });
    } else if (kind.startsWith("kline_")) chart.onCandle(market, kind.slice(6), data as unknown as Candle);
  };
  const conn = document.getElementById("conn")!;
  const onState = (state: FeedState, detail: string) => {
    conn.className = `conn ${state}`;
    conn.textContent = state === "open" ? "Live" : state === "down" ? "Disconnected — reconnecting…" : "Connecting…";
    conn.title = detail;
    if (state === "down") book.stale();
  };
  late.state = onState;
  late.reopened = () => {
    void trades.load(ctx.market.symbol); // what was missed while down
    bus.emit("user", {});
  };
  late.data = onData;
  early.splice(0).forEach(([stream, data]) => onData(stream, data));
  onState(feed.state, "");
  feed.subscribe([
    ...marketChannels(ctx.market.symbol, chart.interval()),
    ...markets.map((m) => `ticker@${m.symbol}`),
    ...markets.filter((m) => m.kind === "PERP").map((m) => `mark@${m.symbol}`),
  ]);

  const select = (market: Market) => {
    if (market.symbol === ctx.market.symbol) return;
    ctx.feed.unsubscribe(marketChannels(ctx.market.symbol, chart.interval()));
    ctx.market = market;
    history.replaceState(null, "", `#${market.symbol}`);
    book.reset();
    ctx.feed.subscribe(marketChannels(market.symbol, chart.interval()));
    bus.emit("market", market);
    void trades.load(market.symbol);
    void chart.load(market.symbol);
  };
  mountMarkets(ctx, select);
  mountNotices(ctx);

  const entry = document.getElementById("entry")!;
  const authBox = h("div", {});
  const orderBox = h("div", {});
  entry.append(h("h2", {}, "Order entry"), authBox, orderBox);
  mountOrderForm(ctx, orderBox);
  mountAccount(ctx);
  mountSession(ctx, authBox, (signedIn) => { orderBox.hidden = !signedIn; });
  bus.emit("market", ctx.market);
  void trades.load(ctx.market.symbol);
  void chart.load(ctx.market.symbol);

  Object.assign(window, {
    __trademesh: {
      metrics,
      dropSocket: () => ctx.feed.drop(),
      loseNextDiff: () => book.loseNextDiff(),
      feedState: () => ctx.feed.state,
    },
  });
}

main().catch((err: unknown) => {
  notify("error", `The terminal could not start: ${(err as Error).message}`);
  console.error(err);
});
