"""Balances and perp positions, in integer minor units.

Invariants:

* Per asset: sum over all accounts (including :data:`FEE_ACCOUNT`) of
  ``available + locked``, plus every perp position's ``margin``, minus every perp
  position's signed ``cost`` equals deposits minus withdrawals. (Perp PnL is zero-sum:
  realized PnL paid to closers equals the cost basis still carried by open positions.)
* ``locked`` of (user, asset) equals the sum of ``locked`` of the user's open orders
  locking that asset.
* ``available`` only goes below zero through a realized perp loss larger than the
  position's margin plus the free collateral (bad debt, for liquidation to handle later).
* Every mutation marks the (user, asset) / (user, market) as touched so the engine emits
  exactly one ``BalanceChanged`` / ``PositionChanged`` for it per command.
"""

from __future__ import annotations

from engine_svc.core.enums import Side

FEE_ACCOUNT = "__fees__"
"""Account id collecting every trading fee (in the market's quote asset)."""

_SELL = Side.SELL


class Position:
    """Signed size (lots, long > 0), signed cost basis (quote minor units) and margin."""

    __slots__ = ("cost", "margin", "realized", "size")

    def __init__(self, size: int = 0, cost: int = 0, margin: int = 0, realized: int = 0) -> None:
        self.size = size
        self.cost = cost
        self.margin = margin
        self.realized = realized

    def reducible(self, side: Side) -> int:
        """Lots an order on ``side`` can close without opening the other way."""
        size = self.size
        if side is _SELL:
            return size if size > 0 else 0
        return -size if size < 0 else 0

    def as_list(self) -> list[int]:
        return [self.size, self.cost, self.margin, self.realized]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Position) and self.as_list() == other.as_list()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return "Position(size={}, cost={}, margin={}, realized={})".format(*self.as_list())


class Ledger:
    """All balances (``[available, locked]`` per user and asset) and positions."""

    __slots__ = ("balances", "positions", "touched_balances", "touched_positions")

    def __init__(self) -> None:
        self.balances: dict[str, dict[str, list[int]]] = {}
        self.positions: dict[tuple[str, str], Position] = {}
        self.touched_balances: dict[tuple[str, str], None] = {}
        self.touched_positions: dict[tuple[str, str], None] = {}

    def balance(self, user: str, asset: str) -> list[int]:
        """The mutable ``[available, locked]`` pair, created at zero; marks it touched."""
        self.touched_balances[user, asset] = None
        assets = self.balances.get(user)
        if assets is None:
            assets = self.balances[user] = {}
        pair = assets.get(asset)
        if pair is None:
            pair = assets[asset] = [0, 0]
        return pair

    def peek(self, user: str, asset: str) -> tuple[int, int]:
        """Read-only ``(available, locked)``."""
        pair = self.balances.get(user, {}).get(asset)
        return (pair[0], pair[1]) if pair else (0, 0)

    def available(self, user: str, asset: str) -> int:
        pair = self.balances.get(user, {}).get(asset)
        return pair[0] if pair else 0

    def lock(self, user: str, asset: str, amount: int) -> None:
        pair = self.balance(user, asset)
        pair[0] -= amount
        pair[1] += amount

    def unlock(self, user: str, asset: str, amount: int) -> None:
        pair = self.balance(user, asset)
        pair[0] += amount
        pair[1] -= amount

    def position(self, user: str, market: str) -> Position:
        key = (user, market)
        self.touched_positions[key] = None
        pos = self.positions.get(key)
        if pos is None:
            pos = self.positions[key] = Position()
        return pos

    def reducible(self, user: str, market: str, side: Side) -> int:
        pos = self.positions.get((user, market))
        return pos.reducible(side) if pos else 0
