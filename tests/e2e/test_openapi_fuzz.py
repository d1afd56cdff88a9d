"""schemathesis, with every check, against the live ``/openapi.json`` of ``trademesh up``.

It runs as the issue's reporter ran it (#15): the ``st run`` command from outside, all
phases (examples, coverage, fuzzing, stateful), positive and negative data, ``--checks
all``: no 5xx, status codes, content types, headers and bodies as documented, schema-valid
requests accepted and schema-invalid ones refused, a missing required header refused,
undeclared methods 405 with ``Allow``, ``Allow`` matching the document, authentication
not ignored, and the stateful checks (``use_after_free``, ``ensure_resource_availability``)
over the document's links, from the real order the documented PlaceOrder example places.
A failure prints schemathesis' report with ``curl`` lines.

``object_level_authorization`` is on but idle: it replays one identity's reads as its
"peers", which schemathesis takes only from Web Fuzzing Commons auth (``[auth.wfc]``).
Tried with two funded users (2026-12-04, 4.32.5): it sent no request as the second user
within this budget, so the test keeps bearer auth; that users cannot see each other's
orders is shown by tests/e2e/test_rest_api.py (another user's order is 404) and the
engine service tests.

Bounded and reproducible: ``TRADEMESH_FUZZ_EXAMPLES`` examples per operation (default 12)
and ``TRADEMESH_FUZZ_SEED`` (default below; set another to explore), one worker.

Credentials: a signed-up user's token for every operation; the admin routes an admin token
(``trademesh token --admin``; the user would only ever see 403); ``/auth/logout`` a token
of its own (it revokes the token it is called with: with the shared one, every later
request would be 401). The user is funded first, so orders can succeed.

Where the expected answer to *schema-valid* data is not only 2xx/401/403/404/409/429, the
configuration says which operation and why (``POSITIVE_400``): whether an order, a quote,
a withdrawal or a deposit is accepted depends on balances, positions and each market's
tick and lot grid, which are data, not schema, and API.md answers those refusals with 400
(FAILED_PRECONDITION / INVALID_ARGUMENT: ``INSUFFICIENT_BALANCE``, ``INVALID_PRICE``, ...).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_mesh_up import Mesh, mesh_env, start_up, traversable_tmp

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
PASSWORD = "a long enough password"
MAX_EXAMPLES = int(os.environ.get("TRADEMESH_FUZZ_EXAMPLES", "12"))
SEED = int(os.environ.get("TRADEMESH_FUZZ_SEED", "15"))
REPO = Path(__file__).resolve().parents[2]
# The fuzzer is one client sending as fast as it can: rate limits would turn most of its
# examples into (documented, conforming) 429s and test nothing else.
GENEROUS_LIMITS = {"TRADEMESH_RATE_LIMIT_USER_BURST": "100000",
                   "TRADEMESH_RATE_LIMIT_USER_PER_SECOND": "100000",
                   "TRADEMESH_RATE_LIMIT_IP_BURST": "100000",
                   "TRADEMESH_RATE_LIMIT_IP_PER_SECOND": "100000"}
FUNDS = {"USD": "100000000", "BTC": "1000", "ETH": "10000", "SOL": "100000"}
# Operations whose schema-valid requests may be refused with 400 because of state or a
# market's grid (see the module docstring); every other operation keeps the default.
POSITIVE_400 = {
    ("POST", "/api/v1/orders"): "balance, margin, tick and lot grid, post-only, fill-or-kill",
    ("POST", "/api/v1/orders/quote"): "the lot grid; no liquidity on the other side",
    ("PATCH", "/api/v1/orders/{orderId}"): "the order's market's grid; quantity filled",
    ("POST", "/api/v1/account/deposit"): "the asset's decimals",
    ("POST", "/api/v1/account/withdraw"): "the asset's decimals; the available balance",
    ("POST", "/api/v1/positions/{market}/close"): "no open position to reduce",
    ("POST", "/api/v1/admin/oracle/{market}"): "the market's tick grid; a real index feed",
    ("GET", "/api/v1/markets/{market}/candles"): "start and end together: end after start, "
                                                 "at most 1500 candles",
}


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


@pytest.fixture(scope="module")
def fuzz_env(target: FuzzTarget) -> dict[str, str]:
    return fuzz_environment(target)


def fuzz_environment(target: FuzzTarget) -> dict[str, str]:
    """Tokens (user, admin, logout's own), the listed markets and assets, a funded user."""
    base = target.base_url
    email = f"fuzz-{uuid.uuid4().hex[:12]}@example.com"
    signup = httpx.post(f"{base}/api/v1/auth/signup",
                        json={"email": email, "password": PASSWORD}, timeout=30)
    assert signup.status_code == 201, signup.text
    token = str(signup.json()["token"])
    signin = httpx.post(f"{base}/api/v1/auth/signin",
                        json={"email": email, "password": PASSWORD}, timeout=30)
    assert signin.status_code == 200, signin.text
    admin = subprocess.run([sys.executable, "-m", "trademesh_cli", "token", "--admin"],
                           env=target.env, capture_output=True, text=True, timeout=60,
                           check=True, cwd=Path(target.env["TRADEMESH_DATA_DIR"]).parent)
    markets = httpx.get(f"{base}/api/v1/markets", timeout=30).json()
    assets = sorted({m[side] for m in markets for side in ("baseAsset", "quoteAsset")})
    for asset in assets:
        funded = httpx.post(f"{base}/api/v1/account/deposit", timeout=30,
                            headers={"Authorization": f"Bearer {token}"},
                            json={"asset": asset, "amount": FUNDS.get(asset, "1000"),
                                  "transactionId": f"fuzz-{asset}"})
        assert funded.status_code == 200, funded.text
    return {"TRADEMESH_FUZZ_TOKEN": token,
            "TRADEMESH_FUZZ_LOGOUT_TOKEN": str(signin.json()["token"]),
            "TRADEMESH_FUZZ_ADMIN_TOKEN": admin.stdout.strip(),
            "TRADEMESH_FUZZ_MARKETS": ",".join(sorted(m["symbol"] for m in markets)),
            "TRADEMESH_FUZZ_ASSETS": ",".join(assets)}


def schemathesis_config() -> str:
    """``schemathesis.toml``: the user's bearer token (from the environment: no token is
    written to disk; the hooks swap it for the admin's and logout's), and the
    state-dependent 400s of POSITIVE_400."""
    lines = ['[auth.openapi.bearerAuth]', 'bearer = "${TRADEMESH_FUZZ_TOKEN}"', ""]
    for (method, path), why in POSITIVE_400.items():
        lines += [f"# {why}", "[[operations]]", f'include-method = "{method}"',
                  f'include-path = "{path}"',
                  "[operations.checks.positive_data_acceptance]",
                  'expected-statuses = ["2xx", "400", "401", "403", "404", "409", "429"]', ""]
    return "\n".join(lines)


def test_every_operation_conforms_to_the_live_openapi_document(
        target: FuzzTarget, fuzz_env: dict[str, str], tmp_path: Path) -> None:
    env = {**os.environ, **fuzz_env,
           "SCHEMATHESIS_HOOKS": "tests.e2e.openapi_fuzz_hooks",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO),
                                                       os.environ.get("PYTHONPATH")]))}
    config = tmp_path / "schemathesis.toml"
    config.write_text(schemathesis_config())
    command = [str(Path(sys.executable).parent / "st"), "--config-file", str(config),
               "--no-color", "run", f"{target.base_url}/openapi.json",
               "--checks", "all", "--mode", "all",
               "--phases", "examples,coverage,fuzzing,stateful",
               "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED),
               "--generation-database", "none",
               "--workers", "1", "--request-timeout", "30", "--continue-on-failure"]
    run = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True,
                         timeout=540)
    report = run.stdout + run.stderr
    print(report[-3000:])
    assert run.returncode == 0, report
    selected = re.search(r"Selected: (\d+)/(\d+)\s+Tested: (\d+)", report)
    assert selected is not None, report
    assert int(selected[3]) == int(selected[2]) >= 30, report  # every operation, tested
    whoami = httpx.get(f"{target.base_url}/api/v1/auth/whoami", timeout=30,
                       headers={"Authorization": f"Bearer {env['TRADEMESH_FUZZ_TOKEN']}"})
    assert whoami.status_code == 200, whoami.text  # logout revoked only its own token


@pytest.mark.parametrize("order_id", ["²", "٣", "\uff11", "1_0", " 1"])
def test_an_order_id_in_other_digits_is_400_naming_it(
        target: FuzzTarget, fuzz_env: dict[str, str], order_id: str) -> None:
    """Issue #15: ``/orders/²`` was a 500 carrying the engine's ValueError text, and
    ``/orders/٣`` was read as order 3."""
    bearer = {"Authorization": f"Bearer {fuzz_env['TRADEMESH_FUZZ_TOKEN']}"}
    for method in ("GET", "DELETE"):
        answer = httpx.request(method, f"{target.base_url}/api/v1/orders/{order_id}",
                               timeout=30, headers=bearer)
        assert answer.status_code == 400, answer.text
        error = answer.json()["error"]
        assert (error["code"], error["details"][0]["field"]) == ("INVALID_ARGUMENT", "orderId")
        assert "ValueError" not in answer.text and "int()" not in answer.text
