"""schemathesis against the live ``/openapi.json`` of ``trademesh up``'s real processes.

Every operation of the document is called with a bounded number of generated examples
(``TRADEMESH_FUZZ_EXAMPLES``, default 25; derandomized so CI runs are reproducible, unless
``TRADEMESH_FUZZ_RANDOM`` is set), with a
signed-up user's bearer token, and every response must be no 5xx and match the document's
response schema (schemathesis' ``not_a_server_error`` and ``response_schema_conformance``).
All failures of all operations are collected and reported together.

No operation is left out. Two get special credentials, on purpose:

- ``POST /api/v1/auth/logout`` would revoke the token every other operation shares, so each
  of its examples runs with a fresh token of the same user (from ``/auth/signin``).
- admin routes (``/api/v1/admin/...``) run with an admin token from ``trademesh token
  --admin`` against the mesh's data dir (the user's token would only ever see 403).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.e2e.test_mesh_up import Mesh, mesh_env, start_up, traversable_tmp

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]
PASSWORD = "a long enough password"
MAX_EXAMPLES = int(os.environ.get("TRADEMESH_FUZZ_EXAMPLES", "25"))
DERANDOMIZE = os.environ.get("TRADEMESH_FUZZ_RANDOM", "") == ""
CHECKS = [not_a_server_error, response_schema_conformance]
# The fuzzer is one client sending as fast as it can: rate limits would turn most of its
# examples into (documented, conforming) 429s and test nothing else.
GENEROUS_LIMITS = {"TRADEMESH_RATE_LIMIT_USER_BURST": "100000",
                   "TRADEMESH_RATE_LIMIT_USER_PER_SECOND": "100000",
                   "TRADEMESH_RATE_LIMIT_IP_BURST": "100000",
                   "TRADEMESH_RATE_LIMIT_IP_PER_SECOND": "100000"}


@dataclass
class FuzzTarget:
    mesh: Mesh
    env: dict[str, str]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.mesh.ports['gateway_port']}"


@pytest.fixture(scope="module")
def target() -> Iterator[FuzzTarget]:
    with traversable_tmp() as data_root:
        env, ports = mesh_env(data_root / "data")
        env["TRADEMESH_MARKET_MAKER"] = "off"
        env.update(GENEROUS_LIMITS)
        running = start_up(data_root, env, ports, "openapi-fuzz")
        try:
            running.wait_ready()
            yield FuzzTarget(running, env)
        finally:
            if running.proc.poll() is None:
                running.stop()


@dataclass
class Credentials:
    base_url: str
    email: str
    token: str
    admin_token: str
    markets: list[str]
    assets: list[str]

    def fresh_token(self) -> str:
        """Another token of the same user (its own ``jti``), for logout to revoke."""
        response = httpx.post(f"{self.base_url}/api/v1/auth/signin",
                              json={"email": self.email, "password": PASSWORD}, timeout=30)
        assert response.status_code == 200, response.text
        return str(response.json()["token"])


def credentials(target: FuzzTarget) -> Credentials:
    email = f"fuzz-{uuid.uuid4().hex[:12]}@example.com"
    response = httpx.post(f"{target.base_url}/api/v1/auth/signup",
                          json={"email": email, "password": PASSWORD}, timeout=30)
    assert response.status_code == 201, response.text
    admin = subprocess.run([sys.executable, "-m", "trademesh_cli", "token", "--admin"],
                           env=target.env, capture_output=True, text=True, timeout=60,
                           check=True, cwd=Path(target.env["TRADEMESH_DATA_DIR"]).parent)
    markets = httpx.get(f"{target.base_url}/api/v1/markets", timeout=30).json()
    symbols = sorted(m["symbol"] for m in markets)
    assets = sorted({m[side] for m in markets for side in ("baseAsset", "quoteAsset")})
    return Credentials(target.base_url, email, response.json()["token"], admin.stdout.strip(),
                       symbols, assets)


def make_realistic(case: schemathesis.Case[Any], market: str | None, asset: str | None) -> None:
    """Steers some examples to real markets and assets (random strings almost never name
    one, so the engine would only ever answer UNKNOWN_MARKET), and makes a generated
    Idempotency-Key unique per example (hypothesis repeats small values across examples
    and operations: they would all be 422s against the key's first use)."""
    for values in (case.path_parameters, case.query, case.body):
        if not isinstance(values, dict):
            continue
        if market is not None and "market" in values:
            values["market"] = market
        if asset is not None and "asset" in values:
            values["asset"] = asset
    if case.headers and "Idempotency-Key" in case.headers:
        key = case.headers["Idempotency-Key"]
        case.headers["Idempotency-Key"] = f"{uuid.uuid4().hex}{key}"[:255]


def fuzz_operation(operation: schemathesis.APIOperation[Any, Any, Any, Any], creds: Credentials,
                   session: requests.Session, max_examples: int) -> int:
    """Runs ``max_examples`` generated cases of ``operation``; raises on the first failure.
    Returns how many cases were sent."""
    sent = 0
    is_logout = operation.path.endswith("/auth/logout")
    is_admin = "/admin/" in operation.path

    @given(case=operation.as_strategy(), market=st.sampled_from([None, *creds.markets]),
           asset=st.sampled_from([None, *creds.assets]))
    @settings(max_examples=max_examples, deadline=None, database=None,
              derandomize=DERANDOMIZE, phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck))
    def run(case: schemathesis.Case[Any], market: str | None, asset: str | None) -> None:
        nonlocal sent
        make_realistic(case, market, asset)
        token = creds.token
        if is_logout:
            token = creds.fresh_token()
        elif is_admin:
            token = creds.admin_token
        sent += 1
        case.call_and_validate(base_url=creds.base_url, session=session, timeout=30,
                               headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)

    run()
    return sent


def test_every_operation_conforms_to_the_live_openapi_document(target: FuzzTarget) -> None:
    creds = credentials(target)
    schema = schemathesis.openapi.from_url(f"{target.base_url}/openapi.json", timeout=30)
    failures: list[str] = []
    counts: dict[str, int] = {}
    with requests.Session() as session:
        for result in schema.get_all_operations():
            if isinstance(result, Err):  # an operation the document cannot describe
                failures.append(f"invalid operation: {result.err()}")
                continue
            operation = result.ok()
            try:
                counts[operation.label] = fuzz_operation(operation, creds, session,
                                                         MAX_EXAMPLES)
            # Every operation's failures, reported together (schemathesis raises a
            # FailureGroup, a BaseExceptionGroup, not an Exception).
            except (Exception, BaseExceptionGroup) as exc:
                failures.append(f"{operation.label}:\n{exc}")
    # The user's token still works: logout only revoked its own fresh tokens.
    whoami = httpx.get(f"{target.base_url}/api/v1/auth/whoami", timeout=30,
                       headers={"Authorization": f"Bearer {creds.token}"})
    assert whoami.status_code == 200, whoami.text
    assert not failures, "\n\n".join(failures)
    assert len(counts) >= 30, counts  # every operation of API.md and the operational ones
    print(f"schemathesis: {len(counts)} operations, {sum(counts.values())} cases")
