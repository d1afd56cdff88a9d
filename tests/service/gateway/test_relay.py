"""REST orders travel to the engine on the gateway's one ``RelayOrders`` stream: each order
with the token of the request it came in, and orders that wait together leave together."""

from __future__ import annotations

import asyncio

import pytest
from gateway_harness import Mesh

from mesh_runtime.tokens import TokenSigner
from tests.service.gateway.conftest import GatewayFactory

pytestmark = pytest.mark.timeout(60)
ORDER = {"market": "BTC-PERP", "side": "BUY", "type": "LIMIT", "price": "100"}


async def test_many_callers_orders_share_messages_each_with_its_own_token(
        gateway: GatewayFactory, mesh: Mesh, signer: TokenSigner) -> None:
    client = await gateway(token=None)
    tokens = {f"trader-{i}": signer.issue(f"trader-{i}")[0] for i in range(3)}

    def post(user: str, quantity: str) -> asyncio.Task[object]:
        headers = {"Authorization": f"Bearer {tokens[user]}", "grpc-timeout": "20S"}
        return asyncio.create_task(client.post("/api/v1/orders", headers=headers,
                                               json={**ORDER, "quantity": quantity}))

    # two slow answers (the engine holds each 1.5 s) occupy both messages in flight ...
    slow = [post("trader-0", "7") for _ in range(2)]
    for _ in range(200):  # bounded: until the engine has both
        if sum(1 for c in mesh.recorder.calls if c.request.quantity == "7") == 2:
            break
        await asyncio.sleep(0.01)
    first = len(mesh.recorder.relayed)
    # ... so the 30 orders sent meanwhile wait at the gateway and leave together
    waiting = {f"{100 + i}": f"trader-{i % 3}" for i in range(30)}
    answers = await asyncio.gather(*(post(user, q) for q, user in waiting.items()), *slow)
    assert [a.status_code for a in answers] == [201] * 32  # type: ignore[attr-defined]
    seen = {c.request.quantity: c.metadata["authorization"] for c in mesh.recorder.calls
            if c.request.quantity in waiting}
    assert seen == {q: f"Bearer {tokens[user]}" for q, user in waiting.items()}
    later = mesh.recorder.relayed[first:]
    assert sum(later) == 30 and len(later) < 15, later
