"""Perp events: index and mark prices, liquidations, funding, triggers (stops, SL/TP).

Written like :mod:`engine_svc.core.events` (dataclasses with their ``__init__`` spelled
out, immutable by contract); ``Event`` there is the union of both families.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine_svc.core.enums import CancelReason, RejectReason, Side, TriggerKind


@dataclass(slots=True, init=False)
class IndexPriceSet:
    """A perp market's new index price and the mark price sampled with it (ticks)."""

    seq: int
    cmd_seq: int
    market: str
    index_price: int
    mark_price: int
    ts: int

    def __init__(
        self, seq: int, cmd_seq: int, market: str, index_price: int, mark_price: int, ts: int,
    ) -> None:
        self.seq = seq
        self.cmd_seq = cmd_seq
        self.market = market
        self.index_price = index_price
        self.mark_price = mark_price
        self.ts = ts


@dataclass(slots=True, init=False)
class PerpCommandRejected:
    """A SetIndexPrice / SettleFunding that changed nothing (UNKNOWN_MARKET, INVALID_PRICE)."""

    seq: int
    cmd_seq: int
    market: str
    reason: RejectReason

    def __init__(self, seq: int, cmd_seq: int, market: str, reason: RejectReason) -> None:
        self.seq = seq
        self.cmd_seq = cmd_seq
        self.market = market
        self.reason = reason


@dataclass(slots=True, init=False)
class PositionLiquidated:
    """One position of a user below maintenance margin, closed at ``mark_price``.

    ``size`` is the signed size before liquidation; ``closed_on_book`` lots were sold or
    bought back against the book (their OrderFilled events precede this one), the rest
    (``taken_by_fund``, unsigned lots) went to the insurance fund at ``mark_price``.
    ``fee`` is this position's share of the liquidation fee (to the insurance fund);
    ``fund_covered`` the user's deficit the fund paid (on the last position only).
    """

    seq: int
    cmd_seq: int
    user_id: str
    market: str
    size: int
    mark_price: int
    closed_on_book: int
    taken_by_fund: int
    fee: int
    fund_covered: int
    ts: int
    position_id: int

    def __init__(
        self, seq: int, cmd_seq: int, user_id: str, market: str, size: int, mark_price: int,
        closed_on_book: int, taken_by_fund: int, fee: int, fund_covered: int, ts: int,
        position_id: int = 0,
    ) -> None:
        self.seq = seq
        self.cmd_seq = cmd_seq
        self.user_id = user_id
        self.market = market
        self.size = size
        self.mark_price = mark_price
        self.closed_on_book = closed_on_book
        self.taken_by_fund = taken_by_fund
        self.fee = fee
        self.fund_covered = fund_covered
        self.ts = ts
        self.position_id = position_id


@dataclass(slots=True, init=False)
class FundingPaid:
    """A funding payment: ``amount`` > 0 received by the user, < 0 paid (USD minor units)."""

    seq: int
    cmd_seq: int
    user_id: str
    market: str
    size: int
    rate_ppm: int
    amount: int
    ts: int
    position_id: int

    def __init__(
        self, seq: int, cmd_seq: int, user_id: str, market: str, size: int, rate_ppm: int,
        amount: int, ts: int, position_id: int = 0,
    ) -> None:
        self.seq = seq
        self.cmd_seq = cmd_seq
        self.user_id = user_id
        self.market = market
        self.size = size
        self.rate_ppm = rate_ppm
        self.amount = amount
        self.ts = ts
        self.position_id = position_id


@dataclass(slots=True, init=False)
class FundingSettled:
    """A funding round: rate in parts per million of notional at ``mark_price``.

    ``to_insurance_fund`` is the rounding remainder (payers pay ceil, receivers get floor).
    """

    seq: int
    cmd_seq: int
    market: str
    mark_price: int
    index_price: int
    rate_ppm: int
    to_insurance_fund: int
    ts: int

    def __init__(
        self, seq: int, cmd_seq: int, market: str, mark_price: int, index_price: int,
        rate_ppm: int, to_insurance_fund: int, ts: int,
    ) -> None:
        self.seq = seq
        self.cmd_seq = cmd_seq
        self.market = market
        self.mark_price = mark_price
        self.index_price = index_price
        self.rate_ppm = rate_ppm
        self.to_insurance_fund = to_insurance_fund
        self.ts = ts


@dataclass(slots=True, init=False)
class TriggerPlaced:
    """A trigger now armed (see :class:`~engine_svc.core.commands.PlaceTrigger`).

    ``quantity`` 0 means the whole position (a stop-loss / take-profit without one);
    ``order_id`` is the order a stop-loss / take-profit came with (0 for none): it then
    holds that order's filled lots, growing with its fills (:class:`TriggerUpdated`).
    ``limit_price`` is a STOP_LIMIT's (0 otherwise).
    """

    seq: int
    cmd_seq: int
    trigger_id: int
    user_id: str
    market: str
    side: Side
    kind: TriggerKind
    trigger_price: int
    quantity: int
    limit_price: int
    order_id: int
    ts: int
    position_id: int

    def __init__(
        self, seq: int, cmd_seq: int, trigger_id: int, user_id: str, market: str, side: Side,
        kind: TriggerKind, trigger_price: int, quantity: int, limit_price: int, order_id: int,
        ts: int, position_id: int = 0,
    ) -> None:
        self.seq = seq
        self.cmd_seq = cmd_seq
        self.trigger_id = trigger_id
        self.user_id = user_id
        self.market = market
        self.side = side
        self.kind = kind
        self.trigger_price = trigger_price
        self.quantity = quantity
        self.limit_price = limit_price
        self.order_id = order_id
        self.ts = ts
        self.position_id = position_id


@dataclass(slots=True, init=False)
class TriggerUpdated:
    """An armed trigger after a move (``MoveTrigger``) or a fill of its order (``quantity``
    is then the order's filled lots)."""

    seq: int
    cmd_seq: int
    trigger_id: int
    user_id: str
    market: str
    trigger_price: int
    limit_price: int
    quantity: int
    ts: int

    def __init__(
        self, seq: int, cmd_seq: int, trigger_id: int, user_id: str, market: str,
        trigger_price: int, limit_price: int, quantity: int, ts: int,
    ) -> None:
        self.seq = seq
        self.cmd_seq = cmd_seq
        self.trigger_id = trigger_id
        self.user_id = user_id
        self.market = market
        self.trigger_price = trigger_price
        self.limit_price = limit_price
        self.quantity = quantity
        self.ts = ts


@dataclass(slots=True, init=False)
class TriggerFired:
    """The mark reached the trigger; the order it places (its OrderAccepted / fills /
    cancel, or OrderRejected) follows. ``quantity`` is that order's lots."""

    seq: int
    cmd_seq: int
    trigger_id: int
    user_id: str
    market: str
    mark_price: int
    quantity: int
    kind: TriggerKind
    ts: int
    position_id: int

    def __init__(
        self, seq: int, cmd_seq: int, trigger_id: int, user_id: str, market: str, mark_price: int,
        quantity: int, kind: TriggerKind, ts: int, position_id: int = 0,
    ) -> None:
        self.seq = seq
        self.cmd_seq = cmd_seq
        self.trigger_id = trigger_id
        self.user_id = user_id
        self.market = market
        self.mark_price = mark_price
        self.quantity = quantity
        self.kind = kind
        self.ts = ts
        self.position_id = position_id


@dataclass(slots=True, init=False)
class TriggerLimitSet:
    """The per-user trigger limit in force after a ``SetTriggerLimit``."""

    seq: int
    cmd_seq: int
    limit: int
    ts: int

    def __init__(self, seq: int, cmd_seq: int, limit: int, ts: int) -> None:
        self.seq = seq
        self.cmd_seq = cmd_seq
        self.limit = limit
        self.ts = ts


@dataclass(slots=True, init=False)
class TriggerCanceled:
    """Disarmed by the user (USER), because its position closed (POSITION_CLOSED) or its
    order finished without a fill (PARENT_CANCELED)."""

    seq: int
    cmd_seq: int
    trigger_id: int
    user_id: str
    market: str
    reason: CancelReason

    def __init__(
        self, seq: int, cmd_seq: int, trigger_id: int, user_id: str, market: str,
        reason: CancelReason,
    ) -> None:
        self.seq = seq
        self.cmd_seq = cmd_seq
        self.trigger_id = trigger_id
        self.user_id = user_id
        self.market = market
        self.reason = reason


PerpEvent = (
    IndexPriceSet | PerpCommandRejected | PositionLiquidated | FundingPaid | FundingSettled
    | TriggerPlaced | TriggerUpdated | TriggerFired | TriggerCanceled | TriggerLimitSet
)
