// The trader's own resting prices in the selected market, so the book can mark them:
// reloaded (debounced) when the `user` channel reports a change, on sign-in and on a
// market switch.

import type { Order } from "../api.js";
import type { Ctx } from "../state.js";

const RELOAD_MS = 150;

export function mountOwnOrders(ctx: Ctx): void {
  let timer: number | undefined;
  const reload = () => {
    window.clearTimeout(timer);
    timer = window.setTimeout(async () => {
      const market = ctx.market.symbol;
      if (!ctx.api.token) return ctx.bus.emit("ownOrders", new Set());
      const open = await ctx.api.get<Order[]>(`/orders?market=${encodeURIComponent(market)}`).catch(() => null);
      if (open && market === ctx.market.symbol) {
        ctx.bus.emit("ownOrders", new Set(open.map((o) => o.price ?? "").filter(Boolean)));
      }
    }, RELOAD_MS);
  };
  ctx.bus.on("user", reload);
  ctx.bus.on("session", reload);
  ctx.bus.on("market", reload);
}
