"""The feed's L2 view of one market: price → quantity per side, at a depth sequence.

Invariants:

* ``sequence`` is the sequence of the last snapshot or diff applied; a diff applies only
  when its sequence is exactly one higher. Any other diff is a gap: the book becomes
  invalid (and serves no snapshot) until the next snapshot.
* Quantity "0" removes a level. Prices and quantities stay the engine's exact decimal text.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

Level = tuple[str, str]


@dataclass(slots=True)
class Book:
    market: str
    sequence: int = 0
    valid: bool = False
    bids: dict[str, str] = field(default_factory=dict)
    asks: dict[str, str] = field(default_factory=dict)

    def reset(self, sequence: int, bids: Iterable[Level], asks: Iterable[Level]) -> bool:
        """Replaces the book with a snapshot; True when it continues the current one (same
        sequence and levels), so subscribers need not be told."""
        new_bids, new_asks = dict(bids), dict(asks)
        continuous = (self.valid and sequence == self.sequence
                      and new_bids == self.bids and new_asks == self.asks)
        self.sequence, self.valid, self.bids, self.asks = sequence, True, new_bids, new_asks
        return continuous

    def apply(self, sequence: int, bids: Iterable[Level], asks: Iterable[Level]) -> bool:
        """Applies a diff; False (and the book invalid) on a sequence gap."""
        if not self.valid or sequence != self.sequence + 1:
            self.valid = False
            return False
        for side, levels in ((self.bids, bids), (self.asks, asks)):
            for price, quantity in levels:
                if Decimal(quantity) == 0:
                    side.pop(price, None)
                else:
                    side[price] = quantity
        self.sequence = sequence
        return True

    def levels(self) -> tuple[list[Level], list[Level]]:
        """(bids, asks), best first."""
        bids = sorted(self.bids.items(), key=lambda lv: Decimal(lv[0]), reverse=True)
        asks = sorted(self.asks.items(), key=lambda lv: Decimal(lv[0]))
        return bids, asks

    def best(self) -> tuple[str, str]:
        """Best bid and ask price text ("" for an empty side)."""
        bid = max(self.bids, key=Decimal, default="")
        ask = min(self.asks, key=Decimal, default="")
        return bid, ask
