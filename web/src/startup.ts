// What the terminal needs before it can start (/config.json and the markets), read with
// their status checked: an exchange that does not answer yet (gateway down, a proxy's 502
// page) is told in words and asked again with a bounded backoff, never parsed as JSON.

import type { Market } from "./api.js";

export interface Config {
  wsUrl: string;
}

/** Why a start could not finish yet, in words for the trader. */
export class NotYet extends Error {}

export const FIRST_DELAY_MS = 1_000;
export const MAX_DELAY_MS = 15_000;

/** The wait after the ``attempt``-th failure (0-based): 1 s, doubling, at most 15 s. */
export function backoffMs(attempt: number): number {
  return Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** Math.min(attempt, 16));
}

type Fetcher = (url: string, init: RequestInit) => Promise<Response>;

/** The JSON body of a 2xx answer to ``url``; anything else is a NotYet saying what. */
export async function fetchJson(url: string, fetcher: Fetcher = (u, i) => fetch(u, i)): Promise<unknown> {
  let response: Response;
  try {
    response = await fetcher(url, { headers: { Accept: "application/json" }, cache: "no-store" });
  } catch {
    throw new NotYet("The exchange cannot be reached (no answer)");
  }
  if (!response.ok) throw new NotYet(`The exchange cannot be reached (HTTP ${response.status})`);
  const text = await response.text();
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new NotYet(`The exchange cannot be reached (${url} is not JSON)`);
  }
}

export function parseConfig(body: unknown): Config {
  const wsUrl = (body as { wsUrl?: unknown } | null)?.wsUrl;
  if (typeof wsUrl !== "string" || !wsUrl) {
    throw new NotYet("The exchange cannot be reached (its configuration names no feed)");
  }
  return { wsUrl };
}

export function parseMarkets(body: unknown): Market[] {
  if (!Array.isArray(body)) throw new NotYet("The exchange cannot be reached (no market list)");
  const markets = body.filter((m): m is Market =>
    typeof m === "object" && m !== null && typeof (m as { symbol?: unknown }).symbol === "string");
  if (markets.length === 0) throw new NotYet("The exchange lists no markets yet");
  return markets;
}

/** ``load()`` until it succeeds; each NotYet is told (with the wait before the next try)
 * and waited out with ``backoffMs``; ``tell(null, 0)`` once it succeeds after a failure.
 * Any other error is thrown. */
export async function untilLoaded<T>(
  load: () => Promise<T>,
  tell: (problem: string | null, waitMs: number) => void,
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((done) => setTimeout(done, ms)),
): Promise<T> {
  for (let attempt = 0; ; attempt += 1) {
    try {
      const loaded = await load();
      if (attempt > 0) tell(null, 0);
      return loaded;
    } catch (err) {
      if (!(err instanceof NotYet)) throw err;
      const wait = backoffMs(attempt);
      tell(err.message, wait);
      await sleep(wait);
    }
  }
}
