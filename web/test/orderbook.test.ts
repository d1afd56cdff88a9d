// The local book's sequence rules and the exact decimals it stands on (node --test).

import assert from "node:assert/strict";
import { test } from "node:test";
import { dec, format, lotsFor, mul, placesOf, sub } from "../src/decimal.js";
import { apiError } from "../src/errors.js";
import { LocalBook } from "../src/orderbook.js";

const level = (price: string, quantity: string) => ({ price, quantity });

test("a snapshot, then diffs one sequence higher, change the levels", () => {
  const book = new LocalBook();
  assert.equal(book.apply({ type: "update", sequence: "4", bids: [level("1", "1")] }), "waiting");
  assert.equal(book.apply({ type: "snapshot", sequence: "5", bids: [level("99.5", "2"), level("100", "1")], asks: [level("101", "3")] }), "snapshot");
  assert.equal(book.apply({ type: "update", sequence: "6", bids: [level("100", "0")], asks: [level("100.5", "1.25")] }), "applied");
  const { bids, asks } = book.levels(10);
  assert.deepEqual(bids.map((l) => [l.price, l.quantity]), [["99.5", "2"]]);
  assert.deepEqual(asks.map((l) => [l.price, l.quantity, format(l.total, 2)]), [["100.5", "1.25", "1.25"], ["101", "3", "4.25"]]);
  assert.equal(book.sequence, 6n);
});

test("an old diff is dropped; a skipped sequence is a gap until the next snapshot", () => {
  const book = new LocalBook();
  book.apply({ type: "snapshot", sequence: "10", bids: [level("1", "1")], asks: [] });
  assert.equal(book.apply({ type: "update", sequence: "10", bids: [level("1", "9")] }), "stale");
  assert.equal(book.apply({ type: "update", sequence: "12", bids: [level("1", "5")] }), "gap");
  assert.equal(book.live, false);
  assert.equal(book.apply({ type: "update", sequence: "13", bids: [] }), "waiting");
  assert.equal(book.apply({ type: "snapshot", sequence: "13", bids: [level("2", "1")], asks: [] }), "snapshot");
  assert.equal(book.apply({ type: "update", sequence: "14", bids: [level("3", "1")] }), "applied");
  assert.deepEqual(book.levels(5).bids.map((l) => l.price), ["3", "2"]);
});

test("decimals are exact: PnL on the mark, rounding, grid places", () => {
  const pnl = mul(sub(dec("150.014"), dec("150.074")), dec("1.5"));
  assert.equal(format(pnl, 4), "-0.0900");
  assert.equal(format(dec("0.1"), 0), "0");
  assert.equal(format(dec("-2.5"), 0), "-3");
  assert.equal(format(dec("0.3"), 3), "0.300");
  assert.equal(placesOf("0.001"), 3);
  assert.equal(placesOf("0.50"), 1);
});

test("the API's error body gives the field violations", () => {
  const err = apiError(400, { error: { code: "INVALID_PRICE", message: "price: 100.0001 is not a multiple of 0.001", details: [{ field: "price", description: "price: 100.0001 is not a multiple of 0.001" }] } });
  assert.equal(err.code, "INVALID_PRICE");
  assert.equal(err.fieldErrors().get("price"), "price: 100.0001 is not a multiple of 0.001");
  assert.equal(apiError(502, "<html>").code, "HTTP_502");
});

test("the lots a budget buys are rounded down to the lot grid", () => {
  assert.equal(lotsFor(dec("1000"), dec("150.074"), "0.01"), "6.66");
  assert.equal(lotsFor(dec("0.5"), dec("150"), "0.01"), "");
  assert.equal(lotsFor(dec("3"), dec("1"), "1"), "3");
});
