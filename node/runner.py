"""Running a node: open its parts, serve HTTP, stop cleanly on SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from node.api.app import make_app
from node.clock import Clock
from node.config import NodeConfig, load_config, load_keys
from node.service import Node, open_node

log = logging.getLogger("rakuichi.node")


async def start_node(config: NodeConfig, passphrase: str | None = None,
                     clock: Clock | None = None, verifier_workers: int | None = None
                     ) -> tuple[Node, web.AppRunner]:
    """Open the node's store, publish its profile if it changed, and listen."""
    keys = load_keys(config.home, passphrase)
    node = await open_node(config, keys, clock, verifier_workers)
    try:
        await node.publish_profile_if_changed()
        runner = web.AppRunner(make_app(node), access_log=None, shutdown_timeout=5.0)
        await runner.setup()
        host, port = config.host_port
        await web.TCPSite(runner, host, port, reuse_address=True).start()
    except BaseException:
        await node.close()
        raise
    return node, runner


async def stop_node(node: Node, runner: web.AppRunner) -> None:
    await runner.cleanup()
    await node.close()


async def serve(home: Path, passphrase: str | None = None,
                ready: Callable[[Node], Awaitable[None] | None] | None = None) -> None:
    """Run the node in ``home`` until SIGINT or SIGTERM."""
    config = load_config(home)
    node, runner = await start_node(config, passphrase)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    log.info("node %s (org %s) listening on %s", node.node_did, node.org_did,
             config.public_url)
    try:
        if ready is not None:
            result = ready(node)
            if result is not None:
                await result
        await stop.wait()
        log.info("stopping")
    finally:
        await stop_node(node, runner)
