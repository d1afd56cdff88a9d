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
import { type BookView, mountBook } from "./views/book.js";
import { type ChartView, type Interval, mountChart } from "./views/chart.js";
import { mountMarkets } from "./views/markets.js";
import { mountNotices, notify } from "./views/notices.js";
import { mountOrderForm } from "./views/orderform.js";
import { mountOwnOrders } from "./views/ownorders.js";
import { mountSession } from "./views/session.js";
import { mountTrades, type TradesView } from "./views/trades.js";
import { fetchJson, parseConfig, parseMarkets, untilLoaded } from "./startup.js";

type Data = Record<string, unknown>;

interface Views {
  book: BookView;
  trades: TradesView;
  chart: ChartView;
}

/** Where the feed's callbacks go: a queue until the views exist, then the views. */
interface Late {
  data: (stream: string, data: Data) => void;
  state: (state: FeedState, detail: string) => void;
  reopened: () => void;
}

const marketChannels = (symbol: string, interval: Interval) =>
  [`depth@${symbol}`, `trades@${symbol}`, `kline_${interval}@${symbol}`];

/** Opens the WebSocket at once (subscribing to ``wanted``'s channels when the URL names a
 * market), so it connects while the markets load; messages wait in ``early``. */
function openFeed(wsUrl: string, wanted: string, metrics: Metrics, early: [string, Data][]): [Feed, Late] {
  const late: Late = { data: (stream, data) => void early.push([stream, data]), state: () => {}, reopened: () => {} };
  const feed = new Feed(wsUrl, (s, d) => late.data(s, d), (s, d) => late.state(s, d), () => {
    metrics.feedConnects += 1;
    if (metrics.wsOpenMs === null) {
      metrics.wsOpenMs = performance.now();
      performance.mark("trademesh:ws-open");
    } else late.reopened();
  });
  if (wanted) feed.subscribe(marketChannels(wanted, "1m"));
  feed.start();
  return [feed, late];
}

/** One stream message to the view that shows it. */
function route(ctx: Ctx, views: Views, stream: string, data: Data): void {
  if (stream === "user") return ctx.bus.emit("user", data);
  const [kind, market] = stream.split("@");
  if (kind === "depth") views.book.onDepth(market, data as unknown as DepthMessage);
  else if (kind === "trades") views.trades.onTrade(market, data as unknown as Trade);
  else if (kind === "ticker") ctx.bus.emit("ticker", data);
  else if (kind === "mark" && typeof data["markPrice"] === "string" && data["markPrice"]) {
    ctx.marks.set(market, data["markPrice"]);
    ctx.bus.emit("mark", { market, price: data["markPrice"] });
  } else if (kind.startsWith("kline_")) views.chart.onCandle(market, kind.slice(6), data as unknown as Candle);
}

/** The connection badge, and the book marked stale while the connection is down. */
function showState(views: Views): (state: FeedState, detail: string) => void {
  const badge = document.getElementById("conn")!;
  return (state, detail) => {
    badge.className = `conn ${state}`;
    badge.textContent = state === "open" ? "Live" : state === "down" ? "Disconnected — reconnecting…" : "Connecting…";
    badge.title = detail;
    if (state === "down") views.book.stale();
  };
}

/** The start's problem (the exchange not answering, no markets) above the panels, or none. */
function showStartup(problem: string | null, waitMs: number): void {
  const banner = document.getElementById("startup")!;
  const text = problem === null ? "" : `${problem}; retrying…`;
  banner.hidden = problem === null;
  if (banner.textContent !== text) banner.textContent = text;
  banner.title = problem === null ? "" : `next try in ${Math.round(waitMs / 1000)} s`;
}

function mountViews(ctx: Ctx): Views {
  const chart = mountChart(ctx, (from, to) => {
    ctx.feed.unsubscribe([`kline_${from}@${ctx.market.symbol}`]);
    ctx.feed.subscribe([`kline_${to}@${ctx.market.symbol}`]);
  });
  const views = { book: mountBook(ctx), trades: mountTrades(ctx), chart };
  const select = (market: Market) => {
    if (market.symbol === ctx.market.symbol) return;
    ctx.feed.unsubscribe(marketChannels(ctx.market.symbol, chart.interval()));
    ctx.market = market;
    history.replaceState(null, "", `#${market.symbol}`);
    views.book.reset();
    ctx.feed.subscribe(marketChannels(market.symbol, chart.interval()));
    ctx.bus.emit("market", market);
    void views.trades.load(market.symbol);
    void chart.load(market.symbol);
  };
  mountMarkets(ctx, select);
  mountNotices(ctx);
  mountOwnOrders(ctx);
  const entry = document.getElementById("entry")!;
  const authBox = h("div", {});
  const orderBox = h("div", {});
  entry.prepend(h("h2", {}, "Order entry"), authBox, orderBox); // the notices stay below
  mountOrderForm(ctx, orderBox);
  mountAccount(ctx);
  mountSession(ctx, authBox, (signedIn) => { orderBox.hidden = !signedIn; });
  return views;
}

async function main(): Promise<void> {
  const metrics: Metrics = {
    loadStart: performance.now(), wsOpenMs: null, bookLiveMs: null, depthSnapshots: 0,
    depthDiffs: 0, depthGaps: 0, bookRenders: 0, bookWorkMs: 0, feedConnects: 0,
  };
  const api = new Api();
  const [config, markets] = await untilLoaded(
    () => Promise.all([fetchJson("/config.json").then(parseConfig), fetchJson(`${api.base}/markets`).then(parseMarkets)]),
    showStartup);
  const wanted = decodeURIComponent(location.hash.slice(1));
  const early: [string, Data][] = [];
  const [feed, late] = openFeed(config.wsUrl, wanted, metrics, early);
  const market = markets.find((m) => m.symbol === wanted) ?? markets.find((m) => m.kind === "PERP") ?? markets[0];
  const ctx: Ctx = { api, feed, bus: new Bus(), markets, market, metrics, email: "", marks: new Map() };
  if (wanted && wanted !== market.symbol) feed.unsubscribe(marketChannels(wanted, "1m"));

  const views = mountViews(ctx);
  late.data = (stream, data) => route(ctx, views, stream, data);
  late.state = showState(views);
  late.reopened = () => {
    void views.trades.load(ctx.market.symbol); // what was missed while down
    ctx.bus.emit("user", {});
  };
  early.splice(0).forEach(([stream, data]) => late.data(stream, data));
  late.state(feed.state, "");
  feed.subscribe([
    ...marketChannels(market.symbol, views.chart.interval()),
    ...markets.map((m) => `ticker@${m.symbol}`),
    ...markets.filter((m) => m.kind === "PERP").map((m) => `mark@${m.symbol}`),
  ]);
  ctx.bus.emit("market", market);
  void views.trades.load(market.symbol);
  void views.chart.load(market.symbol);

  // for tests and benchmarks: the figures, and ways to break the connection
  Object.assign(window, {
    __trademesh: {
      metrics,
      dropSocket: () => feed.drop(),
      loseNextDiff: () => views.book.loseNextDiff(),
      feedState: () => feed.state,
    },
  });
}

main().catch((err: unknown) => {
  notify("error", `The terminal could not start: ${(err as Error).message}`);
  console.error(err);
});
