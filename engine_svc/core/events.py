"""Events: what happened, in the past tense.

Every event carries ``seq`` (gap-free event sequence number, starting at 1) and
``cmd_seq`` (sequence number of the command that produced it). Within one command the
order is: order events (accepted/rejected, fills, cancels, replaced) first, then
``BalanceChanged`` per touched (user, asset) and ``PositionChanged`` per touched position,
each once, in first-touched order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, TypeVar

from engine_svc.core.enums import CancelReason, OrderType, RejectReason, Side, TimeInForce

_T = TypeVar("_T")


def fast_init(cls: type[_T]) -> type[_T]:
    """Give a frozen, slotted dataclass a faster ``__init__`` with the same signature.

    The dataclass-generated ``__init__`` of a frozen class calls ``object.__setattr__``
    per field; this one calls each slot's descriptor directly (pre-bound as defaults),
    about 3x faster on the matching hot path. Instances stay frozen: assignment after
    construction still raises ``FrozenInstanceError``.
    """
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    env: dict[str, Any] = {f"_s{i}": getattr(cls, n).__set__ for i, n in enumerate(names)}
    bound = ", ".join(f"_s{i}=_s{i}" for i in range(len(names)))
    body = "".join(f"\n    _s{i}(self, {n})" for i, n in enumerate(names))
    exec(f"def __init__(self, {', '.join(names)}, *, {bound}):{body}", env)
    init = env["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    setattr(cls, "__init__", init)  # noqa: B010 (mypy forbids assigning a method)
    return cls


def factory(cls: type[_T]) -> Callable[..., _T]:
    """A positional constructor for the engine's hot path, ~3x cheaper than ``cls(...)``.

    It fills a private twin class with the same slots through plain (specialised) attribute
    stores, then switches the object's ``__class__`` to ``cls``: the result is an ordinary,
    frozen ``cls`` instance, equal to ``cls(*args)``. Only the core calls it.
    """
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    twin = type(f"_{cls.__name__}Builder", (), {"__slots__": tuple(names)})
    stores = "".join(f"\n    o.{n} = {n}" for n in names)
    env: dict[str, Any] = {"_new": object.__new__, "_twin": twin, "_cls": cls}
    exec(f"def new({', '.join(names)}):\n    o = _new(_twin){stores}"
         "\n    o.__class__ = _cls\n    return o", env)
    new: Callable[..., _T] = env["new"]
    new.__qualname__ = new.__name__ = f"new_{cls.__name__}"
    return new


@fast_init
@dataclass(frozen=True, slots=True)
class OrderAccepted:
    seq: int
    cmd_seq: int
    order_id: int
    user_id: str
    market: str
    side: Side
    type: OrderType
    price: int
    quantity: int
    tif: TimeInForce
    client_order_id: str | None
    ts: int


@fast_init
@dataclass(frozen=True, slots=True)
class OrderRejected:
    """A place/cancel/replace that changed nothing.

    ``order_id`` is 0 for a rejected place (no id is consumed); ``market`` is "" for a
    cancel/replace whose order was not found.
    """

    seq: int
    cmd_seq: int
    user_id: str
    market: str
    order_id: int
    client_order_id: str | None
    reason: RejectReason


@fast_init
@dataclass(frozen=True, slots=True)
class OrderFilled:
    """One trade between a resting maker and an incoming taker; fees in quote minor units."""

    seq: int
    cmd_seq: int
    fill_id: int
    market: str
    price: int
    quantity: int
    taker_side: Side
    taker_order_id: int
    taker_user_id: str
    taker_fee: int
    taker_remaining: int
    maker_order_id: int
    maker_user_id: str
    maker_fee: int
    maker_remaining: int
    ts: int


@fast_init
@dataclass(frozen=True, slots=True)
class OrderCanceled:
    seq: int
    cmd_seq: int
    order_id: int
    user_id: str
    market: str
    canceled_quantity: int
    reason: CancelReason


@fast_init
@dataclass(frozen=True, slots=True)
class OrderReplaced:
    seq: int
    cmd_seq: int
    order_id: int
    user_id: str
    market: str
    price: int
    quantity: int
    priority_kept: bool


@fast_init
@dataclass(frozen=True, slots=True)
class BalanceChanged:
    """Balances after the command; ``locked`` is held by open orders."""

    seq: int
    cmd_seq: int
    user_id: str
    asset: str
    available: int
    locked: int


@fast_init
@dataclass(frozen=True, slots=True)
class PositionChanged:
    """Perp position after the command: signed size (lots), signed cost (quote minor units)."""

    seq: int
    cmd_seq: int
    user_id: str
    market: str
    size: int
    cost: int
    margin: int
    realized_pnl: int


@fast_init
@dataclass(frozen=True, slots=True)
class DepositApplied:
    seq: int
    cmd_seq: int
    user_id: str
    asset: str
    amount: int
    tx_id: str


@fast_init
@dataclass(frozen=True, slots=True)
class WithdrawalApplied:
    seq: int
    cmd_seq: int
    user_id: str
    asset: str
    amount: int
    tx_id: str | None


@fast_init
@dataclass(frozen=True, slots=True)
class TransferRejected:
    """A deposit/withdrawal that changed nothing (``DUPLICATE_TRANSACTION`` for a retry)."""

    seq: int
    cmd_seq: int
    user_id: str
    asset: str
    amount: int
    tx_id: str | None
    reason: RejectReason


OrderEvent = OrderAccepted | OrderRejected | OrderFilled | OrderCanceled | OrderReplaced
AccountEvent = (
    BalanceChanged | PositionChanged | DepositApplied | WithdrawalApplied | TransferRejected
)
Event = OrderEvent | AccountEvent

new_accepted = factory(OrderAccepted)
new_rejected = factory(OrderRejected)
new_filled = factory(OrderFilled)
new_canceled = factory(OrderCanceled)
new_balance = factory(BalanceChanged)
new_position = factory(PositionChanged)
