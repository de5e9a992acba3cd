"""Domain proofs fetched by a node: bounded, no redirects, cached, re-checked after the interval."""

from __future__ import annotations

from crypto import raw_from_did
from node.clock import FakeClock
from node.domains import DomainProofs, fetch_proof
from protocol.domainproof import WELL_KNOWN_PATH
from tests.support.proofserver import proof_server

DID = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"  # what the domain serves
ORG = raw_from_did(DID)  # the key the node asks about


async def test_served_did_verifies_and_a_change_shows_after_the_recheck() -> None:
    async with proof_server(DID) as served:
        clock = FakeClock()
        proofs = DomainProofs(clock, recheck_seconds=60.0, base=served.base)
        first = await proofs.status("Example.org", ORG)
        assert first.verified and first.name == "example.org"
        assert first.checked == clock.now_ms()
        served.body = "did:key:z6MkSomeoneElse"
        assert (await proofs.status("example.org", ORG)).verified  # cached
        assert served.hits == 1
        clock.advance(61)
        stale = await proofs.status("example.org", ORG)  # stale: re-check starts
        assert stale.verified
        await proofs.close()
        fresh = await proofs.check("example.org", ORG)
        assert not fresh.verified and served.hits >= 2
        assert not (await proofs.status("example.org", ORG)).verified


async def test_redirect_to_another_host_is_not_followed() -> None:
    async with proof_server(DID) as elsewhere, proof_server() as redirecting:
        redirecting.redirect_to = elsewhere.base.replace("127.0.0.1", "localhost") + WELL_KNOWN_PATH
        assert await fetch_proof(redirecting.base + WELL_KNOWN_PATH) is None
        assert elsewhere.hits == 0
        proofs = DomainProofs(FakeClock(), 60.0, base=redirecting.base)
        assert not (await proofs.status("example.org", ORG)).verified
        assert elsewhere.hits == 0


async def test_oversized_or_unreachable_proof_is_unverified() -> None:
    async with proof_server(DID + " " * 5000) as served:
        assert await fetch_proof(served.base + WELL_KNOWN_PATH) is None
        base = served.base
    proofs = DomainProofs(FakeClock(), 60.0, base=base)  # server gone: connection refused
    assert not (await proofs.status("example.org", ORG)).verified


async def test_a_domain_that_is_no_host_name_is_never_fetched() -> None:
    proofs = DomainProofs(FakeClock(), 60.0)
    status = await proofs.status("evil.org/x", ORG)
    assert not status.verified
