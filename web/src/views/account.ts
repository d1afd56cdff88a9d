// The account tabs: positions (PnL live on `mark@M`), open orders (cancel, amend, cancel
// all), balances, and the history from persistence (orders, fills, closed positions,
// funding). Reloaded from REST when the `user` channel says something changed.

import type { Balance, Order, Position, Row } from "../api.js";
import { dash, dateTimeText, h } from "../dom.js";
import { dec, format, mul, placesOf, sub } from "../decimal.js";
import type { Ctx } from "../state.js";
import { marketBySymbol } from "../state.js";
import { notify } from "./notices.js";
import { type Column, sideClass, table } from "./tables.js";

type Tab = "positions" | "orders" | "balances" | "history-orders" | "history-fills" | "history-positions"
  | "history-funding" | "history-ledger";
const TABS: [Tab, string][] = [
  ["positions", "Positions"], ["orders", "Open orders"], ["balances", "Balances"],
  ["history-orders", "Order history"], ["history-fills", "Fills"],
  ["history-positions", "Closed positions"], ["history-funding", "Funding"], ["history-ledger", "Ledger"],
];
const RELOAD_DEBOUNCE_MS = 120;
const HISTORY_SETTLE_MS = 1_000;

export function livePnl(ctx: Ctx, p: Position): string {
  const mark = ctx.marks.get(p.market) || p.markPrice;
  if (!mark || !p.entryPrice) return p.unrealizedPnl ?? "";
  const diff = p.side === "SELL" ? sub(dec(p.entryPrice), dec(mark)) : sub(dec(mark), dec(p.entryPrice));
  const places = Math.max(2, placesOf(marketBySymbol(ctx, p.market)?.tickSize ?? "0.01"));
  return format(mul(diff, dec(p.size)), places);
}

export function mountAccount(ctx: Ctx): { reload(): void } {
  const panel = document.getElementById("account")!;
  let active: Tab = "positions";
  let positions: Position[] = [];
  let orders: Order[] = [];
  let balances: Balance[] = [];
  let history: Row[] = [];
  let historyOf: Tab | null = null; // the tab `history` was loaded for
  const body = h("div", { class: "tab-body", role: "tabpanel", id: "account-body", "data-testid": "account-body" });
  const tabButtons = TABS.map(([tab, title]) => {
    const b = h("button", { type: "button", role: "tab", id: `tab-${tab}`, "aria-controls": "account-body", "aria-selected": String(tab === active), "data-tab": tab }, title);
    b.addEventListener("click", () => select(tab));
    return b;
  });
  const tabs = h("div", { class: "tabs", role: "tablist", "aria-label": "Account" }, ...tabButtons);
  tabs.addEventListener("keydown", (e) => {
    const i = TABS.findIndex(([t]) => t === active);
    const step = e.key === "ArrowRight" ? 1 : e.key === "ArrowLeft" ? -1 : 0;
    if (!step) return;
    const next = TABS[(i + step + TABS.length) % TABS.length][0];
    select(next);
    document.getElementById(`tab-${next}`)?.focus();
  });
  panel.append(tabs, body);

  function select(tab: Tab): void {
    active = tab;
    tabButtons.forEach((b) => b.setAttribute("aria-selected", String(b.dataset["tab"] === tab)));
    render();
    void load();
  }

  const act = async (what: string, call: () => Promise<unknown>) => {
    try {
      await call();
      notify("info", what);
    } catch (err) {
      notify("error", `${what} failed: ${(err as Error).message}`);
    }
    scheduleReload();
  };

  const orderColumns: Column<Order>[] = [
    { title: "Market", cell: (o) => o.market },
    { title: "Side", cell: (o) => `${o.side} ${o.type}`, cls: (o) => sideClass(o.side) },
    { title: "Price", cell: (o) => dash(o.price) },
    { title: "Quantity", cell: (o) => o.quantity },
    { title: "Filled", cell: (o) => dash(o.filledQuantity) },
    { title: "SL / TP", cell: (o) => (o.stopLoss || o.takeProfit ? `${dash(o.stopLoss)} / ${dash(o.takeProfit)}` : "—") },
    { title: "Status", cell: (o) => o.status },
    { title: "", cell: (o) => orderActions(o) },
  ];
  const orderActions = (o: Order): Node => {
    const cancel = h("button", { type: "button", "aria-label": `Cancel order ${o.orderId}` }, "Cancel");
    cancel.addEventListener("click", () => act(`Canceled order ${o.orderId}`, () => ctx.api.call("DELETE", `/orders/${o.orderId}`)));
    const amend = h("button", { type: "button", "aria-label": `Amend order ${o.orderId}` }, "Amend");
    amend.addEventListener("click", () => {
      amending = { orderId: o.orderId, price: o.price ?? "", quantity: o.quantity };
      amend.parentElement?.replaceChildren(amendForm(o));
    });
    if (amending?.orderId === o.orderId) return amendForm(o); // a re-render keeps the edit
    return h("span", { class: "toolbar" }, amend, cancel);
  };
  // The order being amended and what the trader typed: a refresh of the table (a fill, a
  // reload) must not throw the half-typed amendment away. The form itself is kept and moved
  // into the new row, so the input being typed into is never replaced under the caret.
  let amending: { orderId: string; price: string; quantity: string } | null = null;
  let amendNode: { orderId: string; node: Node } | null = null;
  const amendForm = (o: Order): Node => {
    if (amendNode?.orderId === o.orderId && amending?.orderId === o.orderId) return amendNode.node;
    const typed = amending?.orderId === o.orderId ? amending : null;
    const price = h("input", { type: "text", value: typed?.price ?? o.price ?? "", "aria-label": `New price for order ${o.orderId}` });
    const qty = h("input", { type: "text", value: typed?.quantity ?? o.quantity, "aria-label": `New quantity for order ${o.orderId}` });
    const remember = (): void => {
      amending = { orderId: o.orderId, price: price.value, quantity: qty.value };
    };
    price.addEventListener("input", remember);
    qty.addEventListener("input", remember);
    const save = h("button", { type: "submit" }, "Save");
    const back = h("button", { type: "button" }, "Back");
    back.addEventListener("click", () => {
      amending = amendNode = null;
      render();
    });
    const form = h("form", { class: "toolbar" }, price, qty, save, back);
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const change: Record<string, string> = {};
      if (price.value.trim() !== (o.price ?? "")) change["price"] = price.value.trim();
      if (qty.value.trim() !== o.quantity) change["quantity"] = qty.value.trim();
      amending = amendNode = null;
      if (Object.keys(change).length === 0) { // nothing changed: nothing to send
        notify("info", `Order ${o.orderId}: nothing to amend`);
        render();
        return;
      }
      void act(`Amended order ${o.orderId}`, () => ctx.api.call("PATCH", `/orders/${o.orderId}`, change));
    });
    if (!typed || document.activeElement === document.body) queueMicrotask(() => price.focus());
    amendNode = { orderId: o.orderId, node: form };
    return form;
  };

  const positionColumns: Column<Position>[] = [
    { title: "Market", cell: (p) => (p.positionId ? `${p.market} · isolated #${p.positionId}` : p.market) },
    { title: "Side", cell: (p) => (p.side === "BUY" ? "Long" : "Short"), cls: (p) => sideClass(p.side) },
    { title: "Size", cell: (p) => p.size },
    { title: "Entry", cell: (p) => p.entryPrice },
    { title: "Mark", cell: (p) => dash(ctx.marks.get(p.market) || p.markPrice), cls: () => "mark" },
    { title: "PnL", cell: (p) => dash(livePnl(ctx, p)), cls: (p) => `pnl ${livePnl(ctx, p).startsWith("-") ? "down" : "up"}` },
    { title: "Liq. price", cell: (p) => dash(p.liquidationPrice), cls: () => "liq" },
    { title: "Margin", cell: (p) => dash(p.margin) },
    { title: "Leverage", cell: (p) => (p.leverage ? `${p.leverage}×` : "—") },
    { title: "", cell: (p) => closeButton(p) },
  ];
  const closeButton = (p: Position): Node => {
    const which = p.positionId ? `${p.market} isolated position ${p.positionId}` : `${p.market} position`;
    const b = h("button", { type: "button", "aria-label": `Close ${which}` }, "Close");
    const body = p.positionId ? { positionId: p.positionId } : {};
    b.addEventListener("click", () => act(`Closed ${which}`, () => ctx.api.post(`/positions/${p.market}/close`, body)));
    return b;
  };

  function render(): void {
    if (!ctx.api.token) {
      body.replaceChildren(h("p", { class: "empty" }, "Sign in to see your positions, orders and history."));
      return;
    }
    if (active === "positions") body.replaceChildren(table(positions, positionColumns, "No open positions.", (p) => (p.positionId ? `${p.market}#${p.positionId}` : p.market)));
    else if (active === "orders") {
      const all = h("button", { type: "button", disabled: !orders.length }, "Cancel all");
      all.addEventListener("click", () => act("Canceled all orders", () => ctx.api.call("DELETE", "/orders")));
      body.replaceChildren(h("div", { class: "toolbar", style: "padding:4px 8px" }, all), table(orders, orderColumns, "No open orders.", (o) => o.orderId));
    } else if (active === "balances") {
      body.replaceChildren(table(balances, [
        { title: "Asset", cell: (b) => b.asset }, { title: "Available", cell: (b) => b.available },
        { title: "Locked", cell: (b) => b.locked }], "No balances yet: use Deposit."));
    } else if (historyOf !== active) body.replaceChildren(h("p", { class: "empty" }, "Loading…"));
    else body.replaceChildren(historyTable(active, history));
  }

  /** Loads the active tab's rows; an answer for a tab no longer shown is dropped. */
  async function load(): Promise<void> {
    if (!ctx.api.token) return render();
    const tab = active;
    const path = { positions: "/account/positions", orders: "/orders", balances: "/account/balances" }[tab as string]
      ?? `/history/${tab.replace("history-", "")}?limit=50`;
    try {
      const rows = await ctx.api.get<Row[]>(path);
      if (tab !== active || !ctx.api.token) return;
      if (tab === "positions") positions = rows as unknown as Position[];
      else if (tab === "orders") orders = rows as unknown as Order[];
      else if (tab === "balances") balances = rows as unknown as Balance[];
      else [history, historyOf] = [rows, tab];
      render();
    } catch (err) {
      if (tab === active) body.replaceChildren(h("p", { class: "empty" }, `Could not load: ${(err as Error).message}`));
    }
  }

  // Once soon, and once more a little later for the history, which persistence commits
  // just after the engine's event.
  let timers: number[] = [];
  function scheduleReload(): void {
    timers.forEach((t) => window.clearTimeout(t));
    timers = [RELOAD_DEBOUNCE_MS, HISTORY_SETTLE_MS].map((ms) => window.setTimeout(() => void load(), ms));
  }

  ctx.bus.on("user", scheduleReload);
  ctx.bus.on("session", () => {
    [positions, orders, balances, history, historyOf] = [[], [], [], [], null];
    void load();
  });
  ctx.bus.on("mark", ({ market }) => {
    if (active !== "positions") return;
    const row = body.querySelector<HTMLElement>(`tr[data-key="${CSS.escape(market)}"]`);
    const p = positions.find((x) => x.market === market);
    if (!row || !p) return;
    const pnl = livePnl(ctx, p);
    row.querySelector(".mark")!.textContent = dash(ctx.marks.get(market));
    const cell = row.querySelector(".pnl")!;
    cell.textContent = dash(pnl);
    cell.className = `pnl ${pnl.startsWith("-") ? "down" : "up"}`;
  });
  render();
  return { reload: scheduleReload };
}

/** A MARKET order has no limit price (its bound is its slippage): said in words, not a dash. */
function orderPrice(r: Row): string {
  const price = r["price"] as string | undefined;
  return price ? price : r["type"] === "MARKET" ? "market" : dash(price);
}

function historyTable(tab: Tab, rows: Row[]): HTMLElement {
  const s = (k: string) => (r: Row) => dash(r[k] as string | undefined);
  const when = (k: string) => (r: Row) => dateTimeText(r[k] as string | undefined);
  const side: Column<Row> = { title: "Side", cell: s("side"), cls: (r) => sideClass(r["side"] as string) };
  const specs: Partial<Record<Tab, [Column<Row>[], string]>> = {
    "history-orders": [[{ title: "Time", cell: when("createTime") }, { title: "Market", cell: s("market") }, side,
      { title: "Type", cell: s("type") }, { title: "Price", cell: orderPrice }, { title: "Quantity", cell: s("quantity") },
      { title: "Filled", cell: s("filledQuantity") }, { title: "Avg. price", cell: s("averagePrice") }, { title: "Status", cell: s("status") }], "No orders yet."],
    "history-fills": [[{ title: "Time", cell: when("time") }, { title: "Market", cell: s("market") }, side,
      { title: "Price", cell: s("price") }, { title: "Quantity", cell: s("quantity") }, { title: "Fee", cell: (r: Row) => `${dash(r["fee"] as string)} ${(r["feeAsset"] as string) ?? ""}` },
      { title: "Role", cell: s("liquidity") }, { title: "Realized PnL", cell: s("realizedPnl") }], "No fills yet."],
    "history-positions": [[{ title: "Closed", cell: when("closeTime") }, { title: "Market", cell: s("market") }, side,
      { title: "Size", cell: s("size") }, { title: "Entry", cell: s("entryPrice") }, { title: "Exit", cell: s("exitPrice") },
      { title: "Realized PnL", cell: s("realizedPnl") }, { title: "Reason", cell: s("closeReason") }], "No closed positions yet."],
    "history-funding": [[{ title: "Time", cell: when("time") }, { title: "Market", cell: s("market") }, { title: "Rate", cell: s("rate") },
      { title: "Position", cell: s("positionSize") }, { title: "Amount", cell: s("amount") }], "No funding payments yet."],
    "history-ledger": [[{ title: "Time", cell: when("time") }, { title: "Asset", cell: s("asset") }, { title: "Amount", cell: s("amount") },
      { title: "Kind", cell: s("kind") }, { title: "Market", cell: s("market") }, { title: "Reference", cell: s("reference") }], "No ledger entries yet."],
  };
  const [columns, empty] = specs[tab] ?? [[], ""];
  return table(rows, columns, empty);
}
