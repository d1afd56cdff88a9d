"""Snapshot and restore of the engine state as plain JSON data.

Invariants:

* ``dump`` is deterministic: dict keys are sorted by ``digest``'s canonical JSON, and
  every list is built in a defined order (orders in book priority order per market,
  transaction ids sorted), so equal states give equal hashes.
* ``load(dump(s))`` rebuilds an equal state: resting orders are re-inserted in priority
  order, so queues, locks, counters and sequence numbers are identical.
* Perp state (mark price per market, armed triggers) is part of the image; images
  written before it existed load with no marks and no triggers. A trigger row written
  before managed triggers (9 values) loads as a stop-loss / take-profit without an order.
  A trigger's order, while it may still fill, is found again among the resting orders
  (a snapshot is taken between commands, when every attached order is live).
* Isolated positions are a list of their own (id, owner, market, position); an order
  row's 20th value and a trigger row's 14th are the isolated position id (images written
  before isolated positions load them as 0: cross).
* The open-order and trigger limits are part of the image (images without them load the
  defaults).
* The registry (assets and markets with their status, fees and leverage caps) is part of
  the image and is loaded first; images written before it existed load the defaults the
  engine is built with.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Final

from engine_svc.core import registry
from engine_svc.core.book import Order
from engine_svc.core.enums import (
    OrderStatus,
    OrderType,
    Side,
    StpMode,
    TimeInForce,
    TriggerKind,
)
from engine_svc.core.ledger import ISO_PREFIX, Balance, Position
from engine_svc.core.risk import lock_asset
from engine_svc.core.state import (
    DEFAULT_MAX_OPEN_ORDERS,
    DEFAULT_MAX_TRIGGERS,
    RECENT_TRADES,
    RecentTrade,
    State,
    Trigger,
)

VERSION: Final = 1


def _order(o: Order) -> list[Any]:
    return [
        o.id, o.user_id, o.market, o.side._value_, o.type._value_, o.price, o.quantity,
        o.remaining, o.filled, o.tif._value_, o.ts, o.client_order_id, o.post_only,
        o.reduce_only, o.stp._value_, o.leverage, o.status._value_, o.lock_per_lot, o.locked,
        o.position_id,
    ]


def _unorder(r: list[Any]) -> Order:
    o = Order(r[0], r[1], r[2], Side(r[3]), OrderType(r[4]), r[5], r[6], TimeInForce(r[9]),
              r[10], r[11], r[12], r[13], StpMode(r[14]), r[15])
    o.remaining, o.filled, o.status = r[7], r[8], OrderStatus(r[16])
    o.lock_per_lot, o.locked = r[17], r[18]
    o.position_id = r[19] if len(r) > 19 else 0
    return o


def dump(st: State) -> dict[str, Any]:
    ledger = st.ledger
    return {
        "version": VERSION,
        "registry": registry.dump(st),
        "last_seq": st.last_seq,
        "event_seq": st.event_seq,
        "next_order_id": st.next_order_id,
        "next_fill_id": st.next_fill_id,
        "balances": {u: {a: [b.available, b.locked] for a, b in sorted(assets.items())}
                     for u, assets in sorted(ledger.balances.items())},
        "positions": [[u, m, *p.as_list()] for (u, m), p in sorted(ledger.positions.items())
                      if not u.startswith(ISO_PREFIX)],
        "isolated": sorted([ref.pid, owner, ref.key[1], *ref.pos.as_list()]
                           for owner, refs in ledger.isolated.items() for ref in refs.values()),
        "orders": {m: [_order(o) for o in book.resting_orders()]
                   for m, book in sorted(st.books.items())},
        "triggers": [t.as_list() for _, t in sorted(st.triggers.items())],
        "next_trigger_id": st.next_trigger_id,
        "max_open_orders": st.max_open_orders,
        "max_triggers": st.max_triggers,
        "final": [[oid, user, status._value_] for oid, (user, status) in st.final.items()],
        "deposit_ids": sorted(st.deposit_ids),
        "withdraw_ids": sorted(st.withdraw_ids),
        "deposited": dict(sorted(st.deposited.items())),
        "withdrawn": dict(sorted(st.withdrawn.items())),
        "stats": {m: {"last_price": s.last_price, "volume": s.volume,
                      "index_price": s.index_price, "mark_price": s.mark_price,
                      "trades": [list(t) for t in s.recent_trades()]}
                  for m, s in sorted(st.stats.items())},
    }


def load(st: State, image: dict[str, Any]) -> None:
    """Fill a fresh ``State`` from ``image`` (as produced by :func:`dump`)."""
    if image.get("version") != VERSION:
        raise ValueError(f"unsupported snapshot version {image.get('version')!r}")
    if "registry" in image:
        registry.load(st, image["registry"])
    st.last_seq, st.event_seq = image["last_seq"], image["event_seq"]
    st.next_order_id, st.next_fill_id = image["next_order_id"], image["next_fill_id"]
    ledger = st.ledger
    for user, assets in image["balances"].items():
        ledger.balances[user] = {a: Balance(user, a, *p) for a, p in assets.items()}
    for user, market, *values in image["positions"]:
        ledger.adopt(user, market, Position(*values))
    for pid, owner, market, *values in image.get("isolated", []):
        ledger.adopt_isolated(owner, market, pid, Position(*values))
    for rows in image["orders"].values():
        for row in rows:
            order = _unorder(row)
            order.pair = ledger.record(
                order.user_id, lock_asset(st.config.markets[order.market], order.side))
            st.rest(order)
    for tid, user, market, side, kind, *rest in image.get("triggers", []):
        trig = Trigger(tid, user, market, Side(side), TriggerKind(kind), *rest)
        trig.parent = st.live.get(trig.order_id) if trig.order_id else None
        st.add_trigger(trig)
    st.next_trigger_id = image.get("next_trigger_id", 1)
    st.max_open_orders = image.get("max_open_orders", DEFAULT_MAX_OPEN_ORDERS)
    st.max_triggers = image.get("max_triggers", DEFAULT_MAX_TRIGGERS)
    for oid, user, status in image["final"]:
        st.remember_final(oid, user, OrderStatus(status))
    st.deposit_ids, st.withdraw_ids = set(image["deposit_ids"]), set(image["withdraw_ids"])
    st.deposited, st.withdrawn = dict(image["deposited"]), dict(image["withdrawn"])
    for market, s in image["stats"].items():
        stats = st.stats[market]
        stats.last_price, stats.volume = s["last_price"], s["volume"]
        stats.index_price = s["index_price"]
        stats.mark_price = s.get("mark_price")
        if stats.mark_price is not None:
            st.marked = True
        stats.trades = [RecentTrade(fill, price, qty, Side(side), ts)
                        for fill, price, qty, side, ts in s["trades"][-RECENT_TRADES:]]
        stats.next_trade = 0  # oldest first, so a full ring's oldest is at 0


def digest(image: dict[str, Any]) -> str:
    """sha256 hex of the canonical JSON of a snapshot."""
    text = json.dumps(image, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()
