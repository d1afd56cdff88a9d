"""The pure core of persistence: a batch of ``EngineEvent`` protos → the rows to write.

No I/O. The writer loads the prior state of the orders and positions a batch touches
(:func:`touched_orders`, :func:`touched_positions`), folds the events over it in sequence
order and writes the result. Invariants (see also :mod:`persistence_svc.schema`):

* every ledger transaction sums to zero per asset (double entry; ``external`` is the
  outside world, ``fees`` collects trading fees, ``pnl`` is realized PnL's counterpart);
* an order row reflects every state change: accepted (NEW), fills (PARTIALLY_FILLED /
  FILLED, ``remaining``, ``filled``, ``notional``), amendments and cancels; a REJECTED
  event changes nothing (a refused place never had an order id); a MARKET order has no
  price, and its terms (flags, leverage, self-trade prevention, slippage, brackets) are
  those its accepting event carries, NULL when that event predates them;
* a position that goes to zero or flips side leaves one ``closed_positions`` row, with
  the lots closed since it opened, their average exit price (the closing fills', and a
  liquidation's lots taken by the insurance fund at its price), the leverage it had and
  why it closed (the position event's ``close_reason``, else CLOSED); a perp fill row
  carries the PnL it realized (the engine's figure); see :mod:`persistence_svc.exits`;
* positions are keyed by (user, market, position id): ``""`` is the netted cross
  position, any other id an isolated position (the id of the order that opened it), each
  with its own stream of position events; a fill moves the position its order names (the
  order row's ``position_id``, else cross), a liquidation the one it names, and a close
  row says ISOLATED for a position with an id;
* a runtime asset or market (``asset`` / ``market`` bodies) is one row per symbol, the last
  change winning (``markets`` keeps status, fees and leverage cap current);
* an event without a body changes nothing (a refused transfer, or a balance change the
  engine elided because a later one in the batch supersedes it).

Speed (executions are most of the stream): fills, trades and ledger entries are folded
straight into ``COPY`` lines (:mod:`persistence_svc.copy_csv`), with every distinct user,
market, asset and decimal text of a batch checked, quoted or parsed once (the memos in
:class:`Rows`); ``Decimal`` arithmetic is done only where rows need it (orders, candles,
positions), once per distinct price and quantity. :func:`fold_bodies` can be called over
consecutive slices of a batch (the writer yields to the event loop between them).
"""

from __future__ import annotations

from decimal import Decimal

from trademesh.v1 import account_pb2, event_pb2, market_pb2, order_pb2

from persistence_svc.copy_csv import Number, number, optional
from persistence_svc.exits import INSURANCE_FUND, exit_price, leverage, reason_name
from persistence_svc.fold_rows import ZERO, Candle, OrderRow, PositionKey, PositionRow, Rows

SETTLEMENT_ASSET = "USD"  # every perp settles in USD (the engine's MarketConfig invariant)
MINUTE_MS = 60_000
SIDE = {order_pb2.BUY: "BUY", order_pb2.SELL: "SELL"}
TYPE_NAME = {v: k for k, v in order_pb2.OrderType.items()}
TIF_NAME = {v: k for k, v in order_pb2.TimeInForce.items()}
STP_NAME = {v: k for k, v in order_pb2.SelfTradePrevention.items()}
KIND_NAME = {v: k for k, v in market_pb2.MarketKind.items()}
STATUS_NAME = {v: k for k, v in market_pb2.MarketStatus.items()}
MARGIN_NAME = {order_pb2.CROSS: "CROSS", order_pb2.ISOLATED: "ISOLATED"}
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


def touched_positions(events: list[event_pb2.EngineEvent]) -> set[PositionKey]:
    return {position_key(ev.position) for ev in events if ev.WhichOneof("body") == "position"}


def position_key(p: account_pb2.Position) -> PositionKey:
    return (p.user_id, p.market, p.position_id)


Body = tuple[str, event_pb2.EngineEvent]  # an event with a body, and the body's kind


def touched(events: list[event_pb2.EngineEvent]
            ) -> tuple[set[int], set[PositionKey], list[Body]]:
    """:func:`touched_orders`, :func:`touched_positions` and the events with a body (what
    :func:`fold_bodies` takes), in one pass."""
    created: set[int] = set()
    needed: set[int] = set()
    keys: set[PositionKey] = set()
    bodies: list[Body] = []
    for ev in events:
        kind = ev.WhichOneof("body")
        if kind is None:
            continue
        bodies.append((kind, ev))
        if kind == "execution":
            ex = ev.execution
            needed.add(int(ex.taker.order_id))
            needed.add(int(ex.maker.order_id))
        elif kind == "order":
            o = ev.order
            if o.order_id and (status := o.status) != order_pb2.REJECTED:
                (created if status == order_pb2.NEW else needed).add(int(o.order_id))
        elif kind == "position":
            keys.add(position_key(ev.position))
    return needed - created, keys, bodies


def ms(ev: event_pb2.EngineEvent) -> int:
    time = ev.time
    return time.seconds * 1000 + time.nanos // 1_000_000


def fold(events: list[event_pb2.EngineEvent], orders: dict[int, OrderRow],
         positions: dict[PositionKey, PositionRow]) -> Rows:
    """Folds ``events`` (consecutive, in order) over the loaded prior state."""
    rows = Rows(orders, positions)
    fold_bodies(rows, [(k, ev) for ev in events if (k := ev.WhichOneof("body")) is not None])
    return finish(rows)


def finish(rows: Rows) -> Rows:
    """The balances' last states as decimals, once every slice is folded; positions the
    batch's fills moved without a position event after them are unexplained too (a fill
    folded onto another position than the engine moved: e.g. an order of an isolated
    position whose order event lacks its ``position_id``)."""
    rows.balances = {k: (Decimal(a), Decimal(lk), q)
                     for k, (a, lk, q) in rows.balance_text.items()}
    rows.unexplained.extend(sorted(rows.exits.running))
    rows.exits.running.clear()
    return rows


def fold_bodies(rows: Rows, bodies: list[Body]) -> None:
    """Folds the events of ``bodies`` (the slice after those already folded into ``rows``;
    events without a body change nothing)."""
    balances = rows.balance_text
    for kind, ev in bodies:
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
        elif kind == "market":
            _market(rows, ev)
        elif kind == "asset":
            rows.assets[ev.asset.symbol] = (ev.asset.symbol, ev.asset.decimals, ms(ev),
                                            ev.sequence)


def _order(rows: Rows, ev: event_pb2.EngineEvent) -> None:
    o, t = ev.order, ms(ev)
    if not o.order_id or o.status == order_pb2.REJECTED:
        return
    oid = int(o.order_id)
    if o.status == order_pb2.NEW:
        qty = rows.numbers[o.quantity].value
        price = o.price if o.type != order_pb2.MARKET else ""  # older links sent the bound
        row = rows.orders[oid] = OrderRow(
            oid, o.user_id, o.market, o.client_order_id or None, SIDE[o.side],
            TYPE_NAME[o.type], TIF_NAME[o.time_in_force], "NEW",
            rows.numbers[price].value if price else None, qty, qty, ZERO, ZERO, None, t, t,
            ev.sequence, MARGIN_NAME.get(o.margin_mode), o.position_id or None)
        if o.self_trade_prevention:
            _terms(rows, row, o)
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
    """Two fills, one trade, the fee postings and (spot) the base and quote postings."""
    ex, seq, nums, fields = ev.execution, ev.sequence, rows.numbers, rows.fields
    trade, taker, maker = ex.trade, ex.taker, ex.maker
    price_text, qty_text = trade.price, trade.quantity
    price, qty = nums[price_text], nums[qty_text]
    notional = rows.notionals.get((price_text, qty_text))
    if notional is None:
        notional = rows.notionals[price_text, qty_text] = number(price.value * qty.value)
    fill_id, market, quote = int(trade.trade_id), fields[trade.market], fields[ex.quote_asset]
    line = f"{price.text},{qty.text}"  # the fill lines' price and quantity
    tail = f"fill:{fill_id},{market},{t}\n"  # the ledger lines' reference, market, time
    for fill, remaining, liquidity in ((taker, ex.taker_remaining, "TAKER"),
                                       (maker, ex.maker_remaining, "MAKER")):
        oid, fee, user = int(fill.order_id), nums[fill.fee], fields[fill.user_id]
        order = rows.orders[oid]
        realized = nums[fill.realized_pnl].text if fill.realized_pnl else ""  # NULL: spot
        rows.fills.append(f"{fill_id},{liquidity},{oid},{user},{market},{SIDE[fill.side]},"
                          f"{line},{fee.text},{fields[fill.fee_asset]},{t},{seq},{realized}\n")
        if ex.perp:
            rows.exits.trade(rows.positions, (fill.user_id, trade.market,
                                              order.position_id or ""),
                             fill.side == order_pb2.BUY, qty.value, price.value)
        _fill_order(rows, order, nums[remaining].value, qty.value, notional.value, t, seq)
        if fee.value:  # _post's order and signs
            rows.ledger.append(f"{seq},{rows.accounts[fill.user_id]},{user},{quote},"
                               f"{fee.negated},FEE,{tail}")
            rows.ledger.append(f"{seq},fees,,{quote},{fee.text},FEE,{tail}")
    if not ex.perp:
        buy = taker.side == order_pb2.BUY
        _spot(rows, f"{seq},", (taker if buy else maker).user_id,
              (maker if buy else taker).user_id, (fields[ex.base_asset], qty),
              (quote, notional), f",TRADE,{tail}")
    rows.trades.append(f"{fill_id},{market},{line},{fields[trade.taker_side]},{t}\n")
    _candle(rows, trade.market, t, fill_id, price.value, qty.value)


def _spot(rows: Rows, head: str, buyer: str, seller: str, base: tuple[str, Number],
          quote: tuple[str, Number], tail: str) -> None:
    """A spot fill's postings (as :func:`_post`): the base quantity from seller to buyer,
    the notional from buyer to seller."""
    b = f"{head}{rows.accounts[buyer]},{rows.fields[buyer]},"
    s = f"{head}{rows.accounts[seller]},{rows.fields[seller]},"
    (base_asset, qty), (quote_asset, notional) = base, quote
    rows.ledger += (f"{s}{base_asset},{qty.negated}{tail}", f"{b}{base_asset},{qty.text}{tail}",
                    f"{b}{quote_asset},{notional.negated}{tail}",
                    f"{s}{quote_asset},{notional.text}{tail}")


def _terms(rows: Rows, row: OrderRow, o: order_pb2.Order) -> None:
    """The order's terms, from an accepting event that carries them (the engine always sets
    a self-trade prevention mode then; events of older engines leave the row's None)."""
    row.post_only, row.reduce_only, row.leverage = o.post_only, o.reduce_only, o.leverage
    row.self_trade_prevention = STP_NAME[o.self_trade_prevention]
    row.slippage_bps = o.slippage_bps
    row.stop_loss = rows.numbers[o.stop_loss].value if o.stop_loss else None
    row.take_profit = rows.numbers[o.take_profit].value if o.take_profit else None


def _fill_order(rows: Rows, row: OrderRow, remaining: Decimal, qty: Decimal,
                notional: Decimal, t: int, seq: int) -> None:
    row.remaining, row.filled, row.notional = remaining, row.filled + qty, row.notional + notional
    row.status = "FILLED" if remaining == 0 else "PARTIALLY_FILLED"
    row.updated_ms, row.event_seq = t, seq
    rows.changed_orders.add(row.order_id)


def _post(rows: Rows, seq: int, t: int, asset: str, amount: Decimal, kind: str, ref: str,
          market: str | None, debit: tuple[str, str | None], credit: tuple[str, str | None]
          ) -> None:
    """One double-entry transaction: ``amount`` moves from ``debit`` to ``credit``
    (:func:`_execution` writes its postings the same way, inline)."""
    asset, rest = rows.fields[asset], f",{kind},{rows.fields[ref]},{optional(market)},{t}\n"
    rows.ledger.append(f"{seq},{rows.fields[debit[0]]},{optional(debit[1])},{asset},{-amount}"
                       f"{rest}")
    rows.ledger.append(f"{seq},{rows.fields[credit[0]]},{optional(credit[1])},{asset},{amount}"
                       f"{rest}")


def _market(rows: Rows, ev: event_pb2.EngineEvent) -> None:
    m = ev.market
    rows.markets[m.symbol] = (
        m.symbol, KIND_NAME[m.kind], m.base_asset, m.quote_asset, Decimal(m.tick_size),
        Decimal(m.lot_size), Decimal(m.min_quantity), m.max_leverage, m.maker_fee_bps,
        m.taker_fee_bps, Decimal(m.maintenance_margin_rate) if m.maintenance_margin_rate
        else None, STATUS_NAME[m.status], ms(ev), ev.sequence)


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
                         amount, t, ev.sequence, f.position_id or None))
    _post(rows, ev.sequence, t, "USD", amount, "FUNDING", f"funding:{ev.sequence}", f.market,
          ("funding", None), (f"user:{f.user_id}", f.user_id))


def _liquidation(rows: Rows, ev: event_pb2.EngineEvent) -> None:
    """Its history row; lots the insurance fund took over close the user's position (and
    may close the fund's) at the liquidation price, like a fill between them."""
    q = ev.liquidation
    price = Decimal(q.price)
    on_book = Decimal(q.closed_on_book) if q.closed_on_book else None
    taken = Decimal(q.taken_by_fund) if q.taken_by_fund else None
    rows.liquidations.append((q.liquidation_id, q.user_id, q.market, SIDE[q.side],
                              Decimal(q.size), price, Decimal(q.fee),
                              Decimal(q.insurance_fund_delta), ms(ev), ev.sequence, on_book,
                              taken, q.position_id or None))
    if taken:
        long = q.side == order_pb2.BUY
        rows.exits.trade(rows.positions, (q.user_id, q.market, q.position_id), not long, taken,
                         price)
        rows.exits.trade(rows.positions, (INSURANCE_FUND, q.market, ""), long, taken, price)


def _position(rows: Rows, ev: event_pb2.EngineEvent) -> None:
    p, t, seq = ev.position, ms(ev), ev.sequence
    key = position_key(p)
    size = Decimal(p.size) * (-1 if p.side == order_pb2.SELL else 1)
    realized = Decimal(p.realized_pnl)
    old = rows.positions.get(key)
    before = old.realized_pnl if old else ZERO
    if realized != before:
        _post(rows, seq, t, SETTLEMENT_ASSET, realized - before, "REALIZED_PNL",
              f"event:{seq}", p.market, ("pnl", None), (f"user:{p.user_id}", p.user_id))
    old_size = old.size if old else ZERO
    flipped = old_size * size < 0
    traced = rows.exits.running.get(key)
    if traced is not None and traced != size:
        rows.unexplained.append(key)
    exit_qty, exit_notional = rows.exits.settle(key, old)
    closed = old is not None and old_size != 0 and (size == 0 or flipped)
    if closed:
        assert old is not None
        rows.closed.append((p.user_id, p.market, "BUY" if old_size > 0 else "SELL",
                            max(exit_qty, abs(old_size)), old.entry_price,
                            realized - old.realized_at_open, old.opened_ms, t, seq,
                            exit_price(exit_qty, exit_notional, abs(old_size)),
                            leverage(abs(old_size), old.entry_price, old.margin),
                            "ISOLATED" if p.position_id else "CROSS",
                            reason_name(ev.close_reason), p.position_id or None))
    opening = size != 0 and (old_size == 0 or flipped)
    if closed or opening:
        exit_qty = exit_notional = ZERO  # a new position's exits start now
    rows.positions[key] = PositionRow(
        p.user_id, p.market, size, Decimal(p.cost), Decimal(p.entry_price), Decimal(p.margin),
        realized, realized if opening or old is None else old.realized_at_open,
        t if opening or old is None else old.opened_ms, seq, exit_qty, exit_notional,
        p.position_id)
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
