"""Domain proofs seen by this node: fetch ``https://DOMAIN/.well-known/rakuichi-did`` (bounded:
a few seconds, 4 KiB, no redirects), decide with ``protocol.domainproof``, keep the result in a
bounded memory store and check again once it is older than the re-check interval.

Checks start when an ``org.profile`` naming a domain is committed (a store commit listener) and
when a view asks for a domain not checked yet or checked too long ago.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass

import aiohttp

from crypto import did_from_raw
from node.clock import Clock
from node.keytext import KeyText
from protocol import MAX_PROOF_BYTES, Record, kinds, normalise_domain, proof_holds, proof_url

log = logging.getLogger("rakuichi.domains")

FETCH_TIMEOUT = 5.0
MAX_RESULTS = 10_000
MAX_CHECKS_IN_FLIGHT = 64


@dataclass(frozen=True)
class DomainStatus:
    name: str
    verified: bool
    checked: int  # wall-clock ms of the check

    def json(self) -> dict[str, object]:
        return {"name": self.name, "verified": self.verified, "checked": self.checked}


async def fetch_proof(url: str, timeout: float = FETCH_TIMEOUT) -> bytes | None:
    """The body at ``url`` if it answers 200 within ``timeout`` with at most 4 KiB; redirects
    are never followed (a proof must be served by the domain itself)."""
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
            session.get(url, allow_redirects=False) as response,
        ):
            if response.status != 200:
                return None
            if (response.content_length or 0) > MAX_PROOF_BYTES:
                return None
            body = bytearray()
            async for chunk in response.content.iter_any():
                body += chunk
                if len(body) > MAX_PROOF_BYTES:
                    return None
            return bytes(body)
    except (aiohttp.ClientError, TimeoutError, OSError, ValueError):
        return None


class DomainProofs:
    """Results of domain proofs by (domain, organisation key), least recently checked dropped
    first beyond ``max_results``."""

    def __init__(
        self, clock: Clock, recheck_seconds: float, base: str = "", max_results: int = MAX_RESULTS
    ) -> None:
        self.clock = clock
        self.recheck_ms = int(recheck_seconds * 1000)
        self.base = base  # test/dev only: replaces https://DOMAIN
        self.max_results = max_results
        self._results: OrderedDict[tuple[str, bytes], DomainStatus] = OrderedDict()
        self._checks: dict[tuple[str, bytes], asyncio.Task[DomainStatus]] = {}

    def on_commit(self, records: list[Record]) -> None:
        """Store commit listener: check the domain of every committed org.profile."""
        for record in records:
            if record.kind != kinds.ORG_PROFILE:
                continue
            domain = record.body.get("domain")
            if isinstance(domain, str):
                self._start(domain, record.author)

    async def status(self, domain: str, org: bytes) -> DomainStatus:
        """The proof's status, checked now if never checked; a stale result is returned while
        a fresh check runs in the background."""
        held = self._results.get(self._key(domain, org))
        if held is None:
            task = self._start(domain, org)
            if task is None:  # too many checks at once: unverified for now
                return DomainStatus(self._key(domain, org)[0], False, self.clock.now_ms())
            return await asyncio.shield(task)
        if self.clock.now_ms() - held.checked >= self.recheck_ms:
            self._start(domain, org)
        return held

    async def check(self, domain: str, org: bytes) -> DomainStatus:
        """Fetch and decide now (no cache read), and remember the result."""
        url = proof_url(domain, self.base)
        verified = False
        if url is not None:
            body = await fetch_proof(url)
            verified = body is not None and proof_holds(body, did_from_raw(org))  # the served text
        result = DomainStatus(normalise_domain(domain) or domain, verified, self.clock.now_ms())
        key = self._key(domain, org)
        self._results[key] = result
        self._results.move_to_end(key)
        while len(self._results) > self.max_results:
            self._results.popitem(last=False)
        log.info(
            "domain %s for %s: %s",
            result.name,
            KeyText(org),
            "verified" if verified else "unverified",
        )
        return result

    def _key(self, domain: str, org: bytes) -> tuple[str, bytes]:
        return (normalise_domain(domain) or domain, org)

    def _start(self, domain: str, org: bytes) -> asyncio.Task[DomainStatus] | None:
        key = self._key(domain, org)
        running = self._checks.get(key)
        if running is not None:
            return running
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # committed outside an event loop: checked when read
            return None
        if len(self._checks) >= MAX_CHECKS_IN_FLIGHT:
            return None
        task = loop.create_task(self.check(domain, org))
        self._checks[key] = task
        task.add_done_callback(lambda _: self._checks.pop(key, None))
        return task

    async def close(self) -> None:
        tasks = list(self._checks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
