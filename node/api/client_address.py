"""Who is asking: the connection's address, or behind a trusted reverse proxy, the client's.

``X-Forwarded-For`` is believed only when the connection comes from one of ``[node]
trusted_proxies``; then the hops are read from the right and the first address that is not a
trusted proxy is the client. Rate limits and access logs both use ``client_address``.
"""

from __future__ import annotations

import functools
import ipaddress

from aiohttp import web

from node.api.keys import NODE

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.lru_cache(maxsize=16)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(e, strict=False) for e in entries)


def _trusted(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_address(request: web.Request) -> str:
    """The client's IP address as text ("unknown" when the transport does not say)."""
    remote = request.remote or "unknown"
    networks = _networks(request.app[NODE].config.trusted_proxies)
    if not networks or not _trusted(remote, networks):
        return remote
    hops = [
        hop.strip()
        for header in request.headers.getall("X-Forwarded-For", [])
        for hop in header.split(",")
        if hop.strip()
    ]
    for hop in reversed(hops):
        if not _trusted(hop, networks):
            return hop
    return hops[0] if hops else remote


def is_local(request: web.Request) -> bool:
    """A request from this machine that no proxy forwarded (a proxy's would carry the header)."""
    if "X-Forwarded-For" in request.headers or "Forwarded" in request.headers:
        return False
    try:
        return ipaddress.ip_address((request.remote or "").strip("[]")).is_loopback
    except ValueError:
        return False
