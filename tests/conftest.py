"""Shared fixtures: real embedded Redis and PostgreSQL for the whole test session.

Servers run on free loopback ports in a temporary data directory and are stopped at the
end of the session. They are driven from one background event-loop thread that lives for
the session (children die with the thread that started them).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import threading
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

import mesh_runtime.grpc_env  # noqa: F401 - before anything imports grpc
from mesh_runtime.ports import free_port

T = TypeVar("T")


class BackgroundLoop:
    """An event loop in its own thread, for servers that outlive one test's loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 120) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@pytest.fixture(scope="session")
def background_loop() -> Iterator[BackgroundLoop]:
    loop = BackgroundLoop()
    yield loop
    loop.close()


@pytest.fixture(scope="session")
def server_dir() -> Iterator[Path]:
    """A data directory for the session's servers, outside pytest's tmp tree: pytest makes
    that tree private to root on every run, and PostgreSQL runs as another account."""
    path = Path(tempfile.mkdtemp(prefix="trademesh-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_url(background_loop: BackgroundLoop, server_dir: Path) -> Iterator[str]:
    from mesh_runtime.embedded_redis import EmbeddedRedis

    server = EmbeddedRedis(server_dir / "redis-server", free_port())
    url = background_loop.run(server.start())
    yield url
    background_loop.run(server.stop())


@pytest.fixture(scope="session")
def postgres_url(background_loop: BackgroundLoop, server_dir: Path) -> Iterator[str]:
    from mesh_runtime.embedded_postgres import EmbeddedPostgres

    server = EmbeddedPostgres(server_dir / "postgres-server", free_port())
    url = background_loop.run(server.start())
    yield url
    background_loop.run(server.stop())


@pytest.fixture
async def database(postgres_url: str) -> AsyncIterator[str]:
    """A fresh, empty database on the session's PostgreSQL, dropped afterwards."""
    import asyncpg

    name = f"test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(postgres_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield postgres_url.rsplit("/", 1)[0] + "/" + name
    admin = await asyncpg.connect(postgres_url)
    try:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
def spans() -> Iterator[Any]:
    """Spans recorded in this process while the test runs (an in-memory exporter)."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from mesh_runtime import tracing

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use_provider(provider, process_wide=False)
    try:
        yield exporter
    finally:
        tracing.stop()
        provider.shutdown()
