"""The client address: the TCP peer unless it is a trusted proxy, then the right-most
untrusted X-Forwarded-For entry; malformed input never raises and never helps a client."""

from __future__ import annotations

import pytest

from mesh_runtime.client_address import MAX_HOPS, TrustedProxies, address_group, parse_address
from mesh_runtime.config import ConfigError, Settings

PROXIES = TrustedProxies.parse("10.0.0.1, 10.1.0.0/16, fd00::/8")


def test_no_proxies_configured_means_the_peer_always() -> None:
    assert TrustedProxies().client_address("10.0.0.1", ["1.2.3.4"]) == "10.0.0.1"
    assert TrustedProxies.parse("").networks == ()


def test_an_untrusted_peer_cannot_pick_its_address() -> None:
    assert PROXIES.client_address("203.0.113.9", ["1.2.3.4"]) == "203.0.113.9"


def test_a_trusted_proxy_names_the_client() -> None:
    assert PROXIES.client_address("10.0.0.1", ["198.51.100.7"]) == "198.51.100.7"


def test_right_most_untrusted_entry_wins_over_what_the_client_wrote() -> None:
    # the client wrote 1.1.1.1 itself; 198.51.100.7 is who reached the first trusted proxy
    chain = ["1.1.1.1, 198.51.100.7", "10.1.2.3"]
    assert PROXIES.client_address("10.0.0.1", chain) == "198.51.100.7"


def test_every_hop_trusted_gives_the_left_most() -> None:
    assert PROXIES.client_address("10.0.0.1", ["10.1.0.5, 10.1.0.6"]) == "10.1.0.5"


@pytest.mark.parametrize("header", ["garbage", "1.2.3.4.5", "", " , ", "[::1", "999.1.1.1",
                                    "1.2.3.4, not-an-ip"])
def test_a_malformed_entry_stops_at_the_last_trusted_hop(header: str) -> None:
    assert PROXIES.client_address("10.0.0.1", [header]) == "10.0.0.1"


def test_ports_brackets_and_mapped_addresses_are_canonical() -> None:
    assert PROXIES.client_address("10.0.0.1", ["[2001:DB8::1]:443"]) == "2001:db8::1"
    assert PROXIES.client_address("10.0.0.1", ["198.51.100.7:5555"]) == "198.51.100.7"
    assert PROXIES.client_address("::ffff:10.0.0.1", ["198.51.100.7"]) == "198.51.100.7"
    assert PROXIES.client_address("fd00::2", ["2001:db8::2"]) == "2001:db8::2"


def test_only_the_right_most_hops_are_read() -> None:
    chain = ["203.0.113.1"] + ["10.1.0.9"] * (MAX_HOPS + 5)
    assert PROXIES.client_address("10.0.0.1", [", ".join(chain)]) == "10.1.0.9"


def test_a_peer_that_is_no_address_is_kept_as_is() -> None:
    assert PROXIES.client_address("unknown", ["1.2.3.4"]) == "unknown"


@pytest.mark.parametrize(("text", "expected"), [
    ("ipv4:127.0.0.1:5000", "127.0.0.1"), ("ipv6:[::1]:5000", "::1"), ("::1", "::1"),
    ("unix:/tmp/sock", None), ("", None)])
def test_parse_address_reads_grpc_peers(text: str, expected: str | None) -> None:
    parsed = parse_address(text)
    assert (None if parsed is None else str(parsed)) == expected


def test_settings_refuse_a_bad_proxy_list() -> None:
    with pytest.raises(ConfigError, match="TRUSTED_PROXIES"):
        Settings.from_env({"TRADEMESH_TRUSTED_PROXIES": "10.0.0.1, proxy.local"})
    settings = Settings.from_env({"TRADEMESH_TRUSTED_PROXIES": "10.0.0.0/8"})
    assert settings.trusted_proxies == "10.0.0.0/8"


def test_an_ipv6_client_is_counted_by_its_64() -> None:
    assert address_group("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert address_group("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert address_group("198.51.100.7") == "198.51.100.7"
    assert address_group("unknown") == "unknown"
