"""Who a request comes from: its remote address, or behind a trusted proxy the forwarded one.

``[node] trusted_proxies`` lists the addresses or networks of reverse proxies whose
``X-Forwarded-For`` is believed. The client is the right-most address in that header that is
not itself a trusted proxy; anything a client wrote further left is ignored.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from aiohttp import web

from node.api.keys import NODE

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=64)
def _networks(entries: tuple[str, ...]) -> tuple[IpNetwork, ...]:
    return tuple(ipaddress.ip_network(e, strict=False) for e in entries)


def _trusted(address: str, networks: tuple[IpNetwork, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_address(request: web.Request) -> str:
    """The address that requests of this client are counted against."""
    remote = request.remote or "unknown"
    entries = tuple(getattr(request.app[NODE].config, "trusted_proxies", ()) or ())
    if not entries:
        return remote
    networks = _networks(entries)
    if not _trusted(remote, networks):
        return remote
    forwarded = ",".join(request.headers.getall("X-Forwarded-For", []))
    hops = [h.strip() for h in forwarded.split(",") if h.strip()]
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return remote  # a garbled header: count the proxy itself
        if not _trusted(hop, networks):
            return hop
    return hops[0] if hops else remote
