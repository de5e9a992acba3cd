"""Revision 2 across three node processes in a line A-B-C, driven through the console script:

- organisation A proposes a supplier alliance to organisation B at A's node; B co-signs with
  its own org.key (``member sign --wallet .../org.key``); node C, which knows neither side
  directly, shows the alliance in force under ``supplier`` for both organisations;
- A attests a member; the member replies through node B; node C shows the reply beside the
  attestation, still grounded.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from crypto import SigningKey, save_signing_key
from node.config import load_config
from tests.integration.test_alliance_story import published, rakuichi
from tests.support.federation import (
    Api,
    federation_home,
    line_topology,
    start_processes,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("federation_engine")]

WITHIN = 30.0  # seconds; a few on an idle 2-core machine


async def test_supplier_alliance_and_a_reply_reach_a_third_node(tmp_path: Path, api: Api) -> None:
    homes = [federation_home(tmp_path, name) for name in ("aurora", "birch", "cedar")]
    urls = [load_config(home).public_url for home in homes]
    line_topology(homes, urls)
    await start_processes(homes)
    a, b, c = urls
    org_a, org_b = [(await api.get_json(f"{u}/.well-known/rakuichi"))["org"] for u in (a, b)]

    # A proposes; B reads the draft and co-signs with its organisation key
    proposed = await rakuichi(
        "alliance",
        "propose",
        "--home",
        homes[0],
        "--relation",
        "supplier",
        "--member",
        org_b,
        "--tour",
        "transformational",
        "--mission",
        "Supply the sensors of the relaunch.",
        "--starts",
        "2026-01-05",
        "--no-alumni",
    )
    draft_url = re.search(r"rakuichi member sign (\S+)", proposed)
    assert draft_url, proposed
    signed = await rakuichi(
        "member", "sign", draft_url.group(1), "--wallet", homes[1] / "org.key", "--yes"
    )
    alliance_id = re.search(r"signed alliance ([0-9a-f]{64})", signed)
    assert alliance_id, signed

    async def supplier_at_c() -> bool:
        seen = []
        for org in (org_a, org_b):
            answer = await api.session.get(f"{c}/v1/orgs/{org}")
            if answer.status != 200:
                return False
            shown = (await answer.json())["alliances_by_relation"]["in_force"]["supplier"]
            seen.append([e["id"] for e in shown])
        return seen == [[alliance_id.group(1)], [alliance_id.group(1)]]

    await wait_for(supplier_at_c, WITHIN, "the supplier alliance at C")

    # a member (a wallet, no node) allied with A; A attests; the member replies through B
    wallet = tmp_path / "aiko.key"
    key = SigningKey.generate()
    save_signing_key(wallet, key)
    member = key.public_key.did
    drafted = await rakuichi(
        "alliance",
        "propose",
        "--home",
        homes[0],
        "--member",
        member,
        "--tour",
        "rotational",
        "--mission",
        "Run the field tests.",
        "--starts",
        "2026-02-02",
    )
    draft_url = re.search(r"rakuichi member sign (\S+)", drafted)
    assert draft_url, drafted
    signed = await rakuichi("member", "sign", draft_url.group(1), "--wallet", wallet, "--yes")
    pact = re.search(r"signed alliance ([0-9a-f]{64})", signed)
    assert pact, signed
    praise = await published(
        "attest",
        "--home",
        homes[0],
        "--subject",
        member,
        "--claim",
        "recommendation",
        "--alliance",
        pact.group(1),
        "--text",
        "Careful work; late twice.",
    )

    async def held_at_b() -> bool:
        answer = await api.session.get(f"{b}/v1/records/{praise}")
        return answer.status == 200

    await wait_for(held_at_b, WITHIN, "the attestation at B")
    reply = await published(
        "member",
        "reply",
        praise,
        "--text",
        "The trains, both times.",
        "--wallet",
        wallet,
        "--node",
        b,
    )

    async def reply_at_c() -> dict[str, Any] | None:
        rep = await api.get_json(f"{c}/v1/reputation/{member}")
        entries = [e for e in rep["attestations"] if e["id"] == praise]
        return entries[0] if entries and "reply" in entries[0] else None

    entry = await wait_for(reply_at_c, WITHIN, "the member's reply at C")
    assert entry["reply"]["id"] == reply
    assert entry["reply"]["text"] == "The trains, both times."
    assert entry["state"] == "grounded"
