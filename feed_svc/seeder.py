"""Rebuilds each market's 24h ticker window and open candles from persistence's durable
record, so a feed (re)start does not reset them.

It calls ``Persistence.GetMarketActivity`` on persistence's mesh listener (mutual TLS, as
``feed``) for every market the hub knows and has not seeded yet: at start, and for a
market that appears later (a runtime market's first snapshot). A failed call is retried
with back-off (persistence may start after the feed); the hub keeps counting live trades
meanwhile and merges them with the seed exactly (:mod:`feed_svc.activity`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import grpc
from trademesh.v1 import persistence_pb2_grpc

from feed_svc import codec
from feed_svc.hub import Hub
from feed_svc.stats import DAY_MS
from mesh_runtime.pki import TlsFiles
from mesh_runtime.tls import mesh_channel

log = logging.getLogger("trademesh.feed.seeder")
CALL_TIMEOUT = 10.0
IDLE_SECONDS = 2.0  # how often to look for markets that appeared


class Seeder:
    def __init__(self, hub: Hub, target: str, tls: TlsFiles,
                 clock_ms: Callable[[], int]) -> None:
        self._hub, self._target, self._tls, self._clock = hub, target, tls, clock_ms

    async def run(self) -> None:
        """Seeds until cancelled, reconnecting with back-off."""
        delay = 0.2
        while True:
            try:
                async with mesh_channel(self._target, self._tls,
                                        server_name="persistence") as channel:
                    stub = persistence_pb2_grpc.PersistenceStub(channel)
                    while True:
                        await self.seed_all(stub)
                        delay = 0.2
                        await asyncio.sleep(IDLE_SECONDS)
            except (grpc.RpcError, OSError) as err:
                log.warning("seeding the 24h figures from persistence at %s: %s; retrying in "
                            "%.1fs", self._target, _short(err), delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    async def seed_all(self, stub: persistence_pb2_grpc.PersistenceAsyncStub) -> None:
        """Seeds every known market not seeded yet (one call each)."""
        for market in self._hub.unseeded():
            since = self._clock() - DAY_MS + 1
            answer = await stub.GetMarketActivity(codec.activity_request(market, since),
                                                  timeout=CALL_TIMEOUT)
            self._hub.seed(market, codec.seed(answer))
            log.info("%s: 24h figures rebuilt from %d minutes of the durable record",
                     market, len(answer.candles))


def _short(err: BaseException) -> str:
    if isinstance(err, grpc.aio.AioRpcError):
        return f"{err.code().name}: {err.details()}"
    return str(err) or type(err).__name__
