"""Configuration from environment variables, all prefixed ``TRADEMESH_``.

Every setting has a default that runs the whole mesh on one machine. Pointing
``TRADEMESH_POSTGRES_URL`` / ``TRADEMESH_REDIS_URL`` / ``TRADEMESH_MONGO_URL`` at external
servers switches from the embedded ones (``trademesh up`` then starts none).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path

from mesh_runtime.client_address import TrustedProxies
from mesh_runtime.pki import TlsFiles, service_files
from mesh_runtime.server_secrets import generated_password_path, read_password, with_password

PREFIX = "TRADEMESH_"


class ConfigError(ValueError):
    """A configuration variable has a value that cannot be used; the message names it."""


@dataclass(frozen=True, slots=True)
class Settings:
    """The mesh's configuration. Field ``x`` is read from ``TRADEMESH_X``."""

    data_dir: Path = Path(".trademesh")
    host: str = "127.0.0.1"
    log_level: str = "INFO"
    # The services' event loop: "uvloop" (libuv; faster sockets and callbacks) or "asyncio".
    event_loop: str = "uvloop"
    engine_port: int = 50051
    persistence_port: int = 50052
    feed_port: int = 50053
    auth_port: int = 50054
    gateway_port: int = 8080
    ws_port: int = 8081
    # Where the services reach each other; empty means host:port from above.
    engine_addr: str = ""
    persistence_addr: str = ""
    feed_addr: str = ""
    auth_addr: str = ""
    # Each gRPC server also listens on a mesh port that requires a client certificate from
    # the mesh CA (mutual TLS): services call each other there. grpcio cannot ask for an
    # optional client certificate on one port, so users' port (TLS, token) and the mesh
    # port (mutual TLS) are two listeners with the same services and the same call policies.
    engine_mesh_port: int = 50061
    persistence_mesh_port: int = 50062
    feed_mesh_port: int = 50063
    auth_mesh_port: int = 50064
    engine_mesh_addr: str = ""
    persistence_mesh_addr: str = ""
    feed_mesh_addr: str = ""
    auth_mesh_addr: str = ""
    # TLS: the CA every client trusts and this process's certificate and key (PEM); empty
    # means <data_dir>/pki/ca.pem and <data_dir>/pki/<service>{,-key}.pem, which
    # `trademesh up` creates. Extra DNS names / IPs for the generated certificates
    # (comma-separated), e.g. a host name clients dial.
    tls_ca_file: str = ""
    tls_cert_file: str = ""
    tls_key_file: str = ""
    tls_server_names: str = ""
    # External servers; empty means the embedded ones started by `trademesh up`.
    postgres_url: str = ""
    redis_url: str = ""
    mongo_url: str = ""
    # Files holding the PostgreSQL / Redis passwords (docker secrets), put into the URLs
    # above when those have none; empty means <data_dir>/secrets/{postgres,redis}_password
    # for the embedded servers, which generate them.
    postgres_password_file: str = ""
    redis_password_file: str = ""
    embedded_postgres_port: int = 55432
    embedded_redis_port: int = 56379
    # The embedded Redis' fsync policy: "always" (every acknowledged order is on disk) or
    # "everysec" (faster; up to a second of acknowledged orders at risk on power loss).
    redis_appendfsync: str = "always"
    # Perpetuals: how often funding is settled (8 hours; seconds in tests).
    funding_interval_seconds: float = 28_800.0
    # Whether `trademesh up` also runs the market maker (`trademesh mm`).
    market_maker: str = "on"
    # How long `trademesh up` waits for every service to report healthy.
    startup_timeout_seconds: float = 90.0
    # JWT keys (Ed25519, PEM); empty means <data_dir>/keys/jwt_{private,public}.pem.
    jwt_private_key_file: str = ""
    jwt_public_key_file: str = ""
    jwt_issuer: str = "trademesh"
    jwt_audience: str = "trademesh-api"
    jwt_ttl_seconds: int = 3600
    # Engine snapshots: every this many seconds (when anything changed) or commands.
    engine_snapshot_seconds: float = 60.0
    engine_snapshot_every: int = 200_000
    # Snapshots zlib-compressed, on or off (off: plain JSON, which engines before 2026-12-06
    # read).
    engine_snapshot_compress: str = "on"
    # The engine freezes what survives a young GC pass (mesh_runtime.gc_tuning); every this
    # many seconds it collects everything, frozen objects included (reference cycles).
    engine_gc_full_seconds: float = 3600.0
    # The most live orders one user may have in one market (journaled into the engine).
    max_open_orders: int = 200
    # The most armed triggers (stop-loss, take-profit, stop orders) one user may have.
    max_triggers: int = 100
    # Gateway: password hashing cost, rate limits (token buckets per user and per IP),
    # sign-in lockout, Idempotency-Key memory, request body limit.
    bcrypt_rounds: int = 12
    rate_limit_user_burst: int = 200
    rate_limit_user_per_second: float = 100.0
    rate_limit_ip_burst: int = 5000
    rate_limit_ip_per_second: float = 2500.0
    signin_max_failures: int = 5
    signin_lockout_seconds: int = 900
    # Failed sign-ins from one client address (any accounts) before that address is locked.
    signin_max_failures_per_address: int = 50
    idempotency_ttl_seconds: int = 86_400
    max_body_bytes: int = 65_536
    # Browser origins allowed to call the REST API (comma-separated, or *); empty: no CORS.
    cors_origins: str = ""
    # Proxies whose X-Forwarded-For is believed (IPs/CIDRs, comma-separated); empty: none.
    trusted_proxies: str = ""
    # The web terminal's built files, served at / (default: web/dist beside these packages).
    web_dir: Path = Path(__file__).resolve().parent.parent / "web" / "dist"
    # Feed: the index oracle ("simulated" random walk, "backpack" public ticker, or "off" on
    # all but one replica), its seed and pace; per-connection limits.
    feed_oracle: str = "simulated"
    feed_oracle_seed: int = 1
    feed_oracle_interval_seconds: float = 1.0
    feed_backpack_url: str = "wss://ws.backpack.exchange"
    feed_max_subscriptions: int = 50
    feed_queue_size: int = 2_000
    feed_max_message_bytes: int = 16_384
    feed_requests_per_second: float = 10.0
    feed_max_connections_per_address: int = 100
    # trademesh up: how many times a dead service is restarted within 5 minutes before the
    # mesh stops instead (0: never restart; any death stops the mesh).
    restart_limit: int = 5
    # Seconds a service waits for in-flight calls when stopping.
    shutdown_grace_seconds: float = 5.0
    # Per-call deadline the gateway gives upstream calls that have none.
    upstream_timeout_seconds: float = 10.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(PREFIX + f.name.upper())
            if raw is None or raw == "":
                continue
            values[f.name] = _parse(f.name, raw, f.type)
        settings = cls(**values)  # type: ignore[arg-type]
        settings.validate()
        return settings

    def validate(self) -> None:
        for name in ("engine_port", "persistence_port", "feed_port", "auth_port",
                     "engine_mesh_port", "persistence_mesh_port", "feed_mesh_port",
                     "auth_mesh_port", "gateway_port", "ws_port", "embedded_postgres_port",
                     "embedded_redis_port"):
            port = getattr(self, name)
            if not 0 <= port <= 65535:
                raise ConfigError(f"{PREFIX}{name.upper()}={port}: a port is 0..65535")
        for name, allowed in _CHOICES.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{PREFIX}{name.upper()}={getattr(self, name)!r}: expected "
                                  f"{', '.join(allowed[:-1])} or {allowed[-1]}")
        for name in ("bcrypt_rounds", "rate_limit_user_burst", "rate_limit_ip_burst",
                     "signin_max_failures", "signin_lockout_seconds",
                     "signin_max_failures_per_address", "feed_max_connections_per_address",
                     "idempotency_ttl_seconds", "max_body_bytes", "feed_max_subscriptions",
                     "feed_queue_size", "feed_max_message_bytes", "feed_requests_per_second",
                     "engine_gc_full_seconds"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{PREFIX}{name.upper()} must be positive")
        if self.restart_limit < 0:
            raise ConfigError(f"{PREFIX}RESTART_LIMIT must be 0 or more")
        if self.jwt_ttl_seconds <= 0:
            raise ConfigError(f"{PREFIX}JWT_TTL_SECONDS must be positive")
        _check_proxies(self.trusted_proxies)

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    def address(self, service: str) -> str:
        """Where to reach ``service`` (engine, persistence, feed, auth) over gRPC."""
        explicit: str = getattr(self, f"{service}_addr")
        return explicit or f"{self.host}:{getattr(self, f'{service}_port')}"

    def mesh_address(self, service: str) -> str:
        """Where services reach ``service``'s mutual-TLS listener."""
        explicit: str = getattr(self, f"{service}_mesh_addr")
        return explicit or f"{self.host}:{getattr(self, f'{service}_mesh_port')}"

    @property
    def pki_dir(self) -> Path:
        return self.data_dir / "pki"

    def tls_files(self, service: str) -> TlsFiles:
        """The CA, certificate and key this process uses as ``service``."""
        default = service_files(self.pki_dir, service)
        return TlsFiles(Path(self.tls_ca_file) if self.tls_ca_file else default.ca,
                        Path(self.tls_cert_file) if self.tls_cert_file else default.cert,
                        Path(self.tls_key_file) if self.tls_key_file else default.key)

    @property
    def ca_path(self) -> Path:
        """The CA certificate clients of the mesh trust."""
        return Path(self.tls_ca_file) if self.tls_ca_file else self.pki_dir / "ca.pem"

    @property
    def redis_dsn(self) -> str:
        """The configured Redis, or the embedded one `trademesh up` starts, with its
        password (see :meth:`password_path`)."""
        url = self.redis_url or f"redis://127.0.0.1:{self.embedded_redis_port}/0"
        return with_password(url, read_password(self.password_path("redis")))

    @property
    def postgres_dsn(self) -> str:
        """The configured PostgreSQL, or the embedded one `trademesh up` starts, with its
        password (see :meth:`password_path`)."""
        url = (self.postgres_url
               or f"postgresql://postgres@127.0.0.1:{self.embedded_postgres_port}/trademesh")
        return with_password(url, read_password(self.password_path("postgres")))

    def password_path(self, server: str) -> Path | None:
        """The file with ``server``'s (postgres, redis) password: the configured one, else
        the embedded server's generated one; None for an external URL given alone."""
        configured: str = getattr(self, f"{server}_password_file")
        if configured:
            return Path(configured)
        if getattr(self, f"{server}_url"):
            return None
        return generated_password_path(self.data_dir, server)

    @property
    def private_key_path(self) -> Path:
        return Path(self.jwt_private_key_file or self.data_dir / "keys" / "jwt_private.pem")

    @property
    def public_key_path(self) -> Path:
        return Path(self.jwt_public_key_file or self.data_dir / "keys" / "jwt_public.pem")

    def as_env(self) -> dict[str, str]:
        """These settings as TRADEMESH_* variables, for child processes."""
        return {PREFIX + f.name.upper(): str(getattr(self, f.name)) for f in fields(self)}


_CHOICES: dict[str, tuple[str, ...]] = {
    "redis_appendfsync": ("always", "everysec"),
    "feed_oracle": ("simulated", "backpack", "off"),
    "event_loop": ("uvloop", "asyncio"),
    "market_maker": ("on", "off"),
    "engine_snapshot_compress": ("on", "off"),
}
"""The settings that take one of a few words, and those words."""


def _check_proxies(text: str) -> None:
    try:
        TrustedProxies.parse(text)
    except ValueError as err:
        raise ConfigError(f"{PREFIX}TRUSTED_PROXIES: {err}") from None


def _parse(name: str, raw: str, kind: object) -> object:
    var = PREFIX + name.upper()
    try:
        if kind in (int, "int"):
            return int(raw)
        if kind in (float, "float"):
            value = float(raw)  # durations only, never money
            if value != value or value < 0:
                raise ValueError(raw)
            return value
    except ValueError:
        expected = getattr(kind, "__name__", str(kind))
        raise ConfigError(f"{var}={raw!r}: expected {expected}") from None
    if kind in (Path, "Path"):
        return Path(raw)
    return raw
