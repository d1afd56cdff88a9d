// Notices: fills and liquidations from the `user` channel, and errors worth telling.

import { h } from "../dom.js";
import type { Ctx } from "../state.js";

type Kind = "fill" | "liquidation" | "info" | "error";

/** How long a notice of each kind stays; a liquidation or an error stays until dismissed. */
const SHOWN_MS: Record<Kind, number | null> = { fill: 6_000, info: 6_000, liquidation: null, error: null };
const MAX_SHOWN = 4;

/** A notice in the order entry panel, below the ticket (in the page's flow, so it covers no
 * control), newest first. */
export function notify(kind: Kind, text: string): void {
  const box = document.getElementById("notices");
  if (!box) return;
  const close = h("button", { "aria-label": "Dismiss", class: "muted" }, "×");
  const note = h("div", { class: `notice ${kind}` }, h("span", {}, text), " ", close);
  close.addEventListener("click", () => note.remove());
  box.prepend(note);
  while (box.children.length > MAX_SHOWN) box.lastElementChild?.remove();
  const shown = SHOWN_MS[kind];
  if (shown !== null) window.setTimeout(() => note.remove(), shown);
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
