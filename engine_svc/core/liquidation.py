"""Liquidation: close out a user whose equity fell below maintenance margin.

When: at the end of every ``SetIndexPrice`` (for users with a position in that market)
and ``SettleFunding`` (users with a position in the funded market), in user-id order,
each user tested once against :func:`perp.below_maintenance` (``E < MM``). Users pushed
under by this sweep's own fills are found on the next index tick.

How, for a user being liquidated:

1. Cancel every open order of the user that locks USD (perp orders and spot buys: their
   locks are collateral counted in equity), oldest id first (``LIQUIDATION``).
2. For each position, by market: a reduce-only MARKET IOC order (no hold, leverage 1,
   accepted, filled and canceled through the ordinary matching pipeline, taker fee
   charged; nothing in a HALTED market) closes what the book absorbs at no worse than the *bound*
   ``ref * (1 -+ liquidation_slippage_bps / 1e4)`` (SELL: ceil, BUY: floor), where
   ``ref`` is the mark (the position's entry price while the market has no mark).
3. Lots the book did not absorb pass to :data:`INSURANCE_FUND` at ``ref``: the user's
   position closes there (PnL realised), the fund's position grows by the same lots with
   cost ``ref * lots * u`` and zero margin (sizes stay zero-sum).
4. Liquidation fee: per position ``ceil(|size| * ref * u * liquidation_fee_bps / 1e4)``,
   each capped by what the user's available still holds, paid to the fund.
5. If the user's USD ``available`` is still negative (a close worse than bankruptcy),
   the fund pays the deficit: the user ends at zero, never below (their loss never
   exceeds their collateral).

An isolated position (:mod:`engine_svc.core.isolated`) is swept as an account of its
own: step 1 cancels the rest of the order that opened it, steps 2-5 use only what the
position holds (the close order is its owner's, for self-trade prevention and events).

Events: the orders' own events, then one ``PositionLiquidated`` per position; the fund's
and the user's ``BalanceChanged`` / ``PositionChanged`` follow with the account events.
Conservation holds exactly: every step moves money between accounts.
"""

from __future__ import annotations

from engine_svc.core import perp
from engine_svc.core.book import Order
from engine_svc.core.enums import (
    CancelReason,
    MarketStatus,
    OrderType,
    Side,
    StpMode,
    TimeInForce,
)
from engine_svc.core.events import OrderAccepted, PositionLiquidated
from engine_svc.core.ledger import INSURANCE_FUND, ISO_PREFIX, USD, Position, PositionRef
from engine_svc.core.markets import MarketSpec
from engine_svc.core.matching import cancel, run
from engine_svc.core.risk import close_lots
from engine_svc.core.state import State
from engine_svc.core.units import ceil_div


def sweep(st: State, market: str, ts: int) -> None:
    """Liquidate every user with a position in ``market`` who is below maintenance."""
    users = sorted({u for (u, m), p in st.ledger.positions.items()
                    if m == market and p.size and u != INSURANCE_FUND})
    for user in users:
        if perp.below_maintenance(st, user):
            liquidate(st, user, ts)


def _ref_price(st: State, spec: MarketSpec, pos: Position) -> int:
    mark = st.stats[spec.symbol].mark_price
    if mark is not None:
        return mark
    return max(1, abs(pos.cost) // (abs(pos.size) * spec.notional_unit))


def _victims(st: State, user: str) -> list[Order]:
    """Step 1's orders: a cross user's USD-locking orders; for an isolated position's
    account, the rest of the order that opened it."""
    pref = _isolated(st, user)
    if pref is not None:
        opening = st.live.get(pref.pid)
        return [opening] if opening is not None and opening.user_id == pref.owner else []
    return sorted((o for o in st.live.values() if o.user_id == user
                   and o.pair is not None and o.pair.asset == USD), key=lambda o: o.id)


def _isolated(st: State, account: str) -> PositionRef | None:
    """The position of an isolated position's account (None for a user)."""
    if not account.startswith(ISO_PREFIX):
        return None
    (pref,) = st.ledger.pos_refs[account].values()
    return pref


def liquidate(st: State, user: str, ts: int) -> None:
    """Steps 1-5 of the module doc for one user (or one isolated position's account)."""
    for order in _victims(st, user):
        cancel(st, order, CancelReason.LIQUIDATION)
    pref = _isolated(st, user)
    owner, pid = (pref.owner, pref.pid) if pref is not None else (user, 0)
    records: list[tuple[str, int, int, int, int]] = []
    fees: list[int] = []
    for market, pos in st.ledger.user_positions(user):
        if not pos.size:
            continue
        spec = st.markets[market]
        ref, size = _ref_price(st, spec, pos), pos.size
        on_book = _close_on_book(st, spec, user, owner, pid, size, ref, ts)
        left = abs(pos.size)
        if left:
            _to_fund(st, spec, user, pos, ref, left)
        notional = abs(size) * ref * spec.notional_unit
        fee = ceil_div(notional * spec.liquidation_fee_bps, 10_000)
        records.append((market, size, ref, on_book, left))
        fees.append(fee)
    bal = st.ledger.balance(user, USD)
    fund = st.ledger.balance(INSURANCE_FUND, USD)
    for i, fee in enumerate(fees):
        fees[i] = charged = min(fee, max(bal.available, 0))
        bal.available -= charged
        fund.available += charged
    covered = -bal.available if bal.available < 0 else 0
    bal.available += covered
    fund.available -= covered
    for i, (market, size, ref, on_book, left) in enumerate(records):
        st.out.append(PositionLiquidated(
            st.seq(), st.last_seq, owner, market, size, ref, on_book, left, fees[i],
            covered if i == len(records) - 1 else 0, ts, pid))


def _close_on_book(st: State, spec: MarketSpec, user: str, owner: str, pid: int, size: int,
                   ref: int, ts: int) -> int:
    """Step 2: lots closed against the book within the bound (none in a halted market)."""
    if spec.status is MarketStatus.HALTED:
        return 0
    book = st.books[spec.symbol]
    slip = spec.liquidation_slippage_bps
    if size > 0:
        side, top = Side.SELL, book.best_bid()
        limit = max(1, ceil_div(ref * (10_000 - slip), 10_000))
        if top is None or top < limit:
            return 0
    else:
        side, top = Side.BUY, book.best_ask()
        limit = ref * (10_000 + slip) // 10_000
        if top is None or top > limit:
            return 0
    qty = abs(size)
    oid = st.next_order_id
    st.next_order_id = oid + 1
    order = Order(oid, owner, spec.symbol, side, OrderType.MARKET, limit, qty,
                  TimeInForce.IOC, ts, None, False, True, StpMode.CANCEL_TAKER, 1)
    order.pair = st.ledger.record(user, USD)  # an isolated position pays from its own
    order.position_id = pid
    st.out.append(OrderAccepted(st.seq(), st.last_seq, oid, owner, spec.symbol, side,
                               OrderType.MARKET, limit, qty, TimeInForce.IOC, None, ts, pid,
                               False, True, 1, StpMode.CANCEL_TAKER, slip))
    run(st, spec, book, order, limit)
    return order.filled


def _to_fund(st: State, spec: MarketSpec, user: str, pos: Position, ref: int,
             lots: int) -> None:
    """Step 3: the user's remaining ``lots`` pass to the insurance fund at ``ref``."""
    ledger, unit = st.ledger, spec.notional_unit
    sign = 1 if pos.size > 0 else -1
    ledger.position(user, spec.symbol)
    ledger.balance(user, USD).available += close_lots(pos, ref * lots * unit, lots)
    fpos = ledger.position(INSURANCE_FUND, spec.symbol).pos
    fund = ledger.balance(INSURANCE_FUND, USD)
    closing = min(lots, fpos.reducible(Side.BUY if sign > 0 else Side.SELL))
    if closing:
        fund.available += close_lots(fpos, ref * closing * unit, closing)
    opening = lots - closing
    fpos.size += sign * opening
    fpos.cost += sign * ref * opening * unit
