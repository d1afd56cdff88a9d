// The local L2 book of one market, kept from the `depth@M` channel.
//
// Invariants: diffs apply only on top of a snapshot, and only when a diff's sequence is
// exactly one higher than the book's; an older diff (sent before a snapshot that already
// includes it) is dropped; a newer one is a gap: the book stops being live and the caller
// resubscribes, which brings a fresh snapshot. Quantity "0" removes a level. Prices and
// quantities stay the server's exact decimal text.

import { add, dec, type Dec, isZero } from "./decimal.js";

export interface WireLevel {
  price: string;
  quantity: string;
}

export interface DepthMessage {
  type?: string; // "snapshot" | "update"
  sequence: string;
  bids?: WireLevel[];
  asks?: WireLevel[];
}

export type Outcome = "snapshot" | "applied" | "stale" | "gap" | "waiting";

export interface BookLevel {
  price: string;
  quantity: string;
  total: Dec; // cumulative quantity from the best price
}

/** A price as an integer at a fixed scale: levels sort by plain BigInt comparison. */
const KEY_SCALE = 18;
const sortKey = (price: Dec): bigint => price.units * 10n ** BigInt(KEY_SCALE - price.scale);

type Side = Map<string, { key: bigint; quantity: string }>;

export class LocalBook {
  sequence = 0n;
  live = false;
  private readonly bids: Side = new Map();
  private readonly asks: Side = new Map();
  private sorted: { bids: BookLevel[]; asks: BookLevel[] } | null = null;

  /** Applies one `depth@M` message and says what happened. */
  apply(message: DepthMessage): Outcome {
    const sequence = BigInt(message.sequence);
    if (message.type === "snapshot") {
      this.bids.clear();
      this.asks.clear();
      this.put(this.bids, message.bids);
      this.put(this.asks, message.asks);
      this.sequence = sequence;
      this.live = true;
      this.sorted = null;
      return "snapshot";
    }
    if (!this.live) return "waiting";
    if (sequence <= this.sequence) return "stale";
    if (sequence !== this.sequence + 1n) {
      this.live = false;
      return "gap";
    }
    this.put(this.bids, message.bids);
    this.put(this.asks, message.asks);
    this.sequence = sequence;
    this.sorted = null;
    return "applied";
  }

  /** Forgets the book until the next snapshot (e.g. while resubscribing). */
  invalidate(): void {
    this.live = false;
  }

  /** The best ``depth`` levels of each side, best first, with cumulative totals. */
  levels(depth: number): { bids: BookLevel[]; asks: BookLevel[] } {
    if (this.sorted === null) {
      this.sorted = { bids: ordered(this.bids, -1), asks: ordered(this.asks, 1) };
    }
    return { bids: this.sorted.bids.slice(0, depth), asks: this.sorted.asks.slice(0, depth) };
  }

  private put(side: Side, levels: WireLevel[] | undefined): void {
    for (const { price, quantity } of levels ?? []) {
      const key = sortKey(dec(price));
      if (isZero(dec(quantity))) side.delete(price);
      else side.set(price, { key, quantity });
    }
  }
}

function ordered(side: Side, direction: 1 | -1): BookLevel[] {
  const entries = [...side.entries()].sort((a, b) =>
    a[1].key === b[1].key ? 0 : (a[1].key < b[1].key ? -direction : direction));
  let total: Dec = { units: 0n, scale: 0 };
  return entries.map(([price, { quantity }]) => {
    total = add(total, dec(quantity));
    return { price, quantity, total };
  });
}
