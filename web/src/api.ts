// The REST API (same origin, /api/v1), typed by what the gateway really returns.

import { ApiError, apiError } from "./errors.js";

export interface Market {
  symbol: string;
  kind: "SPOT" | "PERP";
  baseAsset: string;
  quoteAsset: string;
  tickSize: string;
  lotSize: string;
  minQuantity: string;
  maxLeverage?: number;
  makerFeeBps?: number;
  takerFeeBps?: number;
}

export interface Order {
  orderId: string;
  clientOrderId?: string;
  market: string;
  side: "BUY" | "SELL";
  type: "LIMIT" | "MARKET";
  timeInForce?: string;
  status: string;
  price?: string;
  quantity: string;
  filledQuantity?: string;
  averagePrice?: string;
  postOnly?: boolean;
  reduceOnly?: boolean;
  leverage?: number;
  stopLoss?: string;
  takeProfit?: string;
  reason?: string;
  createTime?: string;
  updateTime?: string;
}

export interface Fill {
  fillId: string;
  orderId: string;
  market: string;
  side: string;
  price: string;
  quantity: string;
  fee?: string;
  feeAsset?: string;
  liquidity?: string;
  realizedPnl?: string;
  time?: string;
}

export interface Position {
  market: string;
  side: "BUY" | "SELL";
  size: string;
  entryPrice: string;
  markPrice?: string;
  unrealizedPnl?: string;
  margin?: string;
  leverage?: number;
  liquidationPrice?: string;
  realizedPnl?: string;
  /** An isolated position's id (the order that opened it); absent for the cross position. */
  positionId?: string;
  marginMode?: "CROSS" | "ISOLATED";
}

export interface Balance {
  asset: string;
  available: string;
  locked: string;
}

export interface Quote {
  averagePrice: string;
  worstPrice: string;
  fillableQuantity: string;
  notional: string;
}

export interface Candle {
  openTime: string;
  open: string;
  high: string;
  low: string;
  close: string;
  volume: string;
}

export interface Trade {
  tradeId: string;
  price: string;
  quantity: string;
  takerSide: string;
  time: string;
}

export type Row = Record<string, unknown>;

export class Api {
  token = "";
  /** Called when a signed-in call is refused as unauthenticated (expired or revoked). */
  onUnauthorized: () => void = () => {};

  constructor(readonly base = "/api/v1") {}

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {};
    if (this.token) headers["Authorization"] = `Bearer ${this.token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response: Response;
    try {
      response = await fetch(this.base + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ApiError(0, "NETWORK", "the gateway cannot be reached");
    }
    const text = await response.text();
    const parsed: unknown = text ? safeJson(text) : null;
    if (!response.ok) {
      if (response.status === 401 && this.token && !path.startsWith("/auth/sign")) {
        this.onUnauthorized();
      }
      throw apiError(response.status, parsed);
    }
    return parsed as T;
  }

  get<T>(path: string): Promise<T> {
    return this.call<T>("GET", path);
  }

  post<T>(path: string, body: unknown = {}): Promise<T> {
    return this.call<T>("POST", path, body);
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
