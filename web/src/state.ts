// What the views share: the markets, the selected one, the session, and a small event bus.

import type { Api, Market } from "./api.js";
import type { Feed } from "./feed.js";

export interface Events {
  market: Market; // the selected market changed
  session: string; // signed in (the email) or out ("")
  user: Record<string, unknown>; // one event of the private `user` channel
  mark: { market: string; price: string };
  ticker: Record<string, unknown>;
  pickPrice: string; // a price clicked in the book
  ownOrders: Set<string>; // the prices of the trader's open orders in the selected market
  feedOpen: null; // the WebSocket (re)opened
}

type Handler<T> = (payload: T) => void;

export class Bus {
  private readonly handlers = new Map<keyof Events, Handler<never>[]>();

  on<K extends keyof Events>(event: K, handler: Handler<Events[K]>): void {
    const list = this.handlers.get(event) ?? [];
    list.push(handler as Handler<never>);
    this.handlers.set(event, list);
  }

  emit<K extends keyof Events>(event: K, payload: Events[K]): void {
    for (const handler of this.handlers.get(event) ?? []) (handler as Handler<Events[K]>)(payload);
  }
}

export interface Metrics {
  loadStart: number;
  wsOpenMs: number | null;
  bookLiveMs: number | null;
  depthSnapshots: number;
  depthDiffs: number;
  depthGaps: number;
  bookRenders: number;
  bookWorkMs: number; // main-thread time applying depth messages and drawing the book
  feedConnects: number;
}

export interface Ctx {
  api: Api;
  feed: Feed;
  bus: Bus;
  markets: Market[];
  market: Market;
  email: string;
  metrics: Metrics;
  marks: Map<string, string>;
}

export function marketBySymbol(ctx: Ctx, symbol: string): Market | undefined {
  return ctx.markets.find((m) => m.symbol === symbol);
}
