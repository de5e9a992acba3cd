"""Which addresses a learned peer may be contacted at (``[federation] learn_private``).

The check is made on the address a socket is about to connect to (aiohttp's
``socket_factory`` hook, after name resolution and for literal addresses alike), so a name that
resolves to a public address when checked and to a private one when used (DNS rebinding), or a
redirect to a private address, cannot get past it.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from typing import Any

import aiohttp


class PrivateAddress(OSError):
    """A learned peer's URL led to an address this node does not contact."""


def is_private(host: str) -> bool:
    """Whether ``host`` (an IP address) is loopback, link-local, private, unspecified,
    multicast or reserved: an address inside the operator's own network, not a peer's."""
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])  # an IPv6 zone id is not part of it
    except ValueError:
        return True  # not an address at all: refuse rather than guess
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_loopback
        or ip.is_link_local
        or ip.is_private
        or ip.is_unspecified
        or ip.is_multicast
        or ip.is_reserved
    )


def public_only_socket(addr_info: tuple[Any, ...]) -> socket.socket:
    """aiohttp ``socket_factory``: a socket for ``addr_info`` only when its address is public."""
    family, type_, proto, _, address = addr_info
    if is_private(str(address[0])):
        raise PrivateAddress(
            errno.EACCES,
            f"address {address[0]} is loopback/private: learned peers are not contacted there "
            "([federation] learn_private = false)",
        )
    return socket.socket(family=family, type=type_, proto=proto)


def connector(public_only: bool) -> aiohttp.TCPConnector:
    """The connector of peer requests: ``public_only`` for learned peers unless the operator
    set ``learn_private``."""
    factory = public_only_socket if public_only else None
    return aiohttp.TCPConnector(limit_per_host=2, socket_factory=factory)
