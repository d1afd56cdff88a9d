"""Durability of the engine service: restart, replay, snapshot + replay, journal failure."""

from __future__ import annotations

import asyncio
import os
import random
import signal
from typing import Any

import grpc
import pytest
import redis.asyncio as aioredis
from trademesh.v1 import engine_pb2, order_pb2

from engine_svc import command_codec, snapshot_codec
from engine_svc.core.engine import Engine
from engine_svc.core.markets import default_markets
from engine_svc.journal import Journal
from engine_svc.snapshot_fork import ForkedSnapshot
from tests.service.engine.conftest import EngineHarness


async def _random_flow(h: EngineHarness, seed: int, count: int) -> list[str]:
    """Seeded deposits and limit orders around 100 on SOL-USD; returns acked order ids."""
    rng = random.Random(seed)
    users = ["u1", "u2", "u3"]
    for user in users:
        for asset, amount in (("USD", "100000"), ("SOL", "1000")):
            await h.stub.Deposit(engine_pb2.DepositRequest(
                asset=asset, amount=amount, transaction_id=f"{seed}-{user}-{asset}"),
                metadata=h.auth(user))
    acked: list[str] = []
    for _ in range(count):
        user = rng.choice(users)
        side = rng.choice([order_pb2.BUY, order_pb2.SELL])
        price = str(95 + rng.randrange(10))
        reply = await h.stub.PlaceOrder(engine_pb2.PlaceOrderRequest(
            market="SOL-USD", side=side, type=order_pb2.LIMIT, quantity=str(rng.randint(1, 5)),
            price=price), metadata=h.auth(user))
        acked.append(reply.order.order_id)
        if rng.random() < 0.2 and acked:
            oid = rng.choice(acked)
            try:
                await h.stub.CancelOrder(engine_pb2.CancelOrderRequest(order_id=oid),
                                         metadata=h.auth(user))
            except grpc.aio.AioRpcError as err:
                assert err.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.ABORTED)
    return acked


def _live(h: EngineHarness) -> Any:
    assert h.sequencer is not None
    return h.sequencer


async def _journal_commands(redis_url: str) -> list[Any]:
    client = aioredis.Redis.from_url(redis_url)
    try:
        return [command_codec.decode(raw) async for _, raw in Journal(client).commands_after(0)]
    finally:
        await client.aclose()


async def test_replaying_the_journal_from_empty_gives_the_same_state(
        harness: EngineHarness, redis_url: str) -> None:
    await _random_flow(harness, seed=1, count=150)
    live = _live(harness).engine
    replayed = Engine(default_markets())
    for command in await _journal_commands(redis_url):
        replayed.apply(command)
    assert replayed.last_seq == live.last_seq
    assert replayed.state_hash() == live.state_hash()


async def test_restart_restores_snapshot_plus_journal(harness: EngineHarness) -> None:
    h = harness
    await _random_flow(h, seed=2, count=100)
    seq = _live(h)
    seq.request_snapshot()  # a snapshot mid-way ...
    await _snapshot_saved(seq)
    acked = await _random_flow(h, seed=3, count=100)  # ... and journal after it
    before = seq.engine.state_hash()
    # restart without the final snapshot: only the mid-way one plus the journal
    seq._snapshot_every = 10**9
    await h.channel.close()  # type: ignore[union-attr]
    h.channel = None
    await h.service.stop()  # type: ignore[union-attr]
    h.service = None
    h.task.cancel()  # type: ignore[union-attr]
    h.sequencer = h.task = None
    await h.start()
    assert _live(h).engine.state_hash() == before
    for oid in acked[-5:]:
        reply = await h.stub.GetOrder(engine_pb2.GetOrderRequest(order_id=oid),
                                      metadata=h.auth(_owner(h, oid)))
        assert reply.order.order_id == oid


async def _snapshot_saved(seq: Any) -> None:
    """Waits (bounded) until the sequencer has taken the requested snapshot and saved it
    (a failed forked one is taken again in-process)."""
    for _ in range(500):
        task = seq._snapshotting
        if task is not None and task.done() and not seq._snapshot_due \
                and await seq._snapshots.latest() is not None:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("no snapshot was saved")


async def test_a_snapshot_asked_for_during_a_failing_write_holds_only_journaled_state(
        harness: EngineHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    """The snapshot timer may fire while a batch's journal write is out; if that write then
    fails, its commands must not be in the snapshot (the callers were told they failed)."""
    h = harness
    await h.stub.Deposit(engine_pb2.DepositRequest(asset="USD", amount="1000",
                                                   transaction_id="t1"), metadata=h.auth("a"))
    seq = _live(h)
    journal = seq._journal
    real_append = journal.append
    writing, release = asyncio.Event(), asyncio.Event()
    calls = {"n": 0}

    async def slow_then_failing_append(commands: Any, events: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            writing.set()
            await release.wait()
            raise ConnectionError("redis went away")
        await real_append(commands, events)

    monkeypatch.setattr(journal, "append", slow_then_failing_append)
    failing = asyncio.ensure_future(h.stub.Deposit(engine_pb2.DepositRequest(
        asset="USD", amount="5", transaction_id="t2"), metadata=h.auth("a")))
    await asyncio.wait_for(writing.wait(), 10)
    seq.request_snapshot()  # as the timer would, with t2 applied but not journaled
    release.set()
    with pytest.raises(grpc.aio.AioRpcError):
        await failing
    await _read_balances_once_recovered(h, "a")
    await _snapshot_saved(seq)
    latest = await seq._snapshots.latest()
    assert latest is not None and latest[0] == 1  # t1 only
    image = snapshot_codec.decode(latest[1])
    assert image["engine"]["last_seq"] == 1 and image["engine"]["deposit_ids"] == ["t1"]


def _owner(h: EngineHarness, oid: str) -> str:
    for user in ("u1", "u2", "u3"):
        if _live(h).views.get(user, int(oid)) is not None:
            return user
    raise AssertionError(f"order {oid} has no owner")


async def test_graceful_restart_keeps_everything(harness: EngineHarness) -> None:
    h = harness
    await _random_flow(h, seed=4, count=80)
    before = _live(h).engine.state_hash()
    await h.restart()
    assert _live(h).engine.state_hash() == before


async def test_a_failed_journal_write_acknowledges_nothing_and_loses_nothing(
        harness: EngineHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    h = harness
    await h.stub.Deposit(engine_pb2.DepositRequest(asset="USD", amount="1000",
                                                   transaction_id="t1"), metadata=h.auth("a"))
    seq = _live(h)
    journal = seq._journal
    real_append = journal.append
    calls = {"n": 0}

    async def failing_append(commands: Any, events: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("redis went away")
        await real_append(commands, events)

    monkeypatch.setattr(journal, "append", failing_append)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await h.stub.Deposit(engine_pb2.DepositRequest(asset="USD", amount="5",
                                                       transaction_id="t2"), metadata=h.auth("a"))
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    balances = await _read_balances_once_recovered(h, "a")
    assert [b.available for b in balances.balances] == ["1000"]  # the failed one is not there
    retry = await h.stub.Deposit(engine_pb2.DepositRequest(asset="USD", amount="5",
                                                           transaction_id="t2"),
                                 metadata=h.auth("a"))
    assert not retry.duplicate
    assert [b.available for b in retry.balances] == ["1005"]
    assert seq.engine.last_seq == 2  # gap-free: the lost command's number was reused


async def _read_balances_once_recovered(h: EngineHarness, user: str
                                        ) -> engine_pb2.GetBalancesResponse:
    """Reads are UNAVAILABLE while the engine rebuilds its state; retry (bounded)."""
    for _ in range(100):
        try:
            return await h.stub.GetBalances(engine_pb2.GetBalancesRequest(),
                                            metadata=h.auth(user))
        except grpc.aio.AioRpcError as err:
            assert err.code() == grpc.StatusCode.UNAVAILABLE
            await asyncio.sleep(0.05)
    raise AssertionError("the engine did not recover")


async def test_a_second_engine_on_the_same_journal_is_refused(harness: EngineHarness) -> None:
    """Two engines loaded from the same journal both think the next number is theirs;
    Redis accepts the first append and refuses the stale one, which stops that engine."""
    from contextlib import AsyncExitStack

    from engine_svc.app import build
    from engine_svc.core.commands import Deposit
    from engine_svc.journal import JournalConflict
    from engine_svc.sequencer import EngineUnavailable

    h = harness
    await h.stub.Deposit(engine_pb2.DepositRequest(asset="USD", amount="1",
                                                   transaction_id="t0"), metadata=h.auth("a"))
    async with AsyncExitStack() as stack:
        stale, _ = await build(h.settings, stack)
        stale_task = asyncio.create_task(stale.run())
        await h.stub.Deposit(engine_pb2.DepositRequest(asset="USD", amount="2",
                                                       transaction_id="t1"),
                             metadata=h.auth("a"))
        with pytest.raises(EngineUnavailable):
            await stale.submit(Deposit(user_id="b", asset="USD", amount=5, tx_id="x"),
                               lambda events, records: None)
        with pytest.raises(JournalConflict):
            await asyncio.wait_for(stale_task, 10)
    balances = await h.stub.GetBalances(engine_pb2.GetBalancesRequest(), metadata=h.auth("a"))
    assert [b.available for b in balances.balances] == ["3"]


class _Recorder:
    def __init__(self) -> None:
        self.seqs: list[int] = []
        self.resets = 0

    def on_applied(self, events: list[Any]) -> None:
        pass

    def on_batch(self, events: list[Any]) -> None:
        self.seqs.extend(e.seq for e in events)

    def on_reset(self) -> None:
        self.resets += 1


async def test_listeners_hear_every_durable_event_once_in_order(
        harness: EngineHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    h = harness
    recorder = _Recorder()
    seq = _live(h)
    seq.add_listener(recorder)
    start = seq.engine.event_seq
    await _random_flow(h, seed=9, count=40)
    journal = seq._journal
    real_append = journal.append

    async def fail_once(commands: Any, events: Any) -> None:
        monkeypatch.setattr(journal, "append", real_append)
        raise ConnectionError("redis went away")

    monkeypatch.setattr(journal, "append", fail_once)
    with pytest.raises(grpc.aio.AioRpcError):
        await h.stub.Deposit(engine_pb2.DepositRequest(asset="USD", amount="1",
                                                       transaction_id="lost"),
                             metadata=h.auth("u1"))
    await _read_balances_once_recovered(h, "u1")
    assert recorder.resets == 1
    assert recorder.seqs == list(range(start + 1, seq.engine.event_seq + 1))


async def test_a_crashed_snapshot_child_is_replaced_by_an_in_process_snapshot(
        harness: EngineHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    """A forked child that dies loses nothing: the next boundary's state is
    serialized in-process and saved, and later snapshots no longer fork. (The child here is
    killed as the OOM killer would; a crash in it was seen in CI: SIGSEGV.)"""
    h = harness
    await _random_flow(h, seed=5, count=30)
    seq = _live(h)
    forks = {"n": 0}
    real_start = ForkedSnapshot.start

    def crashing_start(serialize: Any) -> ForkedSnapshot:
        forks["n"] += 1
        return real_start(lambda: os.kill(os.getpid(), signal.SIGKILL) or b"")

    monkeypatch.setattr(ForkedSnapshot, "start", crashing_start)
    seq.request_snapshot()
    await _snapshot_saved(seq)
    latest = await seq._snapshots.latest()
    assert latest is not None and latest[0] == seq.engine.last_seq
    assert forks["n"] == 1
    await _random_flow(h, seed=6, count=5)
    seq.request_snapshot()
    for _ in range(500):
        latest = await seq._snapshots.latest()
        if latest is not None and latest[0] == seq.engine.last_seq:
            break
        await asyncio.sleep(0.01)
    assert latest is not None and latest[0] == seq.engine.last_seq
    assert forks["n"] == 1  # in-process from then on
