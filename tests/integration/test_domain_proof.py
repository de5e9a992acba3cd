"""Domain proof with real node processes: an organisation whose profile names a domain served by
a local HTTP server shows "verified" on its own node and on a peer; once the server serves
another did, both show "unverified" after their re-check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from node.config import load_config
from tests.support.federation import (
    Api,
    federation_home,
    set_peers,
    start_processes,
    wait_for,
)
from tests.support.proofserver import proof_server

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("federation_engine")]

DOMAIN = "jobs.example.org"


async def test_domain_proof_verified_on_two_nodes_then_unverified(tmp_path: Path, api: Api) -> None:
    async with proof_server() as served:
        settings: dict[str, Any] = {"domain_proof_base": served.base, "domain_recheck": 1.0}
        a_home = federation_home(tmp_path, "a", domain=DOMAIN, **settings)
        b_home = federation_home(tmp_path, "b", **settings)
        a_url, b_url = load_config(a_home).public_url, load_config(b_home).public_url
        set_peers(a_home, [b_url])
        set_peers(b_home, [a_url])
        procs = await start_processes([a_home, b_home])
        try:
            org = (await api.get_json(a_url + "/.well-known/rakuichi"))["org"]
            served.body = org + "\n"

            def domain_is(url: str, verified: bool) -> Any:
                async def check() -> dict[str, Any] | None:
                    answer = await api.get_json(f"{url}/v1/orgs/{org}")
                    domain = answer.get("domain") if isinstance(answer, dict) else None
                    if domain and domain["verified"] is verified:
                        return domain
                    return None

                return check

            for url in (a_url, b_url):
                shown = await wait_for(domain_is(url, True), 30.0, f"verified at {url}")
                assert shown["name"] == DOMAIN and isinstance(shown["checked"], int)

            served.body = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
            for url in (a_url, b_url):
                await wait_for(domain_is(url, False), 30.0, f"unverified at {url}")
        finally:
            for proc in procs:
                proc.terminate()
