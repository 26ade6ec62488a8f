"""Which network destinations newsflow may connect to (the SSRF policy).

A host is resolved once; every address it resolves to must be public (or inside
``fetch.allow``) and, unless allowed, on one of ``fetch.ports``. The caller then connects to
the validated address itself, so DNS rebinding has no window.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Collection

from pipeline.errors import BlockedDestination, UpstreamUnavailable

Resolver = Callable[[str, int], list[str]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215; global on Python < 3.12.4
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated ::a.b.c.d form


def resolve_host(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (IP literals in any spelling included)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def is_public_address(ip: IPAddress) -> bool:
    """True when the address is globally routable, looking inside IPv6 wrappers of IPv4."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _LOCAL_NAT64:
            return False
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if ip in _NAT64 or ip in _IPV4_COMPATIBLE:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public_address(embedded)
    return ip.is_global and not ip.is_multicast


def validated_address(
    host: str,
    port: int,
    *,
    resolver: Resolver,
    allow: Collection[IPNetwork],
    ports: Collection[int],
    url: str,
) -> str:
    """The address to connect to for ``host``:``port``, once every resolved address passes.

    Addresses inside ``allow`` skip both the public-address and the ``ports`` checks.

    Raises:
        UpstreamUnavailable: ``host`` does not resolve, or resolves to no address.
        BlockedDestination: an address is non-public, or the port is not in ``ports``.
    """
    try:
        addresses = resolver(host.strip("[]"), port)
    except (OSError, UnicodeError) as exc:
        raise UpstreamUnavailable(f"cannot resolve {host!r}: {exc}", url=url) from exc
    if not addresses:
        raise UpstreamUnavailable(f"{host!r} resolved to no address", url=url)
    for text in addresses:
        ip = ipaddress.ip_address(text.split("%")[0])
        allowed = any(ip in net for net in allow)
        if not allowed and not is_public_address(ip):
            raise BlockedDestination(f"{host} resolves to non-public {ip}", url=url)
        if not allowed and port not in ports:
            raise BlockedDestination(f"port {port} is not allowed for {host}", url=url)
    return addresses[0].split("%")[0]
