"""Sign-up, sign-in, whoami and logout over REST → the real Auth servicer → a persistence
double; the gateway's own token checks (401/403) before anything goes upstream."""

from __future__ import annotations

import httpx
import pytest
from bad_tokens import bad_tokens
from gateway_harness import GatewayFactory, Mesh

from mesh_runtime.config import Settings
from mesh_runtime.tokens import TokenSigner

pytestmark = pytest.mark.timeout(60)
PASSWORD = "correct horse"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def signup(client: httpx.AsyncClient, email: str, password: str = PASSWORD
                 ) -> httpx.Response:
    return await client.post("/api/v1/auth/signup", json={"email": email, "password": password})


async def signin(client: httpx.AsyncClient, email: str, password: str = PASSWORD
                 ) -> httpx.Response:
    return await client.post("/api/v1/auth/signin", json={"email": email, "password": password})


def field_error(response: httpx.Response, status: int, field: str) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert {"field": field}.items() <= error["details"][0].items(), error
    return str(error["code"])


async def test_signup_signin_whoami(gateway: GatewayFactory) -> None:
    client = await gateway(token=None)
    created = await signup(client, "Alice@Example.com")
    assert created.status_code == 201, created.text
    user = created.json()["user"]
    assert user["email"] == "alice@example.com" and user["id"]
    me = await client.get("/api/v1/auth/whoami", headers=bearer(created.json()["token"]))
    assert (me.status_code, me.json()["id"]) == (200, user["id"])
    signed_in = await signin(client, "alice@example.com")
    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.json()["expiresAt"].endswith("Z")
    me = await client.get("/api/v1/auth/whoami", headers=bearer(signed_in.json()["token"]))
    assert me.json()["email"] == "alice@example.com"


async def test_duplicate_email_is_409(gateway: GatewayFactory) -> None:
    client = await gateway(token=None)
    assert (await signup(client, "bob@example.com")).status_code == 201
    again = await signup(client, "BOB@example.com")
    assert field_error(again, 409, "email") == "EMAIL_TAKEN"


@pytest.mark.parametrize(("email", "password", "field"), [
    ("not-an-email", PASSWORD, "email"),
    ("a@b", PASSWORD, "email"),
    ("a b@example.com", PASSWORD, "email"),
    ("", PASSWORD, "email"),
    ("carol@example.com", "short", "password"),
    ("carol@example.com", "", "password"),
    ("carol@example.com", "é" * 40, "password"),  # 80 bytes: over bcrypt's 72
    ("carol@example.com", "x" * 73, "password"),
])
async def test_bad_signup_is_400_naming_the_field(
        gateway: GatewayFactory, mesh: Mesh, email: str, password: str, field: str) -> None:
    client = await gateway(token=None)
    assert field_error(await signup(client, email, password), 400, field) == "INVALID_ARGUMENT"
    assert mesh.persistence.users == {}


async def test_a_72_byte_password_is_whole(gateway: GatewayFactory) -> None:
    client = await gateway(token=None)
    password = "é" * 36  # exactly 72 bytes
    assert (await signup(client, "dave@example.com", password)).status_code == 201
    assert (await signin(client, "dave@example.com", password)).status_code == 200
    assert (await signin(client, "dave@example.com", "é" * 35 + "e")).status_code == 401


async def test_wrong_password_and_unknown_email_look_the_same(gateway: GatewayFactory) -> None:
    client = await gateway(token=None)
    await signup(client, "erin@example.com")
    answers = [await signin(client, "erin@example.com", "wrong password"),
               await signin(client, "nobody@example.com"),
               await signin(client, "erin@example.com", "é" * 40),
               await signin(client, "not an email")]
    assert {r.status_code for r in answers} == {401}
    assert len({r.text for r in answers}) == 1


async def test_repeated_failures_lock_the_account_known_or_not(gateway: GatewayFactory) -> None:
    client = await gateway(token=None)
    await signup(client, "frank@example.com")
    for email in ("frank@example.com", "ghost@example.com"):
        for _ in range(5):
            assert (await signin(client, email, "wrong password")).status_code == 401
        locked = await signin(client, email, PASSWORD)  # even the right password
        assert locked.status_code == 429, locked.text
        assert locked.json()["error"]["code"] == "SIGNIN_LOCKED"
        assert int(locked.headers["Retry-After"]) >= 1
    assert (await signin(client, "frank@example.com")).status_code == 429
    other = await signup(client, "grace@example.com")
    assert (await signin(client, "grace@example.com")).status_code == 200, other.text


async def test_success_clears_the_failures(gateway: GatewayFactory) -> None:
    client = await gateway(token=None)
    await signup(client, "heidi@example.com")
    for _ in range(3):
        for _ in range(4):
            assert (await signin(client, "heidi@example.com", "nope-nope")).status_code == 401
        assert (await signin(client, "heidi@example.com")).status_code == 200


async def test_logout_revokes_the_token_on_every_replica(gateway: GatewayFactory) -> None:
    first, second = await gateway(token=None), await gateway(token=None)
    token = (await signup(first, "ivan@example.com")).json()["token"]
    other = (await signin(first, "ivan@example.com")).json()["token"]
    assert (await second.get("/api/v1/auth/whoami", headers=bearer(token))).status_code == 200
    out = await first.post("/api/v1/auth/logout", headers=bearer(token), json={})
    assert out.status_code == 200, out.text
    for client in (first, second):
        for path in ("/api/v1/auth/whoami", "/api/v1/orders"):
            refused = await client.get(path, headers=bearer(token))
            assert refused.status_code == 401, refused.text
            assert "revoked" in refused.json()["error"]["message"]
    assert (await second.get("/api/v1/auth/whoami", headers=bearer(other))).status_code == 200


async def test_missing_token_is_401_from_the_gateway(gateway: GatewayFactory, mesh: Mesh) -> None:
    client = await gateway(token=None)
    for method, path in (("GET", "/api/v1/orders"), ("POST", "/api/v1/orders"),
                         ("GET", "/api/v1/auth/whoami"), ("POST", "/api/v1/auth/logout"),
                         ("GET", "/api/v1/history/fills")):
        response = await client.request(method, path, json={} if method == "POST" else None)
        assert response.status_code == 401, (path, response.text)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.json()["error"]["code"] == "UNAUTHENTICATED"
    assert mesh.recorder.calls == []
    assert (await client.get("/api/v1/markets")).status_code == 200  # public


async def test_admin_route_needs_the_admin_role(
        gateway: GatewayFactory, signer: TokenSigner) -> None:
    client = await gateway()
    denied = await client.post("/api/v1/admin/oracle/BTC-PERP", json={"price": "1"})
    assert (denied.status_code, denied.json()["error"]["code"]) == (403, "PERMISSION_DENIED")
    admin = bearer(signer.issue("root", admin=True)[0])
    allowed = await client.post("/api/v1/admin/oracle/BTC-PERP", json={"price": "1"},
                                headers=admin)
    assert allowed.status_code == 501  # through to the feed double, which lacks it


async def test_every_bad_token_kind_is_401(
        gateway: GatewayFactory, mesh: Mesh, base_settings: Settings) -> None:
    client = await gateway(token=None)
    tokens = bad_tokens(base_settings.private_key_path.read_bytes(), "user-1",
                        base_settings.jwt_issuer, base_settings.jwt_audience)
    for kind, token in tokens.items():
        for path in ("/api/v1/orders", "/api/v1/auth/whoami"):
            response = await client.get(path, headers=bearer(token))
            assert response.status_code == 401, (kind, path, response.text)
        not_bearer = await client.get("/api/v1/orders", headers={"Authorization": token})
        assert not_bearer.status_code == 401, kind
    assert mesh.recorder.calls == []


async def test_user_directory_down_is_503(gateway: GatewayFactory, mesh: Mesh) -> None:
    client = await gateway(token=None)
    mesh.persistence.unavailable = True
    for response in (await signup(client, "judy@example.com"),
                     await signin(client, "judy@example.com")):
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "UNAVAILABLE"
