"""The order lifecycle as one transition table.

::

    NEW ──fill──> PARTIALLY_FILLED ──fill──> FILLED
     │  └─fill (complete)──────────────────> FILLED
     ├──cancel──> CANCELED <──cancel── PARTIALLY_FILLED
     └──reject──> REJECTED

FILLED, CANCELED and REJECTED are final; any transition out of them (or not listed
here) raises :class:`IllegalTransition`, which is a bug, never a user error.
"""

from __future__ import annotations

from mypy_extensions import mypyc_attr

from engine_svc.core.enums import OrderStatus

_S = OrderStatus

TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    _S.NEW: frozenset({_S.PARTIALLY_FILLED, _S.FILLED, _S.CANCELED, _S.REJECTED}),
    _S.PARTIALLY_FILLED: frozenset({_S.PARTIALLY_FILLED, _S.FILLED, _S.CANCELED}),
    _S.FILLED: frozenset(),
    _S.CANCELED: frozenset(),
    _S.REJECTED: frozenset(),
}

FINAL: frozenset[OrderStatus] = frozenset(s for s, nxt in TRANSITIONS.items() if not nxt)


@mypyc_attr(native_class=False)
class IllegalTransition(RuntimeError):
    """An order was asked to move along an edge the table does not have."""


def check_transition(current: OrderStatus, new: OrderStatus) -> OrderStatus:
    """Return ``new`` if ``current -> new`` is allowed, else raise."""
    if new not in TRANSITIONS[current]:
        raise IllegalTransition(f"{current.value} -> {new.value}")
    return new
