"""Prometheus metrics: where each process serves them, and whether it does.

Every trademesh process serves ``/metrics`` on its own port
(``TRADEMESH_METRICS_<PROCESS>_PORT``: gateway 9100, engine 9101, persistence 9102, feed
9103, market maker 9104; 0 picks a free port) on ``TRADEMESH_HOST``, from a daemon thread.
``TRADEMESH_METRICS=off`` serves nothing and leaves the per-call instrumentation (the gRPC
interceptor, the REST recording) out of the request path; the services' own counters and
gauges are still kept (a float add or a set, see :mod:`mesh_runtime.cheap_metrics`).

Names follow Prometheus' rules (base units, ``_seconds``, ``_total`` for counters) and the
gRPC ones go-grpc-prometheus' (``grpc_server_handled_total{grpc_type, grpc_service,
grpc_method, grpc_code}``), so existing dashboards and alerts read them unchanged. Metric
objects live in each service's ``metrics`` module, registered once per process in
prometheus-client's default registry (the library's model: a process has one registry).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata

from prometheus_client import Info, start_http_server

from mesh_runtime.config import PREFIX, ConfigError

log = logging.getLogger("trademesh.metrics")
BUILD = Info("trademesh_build", "The trademesh build this process runs.")

DEFAULT_PORTS: Mapping[str, int] = {
    "gateway": 9100, "engine": 9101, "persistence": 9102, "feed": 9103, "mm": 9104,
}
# Latency buckets (seconds) for in-process work: 100 µs .. 10 s.
LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                   0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True, slots=True)
class MetricsSettings:
    """``TRADEMESH_METRICS`` (on/off), ``TRADEMESH_METRICS_<PROCESS>_PORT``, ``TRADEMESH_HOST``."""

    enabled: bool = True
    host: str = "127.0.0.1"
    ports: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> MetricsSettings:
        env = os.environ if environ is None else environ
        switch = env.get(PREFIX + "METRICS", "on").strip().lower() or "on"
        if switch not in ("on", "off"):
            raise ConfigError(f"{PREFIX}METRICS={switch!r}: expected on or off")
        ports = {name: _port(env, name, default) for name, default in DEFAULT_PORTS.items()}
        return cls(switch == "on", env.get(PREFIX + "HOST") or "127.0.0.1", ports)

    def port(self, process: str) -> int:
        return self.ports[process]

    def describe(self, host: str) -> str:
        """One line for ``trademesh up``'s banner: where each process' metrics are."""
        if not self.enabled:
            return f"off ({PREFIX}METRICS=off)"
        where = ", ".join(f"{name} :{port}" if port else f"{name} (free port)"
                          for name, port in self.ports.items())
        return f"http://{host}:<port>/metrics  ({where})"


def _port(env: Mapping[str, str], process: str, default: int) -> int:
    var = f"{PREFIX}METRICS_{process.upper()}_PORT"
    raw = env.get(var, "")
    if not raw:
        return default
    try:
        port = int(raw)
    except ValueError:
        raise ConfigError(f"{var}={raw!r}: expected int") from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"{var}={port}: a port is 0..65535")
    return port


def enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Whether this process instruments its calls (``TRADEMESH_METRICS`` is not off)."""
    env = os.environ if environ is None else environ
    return env.get(PREFIX + "METRICS", "on").strip().lower() != "off"


def serve(process: str, settings: MetricsSettings | None = None) -> int | None:
    """Serves ``/metrics`` for ``process`` from a daemon thread; returns the bound port, or
    None when metrics are off or the port is taken (logged: the service runs on without)."""
    config = settings or MetricsSettings.from_env()
    if not config.enabled:
        return None
    try:
        server, _ = start_http_server(config.port(process), addr=config.host)
    except OSError as err:
        log.error("%s: metrics not served on %s:%d: %s", process, config.host,
                  config.port(process), err)
        return None
    port = int(server.server_port)
    build_info(process)
    log.info("%s metrics at http://%s:%d/metrics", process, config.host, port)
    return port


def build_info(process: str) -> None:
    """``trademesh_build_info{process, version}`` = 1: which build each process runs."""
    try:
        version = metadata.version("trademesh")
    except metadata.PackageNotFoundError:
        version = "unknown"
    BUILD.info({"process": process, "version": version})
