"""Determinism (replay, snapshot + replay) and a long seeded differential run."""

from __future__ import annotations

import json

from core_stubs import conservation_gaps, random_commands
from reference_model import RefModel

from engine_svc.core import (
    Engine,
    OrderFilled,
    OrderRejected,
    TransferRejected,
    default_markets,
)

COMMANDS = random_commands(seed=7, n=3_000)


def replay(engine: Engine, commands: list[object]) -> list[object]:
    out: list[object] = []
    for cmd in commands:
        out.extend(engine.apply(cmd))  # type: ignore[arg-type]
    return out


def test_replay_gives_identical_events_and_hash() -> None:
    a, b = Engine(default_markets()), Engine(default_markets())
    assert replay(a, COMMANDS) == replay(b, COMMANDS)
    assert a.state_hash() == b.state_hash()
    assert a.last_seq == len(COMMANDS)
    assert sum(isinstance(e, OrderFilled) for e in replay(Engine(default_markets()),
                                                          COMMANDS)) > 300


def test_snapshot_then_replay_equals_full_replay() -> None:
    full = Engine(default_markets())
    replay(full, COMMANDS)
    for cut in (0, 1, 777, 2_000):
        part = Engine(default_markets())
        replay(part, COMMANDS[:cut])
        image = json.loads(json.dumps(part.snapshot()))  # must survive JSON
        restored = Engine.restore(default_markets(), image)
        assert restored.state_hash() == part.state_hash()
        tail_a = replay(restored, COMMANDS[cut:])
        tail_b = replay(part, COMMANDS[cut:])
        assert tail_a == tail_b
        assert restored.state_hash() == full.state_hash()


def test_long_seeded_stream_matches_reference() -> None:
    cfg = default_markets()
    engine, ref = Engine(cfg), RefModel(cfg)
    users = [f"u{i}" for i in range(4)]
    for i, cmd in enumerate(random_commands(seed=11, n=4_000)):
        events = engine.apply(cmd)
        ref.apply(cmd)
        rejected = [e.reason for e in events if isinstance(e, OrderRejected | TransferRejected)]
        assert rejected == ([ref.reject] if ref.reject else []), (i, cmd)
        got = [(f.fill_id, f.market, f.price, f.quantity, f.taker_order_id, f.maker_order_id,
                f.taker_fee, f.maker_fee) for f in events if isinstance(f, OrderFilled)]
        assert got == ref.fills, (i, cmd)
        if i % 100 == 0:
            for market in ("BTC-PERP", "SOL-USD"):
                assert engine.depth(market, 10**6) == ref.depth(market)
            for user in users:
                mine = {a: v for a, v in engine.balances(user).items() if v != (0, 0)}
                assert mine == {a: tuple(v) for (u, a), v in ref.bal.items()
                                if u == user and v != [0, 0]}
            assert set(conservation_gaps(engine, users).values()) == {0}
