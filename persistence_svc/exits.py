"""How a position closed: the lots it closed and at what average price, its leverage and
the reason, folded from the fills (and liquidations) of each command.

Within one command the engine emits every fill before the position's after-state, so
:class:`Exits` follows the position's size through the command's fills from the state
its last position event left (a fill on the other side of the size closes
``min(quantity, |size|)`` lots, the rest opens the other way); the position event then
takes the command's closing lots and notional (:meth:`Exits.settle`). This needs a
command's events in one batch, which the event link guarantees (it sends whole outbox
entries, each a sequencer batch of whole commands, and persistence commits whole
batches); a batch cut inside a command would leave that command's exits partial (the
exit price then unknown) and its positions reported as unexplained. No I/O; decimal
arithmetic only.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Protocol

from trademesh.v1 import account_pb2

INSURANCE_FUND = "__insurance__"  # the engine's insurance-fund account (it takes over lots)
EXIT_PLACES = Decimal("1e-12")  # an exit price that does not terminate is rounded here
ZERO = Decimal(0)
Key = tuple[str, str, str]  # (user, market, position id: "" for the cross position)


class PositionState(Protocol):
    size: Decimal  # signed
    exit_quantity: Decimal
    exit_notional: Decimal


class Exits:
    """The current command's running sizes and closing (lots, notional) per position."""

    __slots__ = ("closing", "running")

    def __init__(self) -> None:
        self.running: dict[Key, Decimal] = {}
        self.closing: dict[Key, tuple[Decimal, Decimal]] = {}

    def trade(self, positions: Mapping[Key, PositionState], key: Key, buy: bool, qty: Decimal,
              price: Decimal) -> None:
        """``qty`` lots bought (``buy``) or sold at ``price`` on ``key``'s position."""
        size = self.running.get(key)
        if size is None:
            row = positions.get(key)
            size = row.size if row is not None else ZERO
        signed = qty if buy else -qty
        if size * signed < 0:
            lots = min(qty, abs(size))
            done, notional = self.closing.get(key, (ZERO, ZERO))
            self.closing[key] = (done + lots, notional + lots * price)
        self.running[key] = size + signed

    def settle(self, key: Key, before: PositionState | None) -> tuple[Decimal, Decimal]:
        """At ``key``'s position event: the lots closed and their notional since the
        position opened (``before``'s and this command's); the command's are forgotten."""
        self.running.pop(key, None)
        lots, notional = self.closing.pop(key, (ZERO, ZERO))
        if before is not None:
            lots, notional = lots + before.exit_quantity, notional + before.exit_notional
        return lots, notional


def exit_price(lots: Decimal, notional: Decimal, size: Decimal) -> Decimal | None:
    """The average exit price, or None when the closing lots are not all known (a position
    partly closed before exits were recorded, or an event of an older release)."""
    if not lots or lots < size:
        return None
    with localcontext() as ctx:
        ctx.prec = 60
        value = notional / lots
        return value.quantize(EXIT_PLACES).normalize() if value != value.quantize(
            EXIT_PLACES) else value.normalize()


def leverage(size: Decimal, entry_price: Decimal, margin: Decimal) -> int | None:
    """Entry notional over margin, to the nearest integer (at least 1); None without
    margin (the insurance fund's positions)."""
    if margin <= 0:
        return None
    ratio = (size * entry_price / margin).to_integral_value(ROUND_HALF_EVEN)
    return max(1, int(ratio))


def reason_name(reason: int) -> str:
    """The position event's close reason as stored; unset means closed by an order."""
    if reason == account_pb2.ClosedPosition.CLOSE_REASON_UNSPECIFIED:
        return "CLOSED"
    return account_pb2.ClosedPosition.CloseReason.Name(reason)  # type: ignore[arg-type]
