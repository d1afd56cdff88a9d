"""The upstream deadline: the smaller of the gateway's limit and the client's grpc-timeout."""

from __future__ import annotations

import pytest

from gateway.deadline import call_timeout, parse_grpc_timeout
from gateway.errors import GatewayError


@pytest.mark.parametrize(("value", "seconds"), [
    ("2S", 2.0), ("500m", 0.5), ("1M", 60.0), ("1H", 3600.0), ("250000u", 0.25),
    ("1000000n", 0.001),
])
def test_parse_grpc_timeout(value: str, seconds: float) -> None:
    assert parse_grpc_timeout(value) == pytest.approx(seconds)


def test_smaller_deadline_wins() -> None:
    assert call_timeout(10.0, None) == 10.0
    assert call_timeout(10.0, "500m") == 0.5
    assert call_timeout(1.0, "1M") == 1.0


@pytest.mark.parametrize("value", ["", "1s", "-1S", "1.5S", "123456789S"])
def test_malformed_header_is_400(value: str) -> None:
    with pytest.raises(GatewayError) as caught:
        parse_grpc_timeout(value)
    assert caught.value.status == 400
    assert caught.value.details[0]["field"] == "grpc-timeout"
