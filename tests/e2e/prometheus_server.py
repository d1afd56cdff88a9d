"""A real Prometheus server for tests: Debian's ``prometheus`` binary on a free loopback
port, with a temporary configuration and storage directory, stopped at the end.

Absent, the tests that need it are skipped with a message, except in CI (``CI=true``),
where they fail: ``scripts/system_deps.sh`` installs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from mesh_runtime.ports import free_ports

DEPLOY_CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "prometheus.yml"
START_TIMEOUT = 60.0


def prometheus_binary() -> str:
    """The ``prometheus`` executable; skips (fails in CI) when it is not installed."""
    found = shutil.which("prometheus")
    if found is None:
        message = "prometheus is not installed (apt-get install prometheus; scripts/system_deps.sh)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


def local_config(ports: Mapping[int, int], interval: str = "1s") -> dict[str, Any]:
    """``deploy/prometheus.yml`` with its default ports replaced by ``ports`` (default →
    the test's) and a short scrape interval."""
    config: dict[str, Any] = yaml.safe_load(DEPLOY_CONFIG.read_text())
    config["global"].update(scrape_interval=interval, evaluation_interval=interval)
    config["rule_files"] = [str(DEPLOY_CONFIG.parent / name)
                            for name in config.get("rule_files", [])]
    for job in config["scrape_configs"]:
        for group in job["static_configs"]:
            group["targets"] = [_moved(target, ports) for target in group["targets"]]
    return config


def _moved(target: str, ports: Mapping[int, int]) -> str:
    host, _, port = target.rpartition(":")
    return f"{host}:{ports[int(port)]}"


@contextmanager
def running_prometheus(config: dict[str, Any]) -> Iterator[str]:
    """Prometheus with ``config``; yields its base URL."""
    binary = prometheus_binary()
    port = free_ports(1)[0]
    with tempfile.TemporaryDirectory(prefix="trademesh-prometheus-") as tmp:
        root = Path(tmp)
        (root / "prometheus.yml").write_text(yaml.safe_dump(config))
        log = (root / "prometheus.log").open("wb")
        proc = subprocess.Popen(
            [binary, f"--config.file={root / 'prometheus.yml'}",
             f"--storage.tsdb.path={root / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
            stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(proc, url, root / "prometheus.log")
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
            log.close()


def _wait_ready(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if proc.poll() is not None:
            pytest.fail(f"prometheus exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/-/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"prometheus not ready after {START_TIMEOUT}s")
        time.sleep(0.2)


async def query(client: httpx.AsyncClient, url: str, promql: str) -> list[dict[str, Any]]:
    """The result vector of an instant PromQL query."""
    reply = await client.get(f"{url}/api/v1/query", params={"query": promql}, timeout=10)
    reply.raise_for_status()
    body = reply.json()
    assert body["status"] == "success", body
    return list(body["data"]["result"])
