// The start against an exchange that does not answer yet (node --test): statuses checked,
// every problem in words, a bounded backoff, and the load once it answers.

import assert from "node:assert/strict";
import { test } from "node:test";
import { backoffMs, fetchJson, NotYet, parseConfig, parseMarkets, untilLoaded } from "../src/startup.js";

const answer = (status: number, body: string) => async () => new Response(body, { status });

test("the backoff doubles from 1 s and stays at 15 s", () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5, 60].map(backoffMs), [1000, 2000, 4000, 8000, 15000, 15000, 15000]);
});

test("a proxy's 502 page is told by its status, never parsed", async () => {
  await assert.rejects(fetchJson("/config.json", answer(502, "<html>Bad Gateway</html>")),
    (err: unknown) => err instanceof NotYet && err.message === "The exchange cannot be reached (HTTP 502)");
  await assert.rejects(fetchJson("/config.json", async () => { throw new TypeError("Failed to fetch"); }),
    (err: unknown) => err instanceof NotYet && err.message === "The exchange cannot be reached (no answer)");
  await assert.rejects(fetchJson("/config.json", answer(200, "<html>a portal</html>")),
    (err: unknown) => err instanceof NotYet && /not JSON/.test(err.message));
  assert.deepEqual(await fetchJson("/config.json", answer(200, '{"wsUrl": "ws://x/ws"}')), { wsUrl: "ws://x/ws" });
});

test("a configuration without a feed and an empty market list are problems of their own", () => {
  assert.throws(() => parseConfig({}), NotYet);
  assert.deepEqual(parseConfig({ wsUrl: "ws://x/ws" }), { wsUrl: "ws://x/ws" });
  assert.throws(() => parseMarkets([]), { message: "The exchange lists no markets yet" });
  assert.throws(() => parseMarkets({ error: {} }), NotYet);
  assert.equal(parseMarkets([{ symbol: "SOL-PERP" }]).length, 1);
});

test("untilLoaded retries each NotYet after its wait and says when it is over", async () => {
  const told: [string | null, number][] = [];
  const slept: number[] = [];
  let calls = 0;
  const loaded = await untilLoaded(async () => {
    calls += 1;
    if (calls <= 3) throw new NotYet(`down ${calls}`);
    return "up";
  }, (problem, wait) => told.push([problem, wait]), async (ms) => { slept.push(ms); });
  assert.equal(loaded, "up");
  assert.deepEqual(slept, [1000, 2000, 4000]);
  assert.deepEqual(told, [["down 1", 1000], ["down 2", 2000], ["down 3", 4000], [null, 0]]);
  await assert.rejects(untilLoaded(async () => { throw new Error("a bug"); }, () => {}, async () => {}),
    { message: "a bug" });
});
