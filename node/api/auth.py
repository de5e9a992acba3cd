"""Signed node-to-node requests (RFC 9421): identify the peer, apply policy and rate limits.

Unsigned requests stay welcome for reads and record submissions: records prove themselves.
A signature that is present must verify, though, and a denied peer gets 403 ``policy``.
"""

from __future__ import annotations

from aiohttp import web

from crypto import CryptoError, did_from_raw
from crypto.httpsig import ReplayCacheFull, verify_request
from node.api.keys import CONTACTED, NODE, PEER
from node.api.limits import REQUEST_LIMITS
from node.api.problems import ApiError
from node.config import NodeConfig


def signature_urls(request: web.Request, config: NodeConfig) -> list[str]:
    """The URLs a request to this node may have been signed for: its public URL, configured
    aliases and listen address. Never the ``Host`` header: a request signed for another host
    and sent here is refused whatever it claims."""
    host, port = config.host_port
    bases = [config.public_url, *config.url_aliases, f"http://{host}:{port}"]
    urls: list[str] = []
    for base in bases:
        url = base.rstrip("/") + request.raw_path
        if url not in urls:
            urls.append(url)
    return urls


async def identify_peer(request: web.Request) -> None:
    """A signed request names its peer (``request[PEER]``) or is refused: 401 for a bad or
    retired key, 403 for a denied one, 429 past a known peer's rate."""
    node = request.app[NODE]
    if "Signature-Input" in request.headers or "Signature" in request.headers:
        body = await request.read()
        fed = node.config.federation
        error: CryptoError | None = None
        for url in signature_urls(request, node.config):
            try:
                key = verify_request(
                    method=request.method,
                    url=url,
                    headers=request.headers.items(),
                    body=body,
                    now=node.clock.now_ms() // 1000,
                    max_age=fed.signature_max_age,
                    replay_cache=node.peers.replay_cache,
                )
            except ReplayCacheFull as exc:
                raise ApiError(
                    503, "busy", f"cannot check this signature for replay now: {exc}", "busy", 5
                ) from None
            except CryptoError as exc:
                error = exc
                continue
            request[PEER] = key.raw
            break
        else:
            raise ApiError(
                401, "signature", f"request signature refused: {error}", "bad request signature"
            )
        if node.peers.retired_too_long(request[PEER], node.clock.now_ms(), fed.node_key_grace):
            raise ApiError(
                401,
                "signature",
                f"node key {did_from_raw(request[PEER])} was retired by its organisation",
                "retired node key",
            )
        denial = node.peers.denial(request[PEER], fed)
        if denial is not None:
            raise ApiError(403, "policy", denial, "refused by policy")
        if node.peers.known(request[PEER]):
            limits = request.app[REQUEST_LIMITS]
            limits.charge(
                request, limits.by_peer, "peer", did_from_raw(request[PEER]), node.clock.monotonic()
            )
        contacted = request.app[CONTACTED]
        if contacted is not None:
            contacted(request[PEER])
