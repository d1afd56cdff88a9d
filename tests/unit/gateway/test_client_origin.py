"""Whom the Auth service believes about the client address: only a caller whose verified
client certificate names the gateway."""

from __future__ import annotations

from gateway.client_origin import GATEWAY_IDENTITY, is_gateway


def test_the_gateways_certificate_is_believed() -> None:
    assert is_gateway({"transport_security_type": [b"ssl"],
                       "peer_spiffe_id": [GATEWAY_IDENTITY.encode()]})


def test_another_identity_or_none_is_not() -> None:
    assert not is_gateway({"transport_security_type": [b"ssl"],
                           "peer_spiffe_id": [b"spiffe://trademesh/engine"]})
    assert not is_gateway({"transport_security_type": [b"ssl"]})  # a user: no certificate
    assert not is_gateway({"transport_security_type": [b"ssl"],
                           "x509_common_name": [GATEWAY_IDENTITY.encode()]})
    assert not is_gateway({})
