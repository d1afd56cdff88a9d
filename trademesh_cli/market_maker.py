"""``trademesh mm``: the market-maker bot against the configured engine, with its own
account (user ``market-maker``) and a token signed with the mesh's key."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging

import grpc
from trademesh.v1 import engine_pb2_grpc

from mesh_runtime import event_loop, metrics
from mesh_runtime.config import Settings
from mesh_runtime.serving import configure_logging, install_signal_handlers
from trademesh_cli.mm.bot import MarketMaker
from trademesh_cli.mm.prices import IndexPrices
from trademesh_cli.token import issue

MM_USER = "market-maker"
log = logging.getLogger("trademesh.mm")


def command(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    configure_logging(settings.log_level)
    metrics.serve("mm")
    event_loop.run(run(settings), settings.event_loop)
    return 0


async def run(settings: Settings) -> None:
    token = issue(settings, admin=False, user_id=MM_USER)
    stop = asyncio.Event()

    async def request_stop() -> None:
        stop.set()

    install_signal_handlers(request_stop)
    prices = IndexPrices()
    async with grpc.aio.insecure_channel(settings.address("engine")) as channel:
        stub = engine_pb2_grpc.EngineStub(channel)
        bot = MarketMaker(stub, (("authorization", f"Bearer {token}"),), prices)
        await bot.start()
        perps = [s for s, m in bot.markets.items() if s.endswith("-PERP")]
        tasks = [asyncio.create_task(bot.run()),
                 asyncio.create_task(prices.follow_feed(settings.address("feed"), perps))]
        log.info("market maker quoting %s", ", ".join(bot.markets))
        await stop.wait()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
