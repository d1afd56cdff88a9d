"""The four attacks of the zero-trust issue, tried from outside against ``trademesh up``.

An attacker who reaches every gRPC port, with no credential, with a trader's token, or with
a certificate of their own that claims a service's SPIFFE id (signed by their own CA), tries:
an admin account through ``Persistence/CreateUser``; a user's bcrypt hash through
``Persistence/GetUser``; a forged trade print and index price through
``Feed/PublishMarketData``; a forged event batch through ``Persistence/SyncEvents``. Every
attempt is refused, and nothing changed: no account, no forged print on a WebSocket
subscriber, the index unchanged, persistence's committed sequence unchanged. A logged-out
token no longer reads history over gRPC. A plaintext client gets a clean failure and the
server keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
import websockets
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from trademesh.v1 import (
    engine_pb2,
    event_pb2,
    feed_pb2,
    feed_pb2_grpc,
    market_pb2,
    persistence_pb2,
    persistence_pb2_grpc,
)

from tests.e2e.test_mesh_up import Mesh, running_mesh

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
PASSWORD = "a long enough password"
REFUSED = {grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED}
MARKET = "SOL-PERP"


@pytest.fixture(scope="module")
def mesh() -> Iterator[Mesh]:
    with running_mesh("zero-trust", TRADEMESH_MARKET_MAKER="off") as (running, _):
        yield running


def data_dir(mesh: Mesh) -> Path:
    return mesh.out_path.parent / "data"


def ca_pem(mesh: Mesh) -> bytes:
    return (data_dir(mesh) / "pki" / "ca.pem").read_bytes()


def rogue_identity(service: str) -> tuple[bytes, bytes]:
    """(key, certificate) claiming ``spiffe://trademesh/<service>``, from the attacker's CA."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "trademesh mesh CA")])
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, service)]))
        .issuer_name(ca_name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.UniformResourceIdentifier(f"spiffe://trademesh/{service}")]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


def attacker_channels(
    mesh: Mesh, service: str, impersonate: str
) -> list[tuple[grpc.aio.Channel, set[grpc.StatusCode]]]:
    """Every way in an outsider has, with how it must be refused: TLS without a certificate
    on the public port (by the call policy), and the mesh port with a rogue certificate
    claiming ``impersonate`` (by the TLS handshake: UNAVAILABLE, no call is ever made)."""
    key, cert = rogue_identity(impersonate)
    public = grpc.aio.secure_channel(f"127.0.0.1:{mesh.ports[f'{service}_port']}",
                                     grpc.ssl_channel_credentials(ca_pem(mesh)))
    rogue = grpc.aio.secure_channel(f"127.0.0.1:{mesh.ports[f'{service}_mesh_port']}",
                                    grpc.ssl_channel_credentials(ca_pem(mesh), key, cert))
    return [(public, REFUSED), (rogue, {grpc.StatusCode.UNAVAILABLE})]


@pytest.fixture
async def api(mesh: Mesh) -> AsyncIterator[httpx.AsyncClient]:
    base = f"http://127.0.0.1:{mesh.ports['gateway_port']}/api/v1"
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        yield client


async def signup(api: httpx.AsyncClient) -> tuple[str, str, str]:
    email = f"zt-{uuid.uuid4().hex[:12]}@example.com"
    response = await api.post("/auth/signup", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.text
    return email, response.json()["token"], response.json()["user"]["id"]


async def code_of(call: Any) -> grpc.StatusCode:
    try:
        await call
    except grpc.aio.AioRpcError as err:
        return err.code()
    return grpc.StatusCode.OK


async def stream_refusal(
    method: Any, metadata: tuple[tuple[str, str], ...], requests: list[Any]
) -> grpc.StatusCode:
    """How a client-streaming call is refused. First with nothing written (the status is the
    server's alone), then with ``requests`` written, which must not succeed either (a
    server refusing the call may close it while they are still being written, so that
    attempt's code can be the client's own)."""
    def open_call() -> Any:
        return method(timeout=10, metadata=metadata)

    # Writing to a call the server has ended raises whatever the transport says (an
    # AioRpcError, UsageError, or grpc's own ExecuteBatchError when the handshake failed):
    # the status below is what counts.
    probe = open_call()
    with contextlib.suppress(Exception):
        await probe.done_writing()
    code: grpc.StatusCode = await probe.code()
    attempt = open_call()
    with contextlib.suppress(Exception):
        for request in requests:
            await attempt.write(request)
        await attempt.done_writing()
    assert await attempt.code() != grpc.StatusCode.OK
    return code


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


async def test_no_one_outside_makes_an_admin_account(mesh: Mesh, api: httpx.AsyncClient) -> None:
    _, token, _ = await signup(api)
    email = f"evil-{uuid.uuid4().hex[:8]}@example.com"
    request = persistence_pb2.CreateUserRequest(email=email, password_hash="$2b$12$" + "x" * 53,
                                                admin=True)
    for channel, refused in attacker_channels(mesh, "persistence", "gateway"):
        async with channel:
            stub = persistence_pb2_grpc.PersistenceStub(channel)
            for metadata in ((), bearer(token)):
                code = await code_of(stub.CreateUser(request, timeout=10, metadata=metadata))
                assert code in refused, code
    signin = await api.post("/auth/signin", json={"email": email, "password": PASSWORD})
    assert signin.status_code == 401  # no such account was made


async def test_no_one_outside_reads_a_password_hash(mesh: Mesh, api: httpx.AsyncClient) -> None:
    victim, token, _ = await signup(api)
    for channel, refused in attacker_channels(mesh, "persistence", "gateway"):
        async with channel:
            stub = persistence_pb2_grpc.PersistenceStub(channel)
            for metadata in ((), bearer(token)):
                call = stub.GetUser(persistence_pb2.GetUserRequest(email=victim), timeout=10,
                                    metadata=metadata)
                assert await code_of(call) in refused


async def ws_messages(mesh: Mesh, channels: list[str], seconds: float) -> list[dict[str, Any]]:
    """What a WebSocket subscriber of ``channels`` receives within ``seconds``."""
    got: list[dict[str, Any]] = []
    url = f"ws://127.0.0.1:{mesh.ports['ws_port']}/ws"
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"method": "SUBSCRIBE", "params": channels, "id": 1}))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while (left := deadline - loop.time()) > 0:
            try:
                got.append(json.loads(await asyncio.wait_for(ws.recv(), left)))
            except TimeoutError:
                break
    return got


async def test_no_one_outside_publishes_market_data(mesh: Mesh, api: httpx.AsyncClient) -> None:
    _, token, user_id = await signup(api)
    forged = [
        feed_pb2.PublishMarketDataRequest(trade=market_pb2.Trade(
            market=MARKET, price="1", quantity="999", trade_id="987654321")),
        feed_pb2.PublishMarketDataRequest(index=market_pb2.MarkPrice(
            market=MARKET, index_price="1", mark_price="1")),
        feed_pb2.PublishMarketDataRequest(user_event=event_pb2.EngineEvent(sequence=2**62)),
    ]
    before = (await api.get(f"/markets/{MARKET}/ticker")).json()
    listener = asyncio.create_task(ws_messages(mesh, [f"trades@{MARKET}", f"index@{MARKET}"], 4))
    await asyncio.sleep(1.0)  # subscribed before the attempt
    for channel, refused in attacker_channels(mesh, "feed", "engine"):
        async with channel:
            stub = feed_pb2_grpc.FeedStub(channel)
            for metadata in ((), bearer(token)):
                code = await stream_refusal(stub.PublishMarketData, metadata, forged)
                assert code in refused, code
    seen = await listener
    prints = [m for m in seen if m.get("stream") == f"trades@{MARKET}"]
    assert not any(m["data"].get("quantity") == "999" for m in prints), prints
    indexes = [m["data"].get("indexPrice") for m in seen if m.get("stream") == f"index@{MARKET}"]
    assert "1" not in indexes, indexes
    after = (await api.get(f"/markets/{MARKET}/ticker")).json()
    assert after.get("indexPrice") != "1", (before, after)
    assert user_id  # the forged user event had no effect to observe: it never got in


async def sequences(mesh: Mesh) -> tuple[int, int]:
    """(events the engine emitted, events persistence committed) from ``/readyz``, once
    persistence has caught up (bounded: 30 tries). The index oracle keeps the engine
    emitting, so the figures move on their own; a forged batch would move persistence's
    past the engine's."""
    engine: dict[str, Any] = {}
    async with httpx.AsyncClient(timeout=10) as client:
        for _ in range(30):
            url = f"http://127.0.0.1:{mesh.ports['gateway_port']}/readyz"
            engine = (await client.get(url)).json().get("engine", {})
            if str(engine.get("persistenceLag")) == "0":
                break
            await asyncio.sleep(1.0)
    return int(engine.get("eventSequence", 0)), int(engine.get("persistedSequence", 0))


async def test_no_one_outside_feeds_persistence_events(mesh: Mesh, api: httpx.AsyncClient) -> None:
    _, token, user_id = await signup(api)
    emitted_before, _ = await sequences(mesh)
    batch = event_pb2.EventBatch(events=[event_pb2.EngineEvent(sequence=10**12)])
    requests = [persistence_pb2.SyncEventsRequest(engine_id="rogue"),
                persistence_pb2.SyncEventsRequest(batch=batch)]
    for channel, refused in attacker_channels(mesh, "persistence", "engine"):
        async with channel:
            stub = persistence_pb2_grpc.PersistenceStub(channel)
            for metadata in ((), bearer(token)):
                code = await stream_refusal(stub.SyncEvents, metadata, requests)
                assert code in refused, code
    emitted, committed = await sequences(mesh)
    assert emitted >= emitted_before and committed <= emitted < 10**12, (emitted, committed)
    history = await api.get("/history/orders", headers={"Authorization": f"Bearer {token}"})
    assert history.status_code == 200 and user_id


async def test_a_logged_out_token_reads_no_history_over_grpc(
    mesh: Mesh, api: httpx.AsyncClient
) -> None:
    _, token, _ = await signup(api)
    channel = grpc.aio.secure_channel(f"127.0.0.1:{mesh.ports['persistence_port']}",
                                      grpc.ssl_channel_credentials(ca_pem(mesh)))
    async with channel:
        stub = persistence_pb2_grpc.PersistenceStub(channel)
        request = persistence_pb2.ListOrderHistoryRequest()
        assert await code_of(stub.ListOrderHistory(request, timeout=10,
                                                   metadata=bearer(token))) == grpc.StatusCode.OK
        logout = await api.post("/auth/logout", json={},
                                headers={"Authorization": f"Bearer {token}"})
        assert logout.status_code == 200, logout.text
        code = await code_of(stub.ListOrderHistory(request, timeout=10, metadata=bearer(token)))
        assert code == grpc.StatusCode.UNAUTHENTICATED


async def test_a_plaintext_client_fails_cleanly_and_the_server_keeps_serving(mesh: Mesh) -> None:
    address = f"127.0.0.1:{mesh.ports['engine_port']}"
    async with grpc.aio.insecure_channel(address) as plain:
        from trademesh.v1 import engine_pb2_grpc
        call = engine_pb2_grpc.EngineStub(plain).ListMarkets(engine_pb2.ListMarketsRequest(),
                                                             timeout=5)
        assert await code_of(call) == grpc.StatusCode.UNAVAILABLE
    async with grpc.aio.secure_channel(address, grpc.ssl_channel_credentials(ca_pem(mesh))) as ch:
        reply = await engine_pb2_grpc.EngineStub(ch).ListMarkets(engine_pb2.ListMarketsRequest(),
                                                                 timeout=10)
        assert any(m.symbol == MARKET for m in reply.markets)
