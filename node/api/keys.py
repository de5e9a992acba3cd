"""Typed keys for what the application shares with its handlers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from aiohttp import web

from node.federation.syncindex import SyncIndex
from node.service import Node


class PeerTable(Protocol):
    """What ``/v1/peers`` and ``/admin`` read of the federation (``Federation`` is one)."""

    async def peer_table(self) -> list[dict[str, Any]]: ...


NODE = web.AppKey("node", Node)
# The federation, seen by handlers only through what each needs (None: not federating here).
# every peer's row and state
PEER_TABLE: web.AppKey[PeerTable | None] = web.AppKey("peer_table")
# told of each peer's signed request (``Federation.contacted``: it is up, stop backing off)
CONTACTED: web.AppKey[Callable[[bytes], None] | None] = web.AppKey("contacted")
# what the reconciliation route needs of the federation: its item set (None: not federating)
SYNC_INDEX: web.AppKey[SyncIndex | None] = web.AppKey("sync_index")

# one access-log line and the metrics of a request: (request, status, bytes sent, seconds)
OBSERVE: web.AppKey[Callable[[web.Request, int, int | None, float], None]] = web.AppKey("observe")
# the same for a request answered without a request object (``node.api.fastread``):
# (client, method, path, route, status, bytes sent, seconds)
ObservePlain = Callable[[str, str, str, str, int, int, float], None]
OBSERVE_PLAIN: web.AppKey[ObservePlain] = web.AppKey("observe_plain")

PEER = web.RequestKey("peer", bytes)  # raw key of the node (or member) that signed the request
