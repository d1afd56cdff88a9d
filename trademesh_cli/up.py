"""``trademesh up``: the whole mesh on one machine; prints every address; Ctrl-C stops it."""

from __future__ import annotations

import argparse
import asyncio
import logging
from urllib.parse import urlsplit, urlunsplit

from mesh_runtime.config import Settings
from mesh_runtime.metrics import MetricsSettings
from mesh_runtime.probes import probe_host
from mesh_runtime.serving import configure_logging
from mesh_runtime.supervisor import Supervisor
from trademesh_cli.web_build import prepare as prepare_web_terminal


def command(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    configure_logging(settings.log_level)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per readiness probe
    prepare_web_terminal(settings)
    embedded = (not settings.postgres_url, not settings.redis_url)
    supervisor = Supervisor(settings, on_ready=lambda s: print(banner(s, embedded), flush=True))
    return asyncio.run(supervisor.run())


def banner(settings: Settings, embedded: tuple[bool, bool] = (True, True)) -> str:
    """The addresses of a running mesh, one per line."""
    host = probe_host(settings.host)
    rest = f"http://{host}:{settings.gateway_port}"
    services = ("engine", "persistence", "feed", "auth")
    grpc = ", ".join(f"{name} {settings.address(name)}" for name in services)
    mesh = ", ".join(f"{name} {settings.mesh_address(name)}" for name in services)
    kinds = ["embedded" if flag else "external" for flag in embedded]
    return "\n".join([
        f"trademesh is up (data {settings.data_dir}, logs {settings.data_dir / 'logs'})",
        f"  REST        {rest}/api/v1  (OpenAPI {rest}/openapi.json, docs {rest}/docs)",
        f"  WebSocket   ws://{host}:{settings.ws_port}/ws",
        f"  gRPC (TLS)  {grpc}",
        f"  mesh (mTLS) {mesh}",
        f"  TLS CA      {settings.ca_path}  (grpcurl -cacert {settings.ca_path} …)",
        f"  PostgreSQL  {redact(settings.postgres_url)} ({kinds[0]})",
        f"  Redis       {redact(settings.redis_url)} ({kinds[1]})",
        f"  Metrics     {MetricsSettings.from_env().describe(host)}",
        "Press Ctrl-C to stop.",
    ])


def redact(url: str) -> str:
    """``url`` without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
