"""The sequencer applies the next batch while a journal write is out: what that may not
change. Answers only after their own write, writes in order and one at a time, a failed
write taking the batch applied behind it down too, depth showing only durable batches."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest
from trademesh.v1 import engine_pb2, order_pb2

from tests.service.engine.conftest import EngineHarness
from tests.service.engine.test_recovery import _read_balances_once_recovered


class GatedJournal:
    """Holds each journal write until released; a released write may be made to fail."""

    def __init__(self, real: Callable[[Any, Any], Awaitable[None]]) -> None:
        self._real = real
        self.sent: list[int] = []  # each write's last command sequence, in the order sent
        self.started = [asyncio.Event() for _ in range(4)]
        self.release = [asyncio.Event() for _ in range(4)]
        self.fail: set[int] = set()

    async def append(self, commands: Any, events: Any) -> None:
        index = len(self.sent)
        self.sent.append(commands[-1][0])
        self.started[index].set()
        await self.release[index].wait()
        if index in self.fail:
            raise ConnectionError("redis went away")
        await self._real(commands, events)


def _gate(h: EngineHarness, monkeypatch: pytest.MonkeyPatch) -> GatedJournal:
    assert h.sequencer is not None
    journal = h.sequencer._journal
    gated = GatedJournal(journal.append)
    monkeypatch.setattr(journal, "append", gated.append)
    return gated


async def _until(check: Callable[[], bool], what: str) -> None:
    for _ in range(500):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def _deposit(h: EngineHarness, user: str, amount: str, tx: str) -> asyncio.Future[Any]:
    return asyncio.ensure_future(h.stub.Deposit(engine_pb2.DepositRequest(
        asset="USD", amount=amount, transaction_id=tx), metadata=h.auth(user)))


async def _pipelined(h: EngineHarness, gated: GatedJournal,
                     calls: list[Callable[[], asyncio.Future[Any]]]) -> list[asyncio.Future[Any]]:
    """Three one-command batches (``max_batch`` 1): the first's write held until the other
    two are queued, then released; returns once the second's write is out and the third
    is applied behind it. (A batch is applied during a write when it was queued as the
    write went out: with nothing queued, the sequencer waits for the write.)"""
    assert h.sequencer is not None
    h.sequencer._max_batch = 1
    base = h.sequencer.engine.last_seq
    first = calls[0]()
    await asyncio.wait_for(gated.started[0].wait(), 10)
    second = calls[1]()
    third = calls[2]()
    await _until(lambda: h.sequencer is not None and h.sequencer._queue.qsize() == 2,
                 "both to be queued")
    gated.release[0].set()
    await first
    await asyncio.wait_for(gated.started[1].wait(), 10)
    await _until(lambda: h.sequencer is not None and h.sequencer.engine.last_seq == base + 3,
                 "the third batch to be applied")
    assert gated.sent == [base + 1, base + 2]  # one write out at a time
    return [first, second, third]


async def _three_deposits(h: EngineHarness, monkeypatch: pytest.MonkeyPatch, fail: set[int]
                          ) -> tuple[GatedJournal, int, asyncio.Future[Any], asyncio.Future[Any]]:
    """:func:`_pipelined` with three users' deposits (the writes in ``fail`` fail): the
    gate, the sequence before them, the second and third calls."""
    assert h.sequencer is not None
    base = h.sequencer.engine.last_seq
    gated = _gate(h, monkeypatch)
    gated.fail |= fail
    _, second, third = await _pipelined(h, gated, [
        lambda: _deposit(h, "a", "10", "t1"), lambda: _deposit(h, "b", "20", "t2"),
        lambda: _deposit(h, "c", "30", "t3")])
    return gated, base, second, third


async def test_the_next_batch_is_applied_during_a_write_and_answered_after_its_own(
        harness: EngineHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    h = harness
    gated, base, second, third = await _three_deposits(h, monkeypatch, fail=set())
    await asyncio.sleep(0.05)
    assert not second.done() and not third.done()
    gated.release[1].set()
    assert [b.available for b in (await second).balances] == ["20"]
    await asyncio.wait_for(gated.started[2].wait(), 10)
    assert gated.sent == [base + 1, base + 2, base + 3]
    assert not third.done()  # its own write is still out
    gated.release[2].set()
    assert [b.available for b in (await third).balances] == ["30"]


async def test_a_failed_write_fails_the_batch_applied_behind_it(
        harness: EngineHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    h = harness
    gated, base, second, third = await _three_deposits(h, monkeypatch, fail={1})
    gated.release[1].set()
    for call in (second, third):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert gated.sent == [base + 1, base + 2]  # the third was never written
    for user in ("b", "c"):
        assert not (await _read_balances_once_recovered(h, user)).balances
    assert h.sequencer.engine.last_seq == base + 1  # rebuilt from the journal
    for event in gated.release:
        event.set()
    retry = await h.stub.Deposit(engine_pb2.DepositRequest(
        asset="USD", amount="30", transaction_id="t3"), metadata=h.auth("c"))
    assert not retry.duplicate and [b.available for b in retry.balances] == ["30"]


async def _asks(h: EngineHarness) -> list[str]:
    depth = await h.stub.GetDepth(engine_pb2.GetDepthRequest(market="SOL-USD", limit=20))
    return [level.values[0].string_value for level in depth.asks]


async def test_depth_shows_a_batch_only_once_it_is_durable(
        harness: EngineHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    h = harness
    await h.stub.Deposit(engine_pb2.DepositRequest(asset="SOL", amount="10",
                                                   transaction_id="s"), metadata=h.auth("m"))
    gated = _gate(h, monkeypatch)

    def sell(price: str) -> Callable[[], asyncio.Future[Any]]:
        return lambda: asyncio.ensure_future(h.stub.PlaceOrder(engine_pb2.PlaceOrderRequest(
            market="SOL-USD", side=order_pb2.SELL, type=order_pb2.LIMIT, quantity="1",
            price=price), metadata=h.auth("m")))

    _, at_101, at_102 = await _pipelined(h, gated, [sell("100"), sell("101"), sell("102")])
    assert await _asks(h) == ["100"]  # 101's write is out, 102 applied behind it
    gated.release[1].set()
    await at_101
    await asyncio.wait_for(gated.started[2].wait(), 10)
    assert await _asks(h) == ["100", "101"]  # the durable batch's book, not the live one
    gated.release[2].set()
    await at_102
    assert await _asks(h) == ["100", "101", "102"]
