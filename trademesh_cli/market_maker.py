"""``trademesh mm``: the market-maker bot against the configured engine, with its own
account (user ``market-maker``) and a token signed with the mesh's key. It is a user like
any bot: it dials the engine's and the feed's public listeners with TLS, trusting the mesh
CA (``ca.pem``), and presents its token; it has no certificate of its own. The token is
re-signed when half its lifetime has passed (:class:`RenewingToken`): the servers refuse an
expired one, so a bot that kept one token would stop quoting after
``TRADEMESH_JWT_TTL_SECONDS``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from trademesh.v1 import engine_pb2_grpc

from mesh_runtime import event_loop, metrics
from mesh_runtime.config import Settings
from mesh_runtime.serving import configure_logging, install_signal_handlers
from mesh_runtime.tls import tls_channel
from trademesh_cli.mm.bot import MarketMaker, Metadata
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


class RenewingToken:
    """The bot's call metadata: a user token for ``user_id``, re-signed once half of its
    lifetime has passed."""

    def __init__(self, settings: Settings, user_id: str = MM_USER,
                 clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._user_id = user_id
        self._clock = clock
        self._renew_at = 0.0
        self._metadata: Metadata = ()

    def __call__(self) -> Metadata:
        now = self._clock()
        if now >= self._renew_at:
            token = issue(self._settings, admin=False, user_id=self._user_id)
            self._metadata = (("authorization", f"Bearer {token}"),)
            self._renew_at = now + self._settings.jwt_ttl_seconds / 2
        return self._metadata


async def run(settings: Settings) -> None:
    token = RenewingToken(settings)
    stop = asyncio.Event()

    async def request_stop() -> None:
        stop.set()

    install_signal_handlers(request_stop)
    prices = IndexPrices()
    ca_pem = settings.ca_path.read_bytes()
    async with tls_channel(settings.address("engine"), ca_pem) as channel:
        stub = engine_pb2_grpc.EngineStub(channel)
        bot = MarketMaker(stub, token, prices)
        await bot.start()
        perps = [s for s, m in bot.markets.items() if s.endswith("-PERP")]
        tasks = [asyncio.create_task(bot.run()),
                 asyncio.create_task(prices.follow_feed(
                     lambda: tls_channel(settings.address("feed"), ca_pem), perps))]
        log.info("market maker quoting %s", ", ".join(bot.markets))
        await stop.wait()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
