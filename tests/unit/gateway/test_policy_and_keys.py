"""The gateway policy read from settings; Idempotency-Key syntax and request fingerprints."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from gateway.errors import GatewayError
from gateway.idempotency import fingerprint, parse_key
from gateway.policy import GatewayPolicy
from mesh_runtime.config import Settings


def test_policy_defaults_when_settings_lack_the_fields() -> None:
    policy = GatewayPolicy.from_settings(Settings())
    assert policy == GatewayPolicy()
    assert policy.rate_limits.per_user.capacity == policy.rate_limit_user_burst


def test_policy_reads_fields_settings_have() -> None:
    @dataclass
    class Extended:
        bcrypt_rounds: int = 5
        rate_limit_ip_per_second: float = 3.5

    policy = GatewayPolicy.from_settings(Extended())
    assert (policy.bcrypt_rounds, policy.rate_limits.per_ip.per_second) == (5, 3.5)


@pytest.mark.parametrize("key", ["a", "order-2026-01-01T00:00:00Z", "x" * 255, "~!{}"])
def test_good_keys(key: str) -> None:
    assert parse_key(key) == key


@pytest.mark.parametrize("key", ["", "x" * 256, "a b", "tab\t", "é"])
def test_bad_keys_name_the_header(key: str) -> None:
    with pytest.raises(GatewayError) as caught:
        parse_key(key)
    assert caught.value.status == 400
    assert caught.value.details[0]["field"] == "Idempotency-Key"


def test_absent_key() -> None:
    assert parse_key(None) is None


def test_fingerprint_covers_method_path_query_and_body() -> None:
    base = fingerprint("POST", "/api/v1/orders", "", b"{}")
    assert base == fingerprint("POST", "/api/v1/orders", "", b"{}")
    others = {fingerprint("PUT", "/api/v1/orders", "", b"{}"),
              fingerprint("POST", "/api/v1/order", "s", b"{}"),
              fingerprint("POST", "/api/v1/orders", "a=1", b"{}"),
              fingerprint("POST", "/api/v1/orders", "", b"{ }")}
    assert base not in others and len(others) == 4
