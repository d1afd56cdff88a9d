"""Isolated positions into PostgreSQL and back out as history (issue #15).

The hand-built stream of :mod:`tests.unit.persistence.isolated_stream` (a user with a
cross position and two isolated ones in SOL-PERP; one isolated position closed by half then
fully, the other liquidated; funding on all three) goes in as ``EventBatch`` messages over
the persistence service's own ``SyncEvents`` stream handling, the plain and the pipelined
way; history comes back over real gRPC, rendered to JSON as the gateway renders it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import asyncpg
from google.protobuf import json_format
from persistence_harness import Persistence, fetch
from prometheus_client import REGISTRY
from test_queries import auth
from trademesh.v1 import event_pb2
from trademesh.v1 import persistence_pb2 as pb

from mesh_runtime.config import Settings
from mesh_runtime.tokens import TokenSigner
from persistence_svc import migrations
from persistence_svc.db import create_engine
from persistence_svc.event_writer import EventWriter
from persistence_svc.sync_stream import SyncStream
from tests.integration.persistence.test_exactly_once import table_image
from tests.integration.persistence.test_writer_liquidation_history import execute
from tests.unit.persistence import isolated_stream as s

TABLES = ("orders", "fills", "trades", "balances", "ledger_entries", "positions",
          "closed_positions", "funding_payments", "liquidations", "candles_1m", "sync_state")


async def image(dsn: str) -> dict[str, object]:
    """Row counts and a content hash of every table the writer touches."""
    return await table_image(dsn, TABLES)


async def stream(writer: EventWriter, parts: list[list[event_pb2.EngineEvent]]) -> list[int]:
    """``parts`` as ``EventBatch`` requests after the hello, through one ``SyncEvents``
    stream's handling; the committed sequences it answers."""

    async def requests() -> AsyncIterator[pb.SyncEventsRequest]:
        yield pb.SyncEventsRequest(engine_id="e1")
        for part in parts:
            yield pb.SyncEventsRequest(batch=event_pb2.EventBatch(events=part))

    async def refuse() -> None:
        raise AssertionError("a batch before the hello")

    return [a.committed_sequence async for a in SyncStream(writer, requests(), refuse).answers()]


def as_json(message: Any) -> Any:
    return json_format.MessageToDict(message, always_print_fields_with_no_presence=True)


async def assert_recorded(dsn: str) -> None:
    positions = await fetch(dsn, "SELECT position_id, size, exit_quantity, realized_pnl "
                                 "FROM positions WHERE user_id = 'u' ORDER BY position_id")
    assert [tuple(r.values()) for r in positions] == [("", 10, 0, 0), ("3", 0, 0, 60),
                                                      ("4", 0, 0, -90)]
    closed = await fetch(dsn, "SELECT position_id, margin_mode, close_reason, size, "
                              "entry_price, exit_price, realized_pnl, leverage "
                              "FROM closed_positions WHERE user_id = 'u' ORDER BY id")
    assert [tuple(r.values()) for r in closed] == [
        ("3", "ISOLATED", "CLOSED", 4, 100, 115, 60, 10),
        ("4", "ISOLATED", "LIQUIDATED", 6, 100, 85, -90, 10)]
    orders = await fetch(dsn, "SELECT order_id, margin_mode, position_id FROM orders "
                              "WHERE user_id = 'u' ORDER BY order_id")
    assert [tuple(r.values()) for r in orders] == [
        (2, "CROSS", None), (3, "ISOLATED", "3"), (4, "ISOLATED", "4"), (6, "ISOLATED", "3"),
        (8, "ISOLATED", "3")]
    fills = await fetch(dsn, "SELECT order_id, realized_pnl FROM fills WHERE user_id = 'u' "
                             "ORDER BY fill_id")
    assert [tuple(r.values()) for r in fills] == [(2, 0), (3, 0), (4, 0), (6, 20), (8, 40)]
    funding = await fetch(dsn, "SELECT user_id, position_id, amount FROM funding_payments "
                               "ORDER BY id")
    assert [tuple(r.values()) for r in funding] == [
        ("u", None, Decimal("-0.1")), ("u", "3", Decimal("-0.04")),
        ("u", "4", Decimal("-0.06")), ("mm", None, Decimal("0.2"))]
    liquidations = await fetch(dsn, "SELECT liquidation_id, position_id, taken_by_fund "
                                    "FROM liquidations")
    assert [tuple(r.values()) for r in liquidations] == [("99", "4", 6)]
    unbalanced = await fetch(dsn, "SELECT event_seq, reference, asset FROM ledger_entries "
                                  "GROUP BY 1, 2, 3 HAVING sum(amount) <> 0")
    assert unbalanced == []
    realized = await fetch(dsn, "SELECT sum(amount) AS s FROM ledger_entries "
                                "WHERE user_id = 'u' AND kind = 'REALIZED_PNL'")
    assert realized[0]["s"] == -30  # +60 on position 3, -90 on position 4


async def test_isolated_positions_are_recorded_and_served(
        settings: Settings, persistence: Persistence, signer: TokenSigner) -> None:
    dsn, parts = settings.postgres_dsn, s.batches()
    db = create_engine(dsn)
    writer = EventWriter(db)
    try:
        assert (await stream(writer, parts))[-1] == 30
        await assert_recorded(dsn)
        recorded = await image(dsn)
        again = await stream(writer, parts)  # the whole stream redelivered
        assert again == [30] * (len(parts) + 1)
        assert await writer.commit("e1", parts[4] + parts[5]) == 30  # a batch, plainly
        assert await image(dsn) == recorded
    finally:
        await db.dispose()
    user = auth(signer, "u")
    stub = persistence.stub
    closed = as_json(await stub.ListClosedPositions(pb.ListClosedPositionsRequest(),
                                                    metadata=user))["positions"]
    assert [(p["positionId"], p["marginMode"], p["closeReason"], p["exitPrice"],
             p["realizedPnl"], p["leverage"], p["size"]) for p in closed] == [
        ("4", "ISOLATED", "LIQUIDATED", "85", "-90", 10, "6"),
        ("3", "ISOLATED", "CLOSED", "115", "60", 10, "4")]
    older = await stub.ListClosedPositions(pb.ListClosedPositionsRequest(
        before=closed[0]["closedPositionId"]), metadata=user)
    assert [p.position_id for p in older.positions] == ["3"]  # the cursor pages
    liquidations = as_json(await stub.ListLiquidations(pb.ListLiquidationsRequest(),
                                                       metadata=user))["liquidations"]
    assert [(q["liquidationId"], q["positionId"]) for q in liquidations] == [("99", "4")]
    payments = as_json(await stub.ListFundingPayments(pb.ListFundingPaymentsRequest(),
                                                      metadata=user))["payments"]
    assert [(f["positionId"], f["amount"]) for f in payments] == [
        ("4", "-0.06"), ("3", "-0.04"), ("", "-0.1")]
    orders = as_json(await stub.ListOrderHistory(pb.ListOrderHistoryRequest(),
                                                 metadata=user))["orders"]
    assert [(o["orderId"], o["marginMode"], o["positionId"]) for o in orders] == [
        ("8", "ISOLATED", "3"), ("6", "ISOLATED", "3"), ("4", "ISOLATED", "4"),
        ("3", "ISOLATED", "3"), ("2", "CROSS", "")]


async def test_plain_and_pipelined_writes_agree(settings: Settings) -> None:
    """Each batch committed on its own (the plain path: positions loaded from PostgreSQL by
    their three-part key) and every batch prepared before any commits (folded over the
    session's cache) leave the same tables; the half-closed position is kept in between."""
    dsn, parts = settings.postgres_dsn, s.batches()
    await migrations.upgrade(dsn)
    db = create_engine(dsn)
    writer = EventWriter(db)
    try:
        assert await writer.committed("e1") == 0
        for i, part in enumerate(parts):
            assert await writer.commit("e1", part) == part[-1].sequence
            if i == 6:  # position 3 half closed: its exits so far are remembered
                [half] = await fetch(dsn, "SELECT size, exit_quantity, exit_notional "
                                          "FROM positions WHERE position_id = '3'")
                assert tuple(half.values()) == (2, 2, 220)
        await assert_recorded(dsn)
        plain = await image(dsn)
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY")
        finally:
            await conn.close()
        assert await writer.committed("e1") == 0
        session = await writer.open("e1")
        try:
            prepared = [await writer.prepare(session, part) for part in parts]
            for batch in prepared:
                await writer.write(session, batch)
            assert session.pipelined
        finally:
            await writer.close(session)
        assert await image(dsn) == plain
    finally:
        await db.dispose()


async def test_a_position_mismatch_is_counted_per_position(settings: Settings) -> None:
    """Position 3's close written over a database that never saw it open (its open batch
    lost: a stale prior state) counts one mismatch, for that position only."""
    dsn, parts = settings.postgres_dsn, s.batches()
    await migrations.upgrade(dsn)
    db = create_engine(dsn)
    writer = EventWriter(db)
    metric = "trademesh_persistence_position_mismatches_total"
    try:
        assert await writer.committed("e1") == 0
        for part in parts[:8]:
            await writer.commit("e1", part)
        before = REGISTRY.get_sample_value(metric)
        assert before is not None
        await execute(dsn, "DELETE FROM positions WHERE position_id = '3'")
        assert await writer.commit("e1", parts[8]) == parts[8][-1].sequence
        assert REGISTRY.get_sample_value(metric) == before + 1
        assert await fetch(dsn, "SELECT * FROM closed_positions WHERE position_id = '3'") == []
        assert await writer.commit("e1", parts[9]) == parts[9][-1].sequence
        assert REGISTRY.get_sample_value(metric) == before + 1  # the rest is explained
    finally:
        await db.dispose()


