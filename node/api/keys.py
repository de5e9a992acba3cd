"""Typed keys for what the application shares with its handlers."""

from __future__ import annotations

from aiohttp import web

from node.federation.manager import Federation
from node.federation.syncindex import SyncIndex
from node.service import Node

NODE = web.AppKey("node", Node)
FEDERATION: web.AppKey[Federation | None] = web.AppKey("federation")
# what the reconciliation route needs of the federation: its item set (None: not federating)
SYNC_INDEX: web.AppKey[SyncIndex | None] = web.AppKey("sync_index")

PEER = web.RequestKey("peer", bytes)  # raw key of the node (or member) that signed the request
