"""Settings from TRADEMESH_* environment variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from mesh_runtime.config import ConfigError, Settings


def test_defaults_run_everything_on_loopback(tmp_path: Path) -> None:
    s = Settings.from_env({"TRADEMESH_DATA_DIR": str(tmp_path)})  # no passwords generated
    assert (s.engine_port, s.persistence_port, s.feed_port) == (50051, 50052, 50053)
    assert (s.gateway_port, s.ws_port) == (8080, 8081)
    assert s.address("engine") == "127.0.0.1:50051"
    assert s.redis_dsn == "redis://127.0.0.1:56379/0"
    assert s.postgres_dsn.startswith("postgresql://postgres@127.0.0.1:55432/")


def test_variables_override_defaults_with_types() -> None:
    s = Settings.from_env({
        "TRADEMESH_ENGINE_PORT": "6000",
        "TRADEMESH_DATA_DIR": "/tmp/tm",
        "TRADEMESH_REDIS_URL": "redis://example:6379/1",
        "TRADEMESH_ENGINE_ADDR": "engine:7000",
        "TRADEMESH_SHUTDOWN_GRACE_SECONDS": "2.5",
    })
    assert s.engine_port == 6000
    assert s.data_dir == Path("/tmp/tm")
    assert s.redis_dsn == "redis://example:6379/1"
    assert s.address("engine") == "engine:7000"
    assert s.shutdown_grace_seconds == 2.5


def test_empty_variable_means_default() -> None:
    assert Settings.from_env({"TRADEMESH_ENGINE_PORT": ""}).engine_port == 50051


@pytest.mark.parametrize(("name", "value"), [
    ("TRADEMESH_ENGINE_PORT", "abc"),
    ("TRADEMESH_ENGINE_PORT", "70000"),
    ("TRADEMESH_SHUTDOWN_GRACE_SECONDS", "nan"),
    ("TRADEMESH_SHUTDOWN_GRACE_SECONDS", "-1"),
    ("TRADEMESH_JWT_TTL_SECONDS", "0"),
    ("TRADEMESH_EVENT_LOOP", "trio"),
    ("TRADEMESH_ENGINE_SNAPSHOT_COMPRESS", "maybe"),
    ("TRADEMESH_ENGINE_GC_FULL_SECONDS", "0"),
])
def test_bad_values_are_refused_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


def test_as_env_round_trips() -> None:
    s = Settings.from_env({"TRADEMESH_FEED_PORT": "1234", "TRADEMESH_MONGO_URL": "mongodb://x",
                           "TRADEMESH_ENGINE_SNAPSHOT_COMPRESS": "off"})
    assert Settings.from_env(s.as_env()) == s


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_a_service_runs_on_the_configured_event_loop(loop: str) -> None:
    import asyncio

    from mesh_runtime.event_loop import run

    async def loop_type() -> str:
        return type(asyncio.get_running_loop()).__module__.split(".")[0]

    assert run(loop_type(), Settings.from_env({"TRADEMESH_EVENT_LOOP": loop}).event_loop) == loop
