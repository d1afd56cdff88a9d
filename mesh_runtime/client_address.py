"""Who a request comes from: the TCP peer, or what a trusted proxy says it forwarded.

``X-Forwarded-For`` is a list any client can write, so it is honored only when the TCP peer
is one of the configured proxies (``TRADEMESH_TRUSTED_PROXIES``: IPs and CIDRs,
comma-separated; none by default). Then the standard algorithm applies: walk the list from
the right (the entry the nearest proxy appended) past every trusted proxy; the first
address that is not one is the client. Entries to its left were written by that client and
are never believed.

Malformed input never raises and never helps a client: a malformed entry ends the walk at
the last trusted hop (the proxy itself is then the client), and only the right-most
:data:`MAX_HOPS` entries are looked at. Addresses are returned in canonical form, so one
client has one spelling (one rate-limit bucket, one lockout counter). Counters that an
attacker could dodge by hopping addresses (sign-in lockout, connection caps) count by
:func:`address_group`: one IPv6 /64, the block one subscriber usually holds, is one client.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

FORWARDED_FOR = "x-forwarded-for"
IPV6_GROUP_PREFIX = 64
MAX_HOPS = 32  # right-most entries of X-Forwarded-For considered; a longer chain is noise


@dataclass(frozen=True, slots=True)
class TrustedProxies:
    """The networks whose ``X-Forwarded-For`` is believed (empty: nobody's)."""

    networks: tuple[IpNetwork, ...] = ()

    @classmethod
    def parse(cls, text: str) -> TrustedProxies:
        """``"10.0.0.1, 10.1.0.0/16, fd00::/8"``; ValueError naming an entry that is not an
        IP address or network."""
        networks: list[IpNetwork] = []
        for entry in (part.strip() for part in text.split(",")):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or CIDR network") from None
        return cls(tuple(networks))

    def trusts(self, address: IpAddress) -> bool:
        plain = _unmapped(address)
        return any(plain in network for network in self.networks)

    def client_address(self, peer: str, forwarded_for: Iterable[str] = ()) -> str:
        """The client's address for a connection from ``peer`` carrying the given
        ``X-Forwarded-For`` header values (in the order they arrived)."""
        if not self.networks:
            return _canonical(peer)
        hop = parse_address(peer)
        if hop is None:
            return peer
        if not self.trusts(hop):
            return str(hop)
        entries = [e.strip() for value in forwarded_for for e in value.split(",")][-MAX_HOPS:]
        for entry in reversed(entries):
            forwarded = parse_address(entry)
            if forwarded is None:
                break
            hop = forwarded
            if not self.trusts(hop):
                break
        return str(hop)


NO_PROXIES = TrustedProxies()


@functools.lru_cache(maxsize=4096)
def _canonical(peer: str) -> str:
    """``peer`` as :meth:`TrustedProxies.client_address` answers it with no proxies (a
    client's connections come from one address: parsed once, not per request)."""
    hop = parse_address(peer)
    return peer if hop is None else str(hop)


@functools.lru_cache(maxsize=4096)  # addresses are immutable; peers repeat
def parse_address(text: str) -> IpAddress | None:
    """An IP address as peers and proxies write it (``1.2.3.4``, ``1.2.3.4:5678``, ``::1``,
    ``[::1]:5678``, ``ipv6:[::1]:5678`` as gRPC says it), canonical; None if it is none."""
    value = text.strip()
    for scheme in ("ipv4:", "ipv6:"):
        if value.startswith(scheme):
            value = value[len(scheme):]
    if value.startswith("["):
        inside, closed, rest = value[1:].partition("]")
        if not closed or (rest and not rest.startswith(":")):
            return None
        value = inside
    elif value.count(":") == 1:
        value = value.split(":", 1)[0]
    try:
        return _unmapped(ipaddress.ip_address(value))
    except ValueError:
        return None


def address_group(address: str) -> str:
    """The block counted as one client: an IPv6 address's /64, anything else itself."""
    parsed = parse_address(address)
    if isinstance(parsed, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((parsed, IPV6_GROUP_PREFIX), strict=False))
    return address


def _unmapped(address: IpAddress) -> IpAddress:
    """An IPv4-mapped IPv6 address (``::ffff:1.2.3.4``) as the IPv4 address it is."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address
