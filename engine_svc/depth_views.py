"""Each market's depth sequence: the one counter of ``depth@M`` and REST depth.

A :class:`DepthViews` keeps, per market, the top ``levels`` price levels per side of the
*durable* book and the market's depth sequence: a batch's touched markets are read when
it is applied (:meth:`DepthViews.stage`, before the sequencer applies the next batch) and
become the views once it is journaled (:meth:`DepthViews.advance`), both on the
sequencer's task. Every batch that changes a market's view gives it one diff with
the next sequence. The feed's ``depth@M`` carries those diffs and snapshots of the views;
``Engine.GetDepth`` answers from the same views with the same sequence, so a REST snapshot
and the WebSocket diffs stitch: apply the diffs whose sequence is above the snapshot's.

Invariants:

* Per market, sequences are consecutive and only grow, also across engine restarts: they
  start at the engine's command sequence when the views are built (a market's diffs never
  outnumber the commands applied, so no number is ever issued twice).
* A view and its sequence change together, on the sequencer's task only: a reader on the
  event loop always sees a consistent pair.
* Levels leaving the top ``levels`` are removed with quantity 0; levels deeper than that are
  not tracked (a REST snapshot deeper than ``levels`` is read from the book directly).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from engine_svc.batch_scan import book_markets, changes
from engine_svc.core.events import Event
from engine_svc.sequencer import Sequencer

Levels = list[tuple[int, int]]  # (price ticks, quantity lots), best first
Depth = tuple[Levels, Levels]
LEVELS = 100  # per side: the depth of depth@M's book


@dataclass(frozen=True, slots=True)
class DepthDiff:
    market: str
    sequence: int
    bids: Levels
    asks: Levels


class DepthViews:
    def __init__(self, sequencer: Sequencer, levels: int = LEVELS) -> None:
        self._sequencer, self.levels = sequencer, levels
        self._views: dict[str, Depth] = {}
        self._sequence: dict[str, int] = {}
        self._base = sequencer.engine.last_seq
        self._staged: deque[dict[str, Depth]] = deque()  # applied batches' reads, in order
        for market in sorted(sequencer.config.markets):
            self._read(market)

    def view(self, market: str) -> tuple[int, Levels, Levels]:
        """(sequence, bids, asks) of ``market``'s view, best first."""
        if market not in self._views:
            self._read(market)
        bids, asks = self._views[market]
        return self._sequence[market], bids, asks

    def markets(self) -> list[str]:
        return sorted(self._views)

    def stage(self, markets: Iterable[str]) -> None:
        """A batch was applied: reads its touched markets, kept until it is durable."""
        self._staged.append({market: self._read_view(market) for market in markets})

    def advance(self) -> list[DepthDiff]:
        """The oldest staged batch is durable: its reads become the views; one diff per
        changed view."""
        return self._commit(self._staged.popleft() if self._staged else {})

    def reset(self) -> list[DepthDiff]:
        """After the state was rebuilt from the journal: staged reads dropped (their
        batches were lost), every view re-read."""
        self._staged.clear()
        self.stage(self._views)
        return self.advance()

    def _commit(self, reads: dict[str, Depth]) -> list[DepthDiff]:
        out: list[DepthDiff] = []
        for market in sorted(reads):
            old = self._views.get(market, ([], []))
            self._sequence.setdefault(market, self._base)
            new = reads[market]
            bids, asks = changes(old[0], new[0]), changes(old[1], new[1])
            if bids or asks:
                self._views[market] = new
                self._sequence[market] += 1
                out.append(DepthDiff(market, self._sequence[market], bids, asks))
        return out

    # ------------------------------------------------------------ sequencer listener
    def on_applied(self, events: list[Event]) -> None:
        """As a sequencer listener of its own (when no publisher drives it)."""
        self.stage(book_markets(events))

    def on_batch(self, events: list[Event]) -> None:
        self.advance()

    def on_reset(self) -> None:
        self.reset()

    def _read_view(self, market: str) -> Depth:
        return self._sequencer.engine.depth(market, self.levels)

    def _read(self, market: str) -> None:
        self._views[market] = self._read_view(market)
        self._sequence.setdefault(market, self._base)
