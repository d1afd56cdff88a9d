"""The pure core of persistence: a batch of ``EngineEvent`` protos → the rows to write.

No I/O. The writer loads the prior state of the orders and positions a batch touches
(:func:`touched_orders`, :func:`touched_positions`), folds the events over it in sequence
order and writes the result. Invariants (see also :mod:`persistence_svc.schema`):

* every ledger transaction sums to zero per asset (double entry; ``external`` is the
  outside world, ``fees`` collects trading fees, ``pnl`` is realized PnL's counterpart);
* an order row reflects every state change: accepted (NEW), fills (PARTIALLY_FILLED /
  FILLED, ``remaining``, ``filled``, ``notional``), amendments and cancels; a REJECTED
  event changes nothing (a refused place never had an order id);
* a position that goes to zero or flips side leaves one ``closed_positions`` row;
* an event without a body changes nothing (a refused transfer, or a balance change the
  engine elided because a later one in the batch supersedes it).

Speed: prices, quantities and fees of fills and trades stay the exact decimal text the
engine sent (they are only copied); ``Decimal`` is used where rows do arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from trademesh.v1 import event_pb2, order_pb2

SETTLEMENT_ASSET = "USD"  # every perp settles in USD (the engine's MarketConfig invariant)
MINUTE_MS = 60_000
ZERO = Decimal(0)
SIDE = {order_pb2.BUY: "BUY", order_pb2.SELL: "SELL"}


@dataclass(slots=True)
class OrderRow:
    order_id: int
    user_id: str
    market: str
    client_order_id: str | None
    side: str
    type: str
    tif: str
    status: str
    price: Decimal | None
    quantity: Decimal
    remaining: Decimal
    filled: Decimal
    notional: Decimal
    reason: str | None
    created_ms: int
    updated_ms: int
    event_seq: int


@dataclass(slots=True)
class PositionRow:
    user_id: str
    market: str
    size: Decimal  # signed
    cost: Decimal
    entry_price: Decimal
    margin: Decimal
    realized_pnl: Decimal
    realized_at_open: Decimal
    opened_ms: int
    event_seq: int


@dataclass(slots=True)
class Candle:
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    first_trade: int
    last_trade: int
    trades: int


@dataclass(slots=True)
class Rows:
    """Everything one batch writes; append-only lists and last-state-wins upserts."""

    orders: dict[int, OrderRow]
    positions: dict[tuple[str, str], PositionRow]
    fills: list[tuple[object, ...]] = field(default_factory=list)
    trades: list[tuple[object, ...]] = field(default_factory=list)
    ledger: list[tuple[object, ...]] = field(default_factory=list)
    closed: list[tuple[object, ...]] = field(default_factory=list)
    funding: list[tuple[object, ...]] = field(default_factory=list)
    liquidations: list[tuple[object, ...]] = field(default_factory=list)
    balances: dict[tuple[str, str], tuple[Decimal, Decimal, int]] = field(default_factory=dict)
    candles: dict[tuple[str, int], Candle] = field(default_factory=dict)
    changed_orders: set[int] = field(default_factory=set)
    new_orders: set[int] = field(default_factory=set)  # created in the batch: not in the DB
    changed_positions: set[tuple[str, str]] = field(default_factory=set)


def touched_orders(events: list[event_pb2.EngineEvent]) -> set[int]:
    """Order ids the batch changes but does not create: their rows must be loaded."""
    created: set[int] = set()
    needed: set[int] = set()
    for ev in events:
        kind = ev.WhichOneof("body")
        if kind == "order" and ev.order.order_id and ev.order.status != order_pb2.REJECTED:
            oid = int(ev.order.order_id)
            (created if ev.order.status == order_pb2.NEW else needed).add(oid)
        elif kind == "execution":
            needed.update((int(ev.execution.taker.order_id), int(ev.execution.maker.order_id)))
    return needed - created


def touched_positions(events: list[event_pb2.EngineEvent]) -> set[tuple[str, str]]:
    return {(ev.position.user_id, ev.position.market) for ev in events
            if ev.WhichOneof("body") == "position"}


def touched(events: list[event_pb2.EngineEvent]) -> tuple[set[int], set[tuple[str, str]]]:
    """:func:`touched_orders` and :func:`touched_positions` in one pass."""
    created: set[int] = set()
    needed: set[int] = set()
    keys: set[tuple[str, str]] = set()
    for ev in events:
        kind = ev.WhichOneof("body")
        if kind == "execution":
            ex = ev.execution
            needed.add(int(ex.taker.order_id))
            needed.add(int(ex.maker.order_id))
        elif kind == "order" and ev.order.order_id and ev.order.status != order_pb2.REJECTED:
            oid = int(ev.order.order_id)
            (created if ev.order.status == order_pb2.NEW else needed).add(oid)
        elif kind == "position":
            keys.add((ev.position.user_id, ev.position.market))
    return needed - created, keys


def ms(ev: event_pb2.EngineEvent) -> int:
    return ev.time.seconds * 1000 + ev.time.nanos // 1_000_000


def fold(events: list[event_pb2.EngineEvent], orders: dict[int, OrderRow],
         positions: dict[tuple[str, str], PositionRow]) -> Rows:
    """Folds ``events`` (consecutive, in order) over the loaded prior state."""
    rows = Rows(orders, positions)
    balances: dict[tuple[str, str], tuple[str, str, int]] = {}
    for ev in events:
        kind = ev.WhichOneof("body")
        if kind is None:
            continue
        if kind == "balance":
            b = ev.balance
            balances[b.user_id, b.balance.asset] = (b.balance.available, b.balance.locked,
                                                    ev.sequence)
        elif kind == "execution":
            _execution(rows, ev, ms(ev))
        elif kind == "order":
            _order(rows, ev)
        elif kind == "position":
            _position(rows, ev)
        elif kind == "transfer":
            _transfer(rows, ev)
        elif kind == "funding":
            _funding(rows, ev)
        elif kind == "liquidation":
            _liquidation(rows, ev)
    rows.balances = {k: (Decimal(a), Decimal(lk), q) for k, (a, lk, q) in balances.items()}
    return rows


def _order(rows: Rows, ev: event_pb2.EngineEvent) -> None:
    o, t = ev.order, ms(ev)
    if not o.order_id or o.status == order_pb2.REJECTED:
        return
    oid = int(o.order_id)
    if o.status == order_pb2.NEW:
        qty = Decimal(o.quantity)
        rows.orders[oid] = OrderRow(
            oid, o.user_id, o.market, o.client_order_id or None, SIDE[o.side],
            order_pb2.OrderType.Name(o.type), order_pb2.TimeInForce.Name(o.time_in_force),
            "NEW", Decimal(o.price) if o.price else None, qty, qty, ZERO, ZERO, None, t, t,
            ev.sequence)
        rows.new_orders.add(oid)
    else:
        row = rows.orders[oid]
        if o.status == order_pb2.CANCELED:
            row.status, row.reason, row.remaining = "CANCELED", o.reason, ZERO
        else:  # an amendment: new price and remaining quantity
            row.price, row.remaining = Decimal(o.price), Decimal(o.quantity)
            row.quantity = row.filled + row.remaining
        row.updated_ms, row.event_seq = t, ev.sequence
    rows.changed_orders.add(oid)


def _execution(rows: Rows, ev: event_pb2.EngineEvent, t: int) -> None:
    ex, seq = ev.execution, ev.sequence
    trade = ex.trade
    price_text, qty_text, market = trade.price, trade.quantity, trade.market
    price, qty = Decimal(price_text), Decimal(qty_text)
    notional = price * qty
    fill_id = int(trade.trade_id)
    ref = f"fill:{fill_id}"
    for fill, remaining in ((ex.taker, ex.taker_remaining), (ex.maker, ex.maker_remaining)):
        liquidity = "TAKER" if fill.liquidity == order_pb2.TAKER else "MAKER"
        oid = int(fill.order_id)
        rows.fills.append((fill_id, liquidity, oid, fill.user_id, market, SIDE[fill.side],
                           price_text, qty_text, fill.fee, fill.fee_asset, t, seq))
        _fill_order(rows, oid, Decimal(remaining), qty, notional, t, seq)
        fee = ZERO if fill.fee == "0" else Decimal(fill.fee)  # the engine's zero is "0"
        if fee:
            _post(rows, seq, t, ex.quote_asset, fee, "FEE", ref, market,
                  (f"user:{fill.user_id}", fill.user_id), ("fees", None))
    if not ex.perp:  # spot: base from seller to buyer, quote from buyer to seller
        buyer, seller = (ex.taker, ex.maker) if ex.taker.side == order_pb2.BUY \
            else (ex.maker, ex.taker)
        b, s = (f"user:{buyer.user_id}", buyer.user_id), (f"user:{seller.user_id}",
                                                          seller.user_id)
        _post(rows, seq, t, ex.base_asset, qty, "TRADE", ref, market, s, b)
        _post(rows, seq, t, ex.quote_asset, notional, "TRADE", ref, market, b, s)
    rows.trades.append((fill_id, market, price_text, qty_text, trade.taker_side, t))
    _candle(rows, market, t, fill_id, price, qty)


def _fill_order(rows: Rows, oid: int, remaining: Decimal, qty: Decimal, notional: Decimal,
                t: int, seq: int) -> None:
    row = rows.orders[oid]
    row.remaining, row.filled, row.notional = remaining, row.filled + qty, row.notional + notional
    row.status = "FILLED" if remaining == 0 else "PARTIALLY_FILLED"
    row.updated_ms, row.event_seq = t, seq
    rows.changed_orders.add(oid)


def _post(rows: Rows, seq: int, t: int, asset: str, amount: Decimal, kind: str, ref: str,
          market: str | None, debit: tuple[str, str | None], credit: tuple[str, str | None]
          ) -> None:
    """One double-entry transaction: ``amount`` moves from ``debit`` to ``credit``."""
    rows.ledger.append((seq, debit[0], debit[1], asset, -amount, kind, ref, market, t))
    rows.ledger.append((seq, credit[0], credit[1], asset, amount, kind, ref, market, t))


def _transfer(rows: Rows, ev: event_pb2.EngineEvent) -> None:
    tr = ev.transfer
    amount = Decimal(tr.amount)
    kind = "DEPOSIT" if amount > 0 else "WITHDRAWAL"
    ref = f"tx:{tr.transaction_id}" if tr.transaction_id else f"event:{ev.sequence}"
    _post(rows, ev.sequence, ms(ev), tr.asset, amount, kind, ref, None,
          ("external", None), (f"user:{ev.user_id}", ev.user_id))


def _funding(rows: Rows, ev: event_pb2.EngineEvent) -> None:
    """A funding payment: its history row, and the money between the user and the
    ``funding`` account (which nets to the insurance fund's rounding share)."""
    f, t = ev.funding, ms(ev)
    amount = Decimal(f.amount)
    rows.funding.append((f.user_id, f.market, Decimal(f.rate), Decimal(f.position_size),
                         amount, t, ev.sequence))
    _post(rows, ev.sequence, t, "USD", amount, "FUNDING", f"funding:{ev.sequence}", f.market,
          ("funding", None), (f"user:{f.user_id}", f.user_id))


def _liquidation(rows: Rows, ev: event_pb2.EngineEvent) -> None:
    q = ev.liquidation
    rows.liquidations.append((q.liquidation_id, q.user_id, q.market, SIDE[q.side],
                              Decimal(q.size), Decimal(q.price), Decimal(q.fee),
                              Decimal(q.insurance_fund_delta), ms(ev), ev.sequence))


def _position(rows: Rows, ev: event_pb2.EngineEvent) -> None:
    p, t, seq = ev.position, ms(ev), ev.sequence
    key = (p.user_id, p.market)
    size = Decimal(p.size) * (-1 if p.side == order_pb2.SELL else 1)
    realized = Decimal(p.realized_pnl)
    old = rows.positions.get(key)
    before = old.realized_pnl if old else ZERO
    if realized != before:
        _post(rows, seq, t, SETTLEMENT_ASSET, realized - before, "REALIZED_PNL",
              f"event:{seq}", p.market, ("pnl", None), (f"user:{p.user_id}", p.user_id))
    old_size = old.size if old else ZERO
    flipped = old_size * size < 0
    if old is not None and old_size and (size == 0 or flipped):
        rows.closed.append((p.user_id, p.market, "BUY" if old_size > 0 else "SELL",
                            abs(old_size), old.entry_price, realized - old.realized_at_open,
                            old.opened_ms, t, seq))
    opening = size != 0 and (old_size == 0 or flipped)
    rows.positions[key] = PositionRow(
        p.user_id, p.market, size, Decimal(p.cost), Decimal(p.entry_price), Decimal(p.margin),
        realized, realized if opening or old is None else old.realized_at_open,
        t if opening or old is None else old.opened_ms, seq)
    rows.changed_positions.add(key)


def _candle(rows: Rows, market: str, t: int, trade: int, price: Decimal, qty: Decimal) -> None:
    key = (market, t - t % MINUTE_MS)
    c = rows.candles.get(key)
    if c is None:
        rows.candles[key] = Candle(price, price, price, price, qty, trade, trade, 1)
        return
    c.high, c.low, c.close = max(c.high, price), min(c.low, price), price
    c.volume += qty
    c.last_trade, c.trades = trade, c.trades + 1
