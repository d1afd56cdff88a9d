// The order book from `depth@M`: a snapshot, then diffs checked by sequence (a gap
// resubscribes, which brings a new snapshot), drawn at most once per animation frame with
// depth bars sized by cumulative quantity. Clicking a level puts its price in the form.

import { h, perFrame } from "../dom.js";
import { add, dec, format, mul, placesOf, sub, toNumber } from "../decimal.js";
import { type BookLevel, type DepthMessage, LocalBook } from "../orderbook.js";
import type { Ctx } from "../state.js";

const ROWS = 12;

export interface BookView {
  onDepth(market: string, data: DepthMessage): void;
  reset(): void;
  /** The connection dropped: keep the levels on screen, marked as resyncing. */
  stale(): void;
  /** Test hook: the next diff is dropped, as a lost message would be. */
  loseNextDiff(): void;
  book(): LocalBook;
}

export function mountBook(ctx: Ctx): BookView {
  const panel = document.getElementById("book")!;
  const state = h("span", { class: "book-state", "data-testid": "book-state" }, "waiting");
  const rowsOf = (cls: string) =>
    Array.from({ length: ROWS }, () => {
      const row = h("div", { class: `book-row ${cls}`, role: "row", tabindex: "-1" },
        h("span", { class: "px", role: "cell" }), h("span", { role: "cell" }), h("span", { role: "cell" }),
        h("div", { class: "bar", "aria-hidden": "true" }));
      row.addEventListener("click", () => {
        const price = row.dataset["price"];
        if (price) ctx.bus.emit("pickPrice", price);
      });
      return row;
    });
  const asks = rowsOf("ask");
  const bids = rowsOf("bid");
  const mid = h("span", { class: "mid num", title: "Mid price" }, "—");
  const spread = h("span", { class: "muted num" }, "");
  const head = h("div", { class: "book-head", role: "row" },
    h("span", { role: "columnheader" }, "Price"), h("span", { role: "columnheader" }, "Size"),
    h("span", { role: "columnheader" }, "Total"));
  panel.append(h("h2", {}, "Order book", state),
    h("div", { class: "book-table", role: "table", "aria-label": "Order book levels", tabindex: "0" }, head,
      h("div", { class: "book-side asks", "data-testid": "asks" }, ...asks),
      h("div", { class: "spread" }, mid, spread),
      h("div", { class: "book-side bids", "data-testid": "bids" }, ...bids)));
  panel.addEventListener("keydown", (event) => moveFocus(event, ctx.bus.emit.bind(ctx.bus)));

  let local = new LocalBook();
  let own = new Set<string>();
  ctx.bus.on("ownOrders", (prices) => {
    own = prices;
    draw();
  });
  let loseNext = false;
  const draw = perFrame(() => {
    const started = performance.now();
    ctx.metrics.bookRenders += 1;
    const { bids: b, asks: a } = local.levels(ROWS);
    const places = placesOf(ctx.market.tickSize);
    const deepest = Math.max(toNumber(b.at(-1)?.total ?? dec("0")), toNumber(a.at(-1)?.total ?? dec("0")), 1e-12);
    paintSide(asks, [...a].reverse(), ROWS - a.length, deepest, own);
    paintSide(bids, b, 0, deepest, own);
    const best = [b[0]?.price, a[0]?.price];
    mid.textContent = best[0] && best[1]
      ? format(mul(add(dec(best[0]), dec(best[1])), dec("0.5")), places + 1)
      : local.live && !best[0] && !best[1] ? "No orders" : "—";
    spread.textContent = best[0] && best[1]
      ? `spread ${format(sub(dec(best[1]), dec(best[0])), places)}` : "";
    state.textContent = local.live ? `live · seq ${local.sequence}` : "resyncing";
    panel.classList.toggle("stale", !local.live);
    if (local.live && ctx.metrics.bookLiveMs === null) {
      ctx.metrics.bookLiveMs = performance.now();
      performance.mark("trademesh:book-live");
    }
    ctx.metrics.bookWorkMs += performance.now() - started;
  });

  return {
    onDepth(market, data) {
      if (market !== ctx.market.symbol) return;
      if (data.type !== "snapshot" && loseNext) {
        loseNext = false;
        return;
      }
      const started = performance.now();
      const outcome = local.apply(data);
      if (outcome === "snapshot") ctx.metrics.depthSnapshots += 1;
      if (outcome === "applied") ctx.metrics.depthDiffs += 1;
      if (outcome === "gap") {
        ctx.metrics.depthGaps += 1;
        ctx.feed.resubscribe(`depth@${market}`);
      }
      ctx.metrics.bookWorkMs += performance.now() - started;
      draw();
    },
    reset() {
      local = new LocalBook();
      draw();
    },
    stale() {
      local.invalidate();
      draw();
    },
    loseNextDiff() {
      loseNext = true;
    },
    book: () => local,
  };
}

function paintSide(rows: HTMLElement[], levels: BookLevel[], offset: number, deepest: number,
  own: Set<string>): void {
  rows.forEach((row, i) => {
    const level = levels[i - offset];
    const [px, size, total, bar] = row.children as unknown as HTMLElement[];
    const width = level ? `${Math.min(100, (toNumber(level.total) / deepest) * 100).toFixed(1)}%` : "0%";
    setText(px, level?.price ?? "");
    setText(size, level?.quantity ?? "");
    setText(total, level ? format(level.total, level.total.scale) : "");
    if (bar.style.width !== width) bar.style.width = width;
    const mine = level !== undefined && own.has(level.price);
    if (row.classList.contains("mine") !== mine) row.classList.toggle("mine", mine);
    if (level && row.dataset["price"] !== level.price) row.dataset["price"] = level.price;
    else if (!level && row.dataset["price"] !== undefined) delete row.dataset["price"];
  });
}

/** Writes ``text`` only when it differs: an unchanged row costs no DOM mutation. */
function setText(el: HTMLElement, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}

/** Arrow keys move between the levels of the focused book; Enter takes the level's price. */
function moveFocus(event: KeyboardEvent, emit: (name: "pickPrice", price: string) => void): void {
  const rows = [...document.querySelectorAll<HTMLElement>("#book .book-row[data-price]")];
  const at = rows.indexOf(document.activeElement as HTMLElement);
  if (event.key === "Enter" && at >= 0) {
    emit("pickPrice", rows[at].dataset["price"]!);
  } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
    const next = at < 0 ? Math.floor(rows.length / 2) : at + (event.key === "ArrowDown" ? 1 : -1);
    rows[Math.max(0, Math.min(rows.length - 1, next))]?.focus();
  } else return;
  event.preventDefault();
}
