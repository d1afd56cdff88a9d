"""The race itself, run by ``bench/bench_peers.py`` inside a Python 3.12 virtual environment.

Three contestants replay ``matching_engine.workload.order_flow(seed=42)`` in this one
process, interleaved (peer, bare book, core; again; again) and the best of three counts:

* the peer: ``matching_engine.engine.MatchingEngine`` (PyPI ``matching-engine==0.1.1``);
* a bare book: a ``SortedDict`` of price levels, each a ``deque``, and a dict of live
  orders; price-time matching and nothing else (no accounts, no events);
* trademesh's core (compiled or interpreted, whichever this process imports), on
  SOL-PERP with 1,000 funded users at leverage 10: risk holds, margin, fees, events.

Commands are translated before the clock starts (peer ids to engine ids by a dry run).
The garbage collector is tuned as the trademesh services tune it, for all three.
"""

from __future__ import annotations

import argparse
import gc
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from matching_engine.domain import CancelOrder as PeerCancel
from matching_engine.domain import NewOrder, SequencedCommand
from matching_engine.domain import OrderType as PeerType
from matching_engine.domain import Side as PeerSide
from matching_engine.domain import TimeInForce as PeerTif
from matching_engine.engine import MatchingEngine
from matching_engine.workload import order_flow
from sortedcontainers import SortedDict

from engine_svc.core import (
    CancelOrder,
    Command,
    Deposit,
    Engine,
    OrderAccepted,
    OrderType,
    PlaceOrder,
    Side,
    TimeInForce,
    default_markets,
)
from engine_svc.core_build import core_build

MARKET = "SOL-PERP"
TIFS = {PeerTif.GTC: TimeInForce.GTC, PeerTif.IOC: TimeInForce.IOC, PeerTif.FOK: TimeInForce.FOK}


class BareBook:
    """Price-time matching on a sorted dict of FIFO levels: the floor for Python."""

    def __init__(self) -> None:
        self.bids: SortedDict = SortedDict()  # -price -> deque[[id, qty]]
        self.asks: SortedDict = SortedDict()  # price -> deque[[id, qty]]
        self.live: dict[int, tuple[SortedDict, int, list[int]]] = {}

    def new(self, o: NewOrder) -> None:
        buy = o.side is PeerSide.BUY
        book, own = (self.asks, self.bids) if buy else (self.bids, self.asks)
        left = o.qty
        market = o.order_type is PeerType.MARKET
        while left and book:
            key, level = book.peekitem(0)
            price = key if buy else -key
            if not market and (price > o.price if buy else price < o.price):
                break
            head = level[0]
            take = min(left, head[1])
            left -= take
            head[1] -= take
            if not head[1]:
                level.popleft()
                self.live.pop(head[0], None)
                while level and not level[0][1]:
                    level.popleft()
                if not level:
                    del book[key]
        if left and not market and o.tif is PeerTif.GTC:
            key = -o.price if buy else o.price
            entry = [o.order_id, left]
            own.setdefault(key, deque()).append(entry)
            self.live[o.order_id] = (own, key, entry)

    def cancel(self, c: PeerCancel) -> None:
        found = self.live.pop(c.order_id, None)
        if found is not None:
            book, key, entry = found
            entry[1] = 0  # dropped lazily from its level
            level = book[key]
            while level and not level[0][1]:
                level.popleft()
            if not level:
                del book[key]


def _translate(flow: Sequence[NewOrder | PeerCancel]) -> tuple[list[Command], list[Command]]:
    """(setup, commands) for the core; peer order ids mapped by a dry run."""
    setup: list[Command] = [Deposit(user_id=f"a{i}", asset="USD", amount=10**13, tx_id=f"t{i}")
                            for i in range(1, 1001)]
    engine = Engine(default_markets())
    for deposit in setup:
        engine.apply(deposit)
    ids: dict[int, int] = {}
    out: list[Command] = []
    for i, c in enumerate(flow):
        cmd: Command
        if isinstance(c, PeerCancel):
            cmd = CancelOrder(user_id=f"a{c.account}", order_id=ids.get(c.order_id, 0), ts=i)
        else:
            market = c.order_type is PeerType.MARKET
            cmd = PlaceOrder(
                user_id=f"a{c.account}", market=MARKET,
                side=Side.BUY if c.side is PeerSide.BUY else Side.SELL, quantity=c.qty,
                type=OrderType.MARKET if market else OrderType.LIMIT,
                price=None if market else c.price, tif=TIFS[c.tif], leverage=10, ts=i)
        for event in engine.apply(cmd):
            if isinstance(event, OrderAccepted) and isinstance(c, NewOrder):
                ids[c.order_id] = event.order_id
        out.append(cmd)
    return setup, out


def _timed(run: Callable[[], Any]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=200_000, help="commands of order_flow(42)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    flow = list(order_flow(seed=42, count=args.n))
    sequenced = [SequencedCommand(i + 1, i, c) for i, c in enumerate(flow)]
    setup, commands = _translate(flow)

    def peer() -> None:
        process = MatchingEngine().process
        for sc in sequenced:
            process(sc)

    def bare() -> None:
        book = BareBook()
        for c in flow:
            if isinstance(c, PeerCancel):
                book.cancel(c)
            else:
                book.new(c)

    def core() -> None:
        engine = Engine(default_markets())
        for cmd in setup:
            engine.apply(cmd)
        apply = engine.apply
        start = time.perf_counter()
        for cmd in commands:
            apply(cmd)
        core_times.append(time.perf_counter() - start)

    gc.collect()
    gc.freeze()  # as every trademesh service runs (mesh_runtime.gc_tuning), for all three
    gc.set_threshold(50_000, 20, 100)
    best: dict[str, float] = {}
    core_times: list[float] = []
    for _ in range(args.rounds):
        for name, run in (("peer", peer), ("bare", bare), ("core", core)):
            took = _timed(run)
            best[name] = min(best.get(name, took), took)
    best["core"] = min(core_times)  # its setup (funding 1,000 users) is not timed
    rate = {name: args.n / seconds for name, seconds in best.items()}
    print(f"core build: {core_build()}; {args.n:,} commands of order_flow(seed=42), "
          f"best of {args.rounds}, interleaved")
    for name in ("peer", "bare", "core"):
        print(f"  {name:5} {rate[name]:>12,.0f} commands/s")
    print(f"  core / peer {rate['core'] / rate['peer']:.2f}x   "
          f"core / bare {rate['core'] / rate['bare']:.2f}x")


if __name__ == "__main__":
    main()
