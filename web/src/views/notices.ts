// Notices: fills and liquidations from the `user` channel, and errors worth telling.

import { h } from "../dom.js";
import type { Ctx } from "../state.js";

const SHOWN_MS = 8_000;
const MAX_SHOWN = 5;

export function notify(kind: "fill" | "liquidation" | "info" | "error", text: string): void {
  const box = document.getElementById("notices");
  if (!box) return;
  const close = h("button", { "aria-label": "Dismiss", class: "muted" }, "×");
  const note = h("div", { class: `notice ${kind}` }, h("span", {}, text), " ", close);
  close.addEventListener("click", () => note.remove());
  box.append(note);
  while (box.children.length > MAX_SHOWN) box.firstElementChild?.remove();
  window.setTimeout(() => note.remove(), SHOWN_MS);
}

interface FillEvent { side?: string; quantity?: string; market?: string; price?: string; liquidity?: string }
interface LiquidationEvent { market?: string; side?: string; size?: string; price?: string }

export function mountNotices(ctx: Ctx): void {
  ctx.bus.on("user", (event) => {
    const fill = event["fill"] as FillEvent | undefined;
    if (fill) {
      const role = fill.liquidity === "MAKER" ? "maker" : "taker";
      notify("fill", `Filled: ${fill.side} ${fill.quantity} ${fill.market} @ ${fill.price} (${role})`);
    }
    const liquidation = event["liquidation"] as LiquidationEvent | undefined;
    if (liquidation) {
      const which = liquidation.side === "BUY" ? "long" : "short";
      notify("liquidation",
        `Liquidated: your ${liquidation.market} ${which} of ${liquidation.size} was closed @ ${liquidation.price}`);
    }
  });
}
