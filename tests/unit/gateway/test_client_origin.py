"""Whom the Auth service believes about the client address: the gateway's certificate over
TLS (anyone else is judged by its own peer address), anyone over plaintext."""

from __future__ import annotations

from gateway.client_origin import GATEWAY_IDENTITY, is_gateway


def test_tls_with_the_gateways_certificate_is_believed() -> None:
    auth = {"transport_security_type": [b"ssl"], "peer_spiffe_id": [GATEWAY_IDENTITY.encode()]}
    assert is_gateway(auth)
    assert is_gateway({"transport_security_type": [b"ssl"],
                       "x509_subject_alternative_name": [b"127.0.0.1",
                                                         GATEWAY_IDENTITY.encode()]})


def test_tls_with_another_identity_or_none_is_not() -> None:
    assert not is_gateway({"transport_security_type": [b"ssl"],
                           "peer_spiffe_id": [b"spiffe://trademesh/engine"]})
    assert not is_gateway({"transport_security_type": [b"ssl"]})  # a user: no certificate
    assert not is_gateway({"transport_security_type": [b"ssl"],
                           "x509_common_name": [GATEWAY_IDENTITY.encode()]})


def test_plaintext_has_no_identity_to_check() -> None:
    assert is_gateway({})
    assert is_gateway({"transport_security_type": [b"insecure"]})
