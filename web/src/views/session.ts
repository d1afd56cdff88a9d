// Sign up / sign in / log out, and the faucet deposit. The token lives in sessionStorage
// (this tab only) and opens the WebSocket's `user` channel.

import { h } from "../dom.js";
import { ApiError } from "../errors.js";
import type { Ctx } from "../state.js";
import { notify } from "./notices.js";

const STORE_KEY = "trademesh.session";

interface Stored { token: string; email: string }

export function mountSession(ctx: Ctx, authBox: HTMLElement, show: (signedIn: boolean) => void): void {
  const header = document.getElementById("session")!;

  const signedIn = (token: string, email: string) => {
    ctx.api.token = token;
    ctx.email = email;
    sessionStorage.setItem(STORE_KEY, JSON.stringify({ token, email } satisfies Stored));
    ctx.feed.authenticate(token);
    paint();
    ctx.bus.emit("session", email);
  };
  const signedOut = (why = "") => {
    ctx.api.token = "";
    ctx.email = "";
    sessionStorage.removeItem(STORE_KEY);
    ctx.feed.authenticate("");
    if (why) notify("info", why);
    paint();
    ctx.bus.emit("session", "");
  };
  ctx.api.onUnauthorized = () => signedOut("Your session has ended: sign in again.");

  function paint(): void {
    if (!ctx.api.token) {
      header.replaceChildren(h("span", { class: "muted" }, "Not signed in"));
      authBox.replaceChildren(authForm());
      show(false);
      return;
    }
    const deposit = h("button", { type: "button", "data-testid": "deposit" }, "Deposit");
    deposit.addEventListener("click", () => openDeposit(ctx));
    const logout = h("button", { type: "button" }, "Log out");
    logout.addEventListener("click", async () => {
      await ctx.api.post("/auth/logout", {}).catch(() => undefined);
      signedOut();
    });
    header.replaceChildren(h("span", { class: "email", "data-testid": "email" }, ctx.email), deposit, logout);
    authBox.replaceChildren();
    show(true);
  }

  function authForm(): HTMLElement {
    const email = h("input", { type: "email", id: "auth-email", autocomplete: "username", required: true });
    const password = h("input", { type: "password", id: "auth-password", autocomplete: "current-password", required: true, minlength: "8" });
    const error = h("p", { class: "form-error", role: "alert", "data-testid": "auth-error" });
    const signin = h("button", { type: "submit", value: "signin" }, "Sign in");
    const signup = h("button", { type: "submit", value: "signup" }, "Create account");
    const form = h("form", { class: "auth", "aria-label": "Sign in or create an account" },
      h("h2", { style: "padding:0;border:0" }, "Sign in to trade"),
      h("label", { class: "field", for: email.id }, "Email", email),
      h("label", { class: "field", for: password.id }, "Password", password),
      error, h("div", { class: "row2" }, signin, signup));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const action = ((event as SubmitEvent).submitter as HTMLButtonElement | null)?.value ?? "signin";
      const creds = { email: email.value.trim(), password: password.value };
      error.textContent = "";
      try {
        const answer = await ctx.api.post<{ token: string }>(`/auth/${action}`, creds);
        signedIn(answer.token, creds.email);
      } catch (err) {
        error.textContent = err instanceof ApiError ? err.message : String(err);
      }
    });
    return form;
  }

  const stored = sessionStorage.getItem(STORE_KEY);
  if (stored) {
    const { token, email } = JSON.parse(stored) as Stored;
    ctx.api.token = token;
    ctx.api.get("/auth/whoami").then(() => signedIn(token, email), () => signedOut());
  } else {
    paint();
  }
}

function openDeposit(ctx: Ctx): void {
  const assets = [...new Set(ctx.markets.flatMap((m) => [m.quoteAsset, m.baseAsset]))];
  const asset = h("select", { id: "dep-asset" }, ...assets.map((a) => h("option", { value: a }, a)));
  const amount = h("input", { type: "text", id: "dep-amount", inputmode: "decimal", value: "10000" });
  const error = h("p", { class: "form-error", role: "alert" });
  const cancel = h("button", { type: "button" }, "Cancel");
  const dialog = h("dialog", { class: "panel", "aria-label": "Deposit" },
    h("form", { class: "auth", method: "dialog" },
      h("h2", { style: "padding:0;border:0" }, "Faucet deposit"),
      h("label", { class: "field", for: asset.id }, "Asset", asset),
      h("label", { class: "field", for: amount.id }, "Amount", amount), error,
      h("div", { class: "row2" }, h("button", { type: "submit", "data-testid": "deposit-submit" }, "Deposit"), cancel)));
  cancel.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => dialog.remove());
  dialog.querySelector("form")!.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await ctx.api.post("/account/deposit", { asset: asset.value, amount: amount.value.trim(), transactionId: crypto.randomUUID() });
      notify("info", `Deposited ${amount.value.trim()} ${asset.value}`);
      ctx.bus.emit("user", {});
      dialog.close();
    } catch (err) {
      error.textContent = err instanceof ApiError ? err.message : String(err);
    }
  });
  document.body.append(dialog);
  dialog.showModal();
  amount.focus();
  amount.select();
}
