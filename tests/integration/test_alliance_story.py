"""The alliance story end to end: two node processes A and B peered with each other, and every
step driven through the real ``rakuichi`` console script, as an organisation and a member would.

A publishes an opportunity and proposes an alliance; the member (a wallet, no node) co-signs
it; both nodes see it in force; A attests the member and the member rates A; A ends the tour
with the alumni clause and offers an alumni-only opportunity; the member exports a bundle,
checks it offline, presents it to B; A retracts one attestation and every view follows.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from node.config import load_config
from tests.support import run_cli
from tests.support.federation import Api, federation_home, set_peers, start_processes, wait_for

pytestmark = pytest.mark.slow

SYNC_WITHIN = 20.0  # seconds; about 1 s with these intervals
DRAFT_URL = re.compile(r"https?://\S+/v1/drafts/([0-9a-f]{64})")
PUBLISHED = re.compile(r"published (\S+) ([0-9a-f]{64}) \(")


async def rakuichi(*args: str | Path) -> str:
    """Run one command in a child process; it must succeed; its stdout."""
    done: subprocess.CompletedProcess[str] = await asyncio.to_thread(run_cli, *args)
    assert done.returncode == 0, f"rakuichi {' '.join(map(str, args))}\n{done.stderr}"
    assert done.stderr == "", done.stderr
    return done.stdout


async def published(*args: str | Path) -> str:
    """Run a command that publishes one record; the record's id."""
    out = await rakuichi(*args)
    match = PUBLISHED.search(out)
    assert match, out
    return match.group(2)


async def reputation(api: Api, url: str, did: str) -> dict[str, Any]:
    return await api.get_json(f"{url}/v1/reputation/{did}")


def states(rep: dict[str, Any]) -> dict[str, str]:
    return {e["id"]: e["state"] for e in rep["attestations"]}


async def test_alliance_story_across_two_nodes(tmp_path: Path, api: Api) -> None:
    homes = [federation_home(tmp_path, name) for name in ("aurora", "birch")]
    a, b = (load_config(home).public_url for home in homes)
    set_peers(homes[0], [b])
    set_peers(homes[1], [a])
    procs = await start_processes(homes)
    home_a = homes[0]
    org_a = (await api.get_json(f"{a}/.well-known/rakuichi"))["org"]

    # the member: a wallet file (encrypted), no node
    wallet, secret = tmp_path / "aiko.key", tmp_path / "passphrase.txt"
    secret.write_text("correct horse battery staple\n", encoding="utf-8")
    me = ("--wallet", wallet, "--passphrase-file", secret)
    assert "created wallet" in await rakuichi("member", "init", *me)
    member = (await rakuichi("member", "whoami", *me)).strip()
    assert member.startswith("did:key:z6Mk")

    # A offers a tour and proposes the alliance; the member reads and co-signs it
    opportunity = await published(
        "publish",
        "opportunity",
        "--home",
        home_a,
        "--slug",
        "data-lead",
        "--title",
        "Data platform lead",
        "--tour",
        "transformational",
        "--status",
        "open",
    )
    terms = tmp_path / "terms.md"
    terms.write_text("Four days a week. Equity as agreed by email.\n", encoding="utf-8")
    proposed = await rakuichi(
        "alliance",
        "propose",
        "--home",
        home_a,
        "--member",
        member,
        "--tour",
        "transformational",
        "--mission",
        "Move the data platform to a federated design",
        "--starts",
        "2026-01-05",
        "--ends",
        "2026-06-30",
        "--opportunity",
        opportunity,
        "--org-commit",
        "mentoring by the CTO",
        "--member-commit",
        "weekly demos",
        "--terms",
        terms,
        "--alumni",
    )
    match = DRAFT_URL.search(proposed)
    assert match, proposed
    draft_url, alliance = match.group(0), match.group(1)
    assert draft_url.startswith(a)
    shown = await rakuichi("member", "sign", draft_url, *me, "--yes")
    for words in (
        "aurora",
        org_a,
        "transformational",
        "federated design",
        "2026-01-05",
        "2026-06-30",
        "mentoring by the CTO",
        "weekly demos",
        "Data platform lead",
        "yes: both stay allied",
    ):
        assert words in shown, (words, shown)
    assert f"signed alliance {alliance} (stored at {a})" in shown

    async def in_force_on_both() -> bool:
        for url in (a, b):
            view = await api.get_json(f"{url}/v1/members/{member}")
            if [(x["id"], x["in_force"]) for x in view["alliances"]] != [(alliance, True)]:
                return False
        return True

    await wait_for(in_force_on_both, SYNC_WITHIN, "the alliance in force on A and B")
    assert (await rakuichi("terms", "verify", terms, alliance, "--node", b)).startswith("match")

    # reputation both ways, grounded in the alliance
    skill = await published(
        "attest",
        "--home",
        home_a,
        "--subject",
        member,
        "--claim",
        "skill",
        "--skill",
        "python",
        "--level",
        "4",
        "--alliance",
        alliance,
    )
    praise = await published(
        "attest",
        "--home",
        home_a,
        "--subject",
        member,
        "--claim",
        "recommendation",
        "--text",
        "Calm under pressure.",
        "--alliance",
        alliance,
    )
    rating = await published(
        "member",
        "attest",
        *me,
        "--node",
        a,
        "--subject",
        org_a,
        "--claim",
        "rating",
        "--score",
        "5",
        "--alliance",
        alliance,
    )
    assert states(await reputation(api, a, member)) == {skill: "grounded", praise: "grounded"}
    assert states(await reputation(api, a, org_a)) == {rating: "grounded"}

    # the tour ends with the alumni clause: the member sees A's alumni-only opportunities
    await published(
        "alliance",
        "end",
        "--home",
        home_a,
        alliance,
        "--outcome",
        "completed",
        "--note",
        "Shipped on time.",
    )
    await published(
        "publish",
        "opportunity",
        "--home",
        home_a,
        "--slug",
        "alumni-advisor",
        "--title",
        "Alumni advisor",
        "--tour",
        "rotational",
        "--status",
        "open",
        "--audience",
        "alumni",
    )
    alumni = await api.get_json(f"{a}/v1/orgs/{org_a}/alumni")
    assert [(x["member"], x["alliance"]) for x in alumni["alumni"]] == [(member, alliance)]
    offers = await rakuichi("member", "opportunities", *me, "--node", a, "--alumni")
    assert "alumnus of aurora" in offers and "Alumni advisor" in offers
    assert "Data platform lead" not in offers
    public = await rakuichi("member", "opportunities", *me, "--node", a)
    assert "Data platform lead" in public and "Alumni advisor" not in public

    # a portable bundle: exported from A, checked offline, presented to B
    bundle = tmp_path / "aiko-bundle.json"
    exported = await rakuichi("member", "export", *me, "--node", a, "--out", bundle)
    assert "exported 2 attestation(s)" in exported
    only_skills = tmp_path / "aiko-skills.json"
    assert "exported 1 attestation(s)" in await rakuichi(
        "member",
        "export",
        *me,
        "--node",
        a,
        "--claim",
        "skill",
        "--issuer",
        org_a,
        "--out",
        only_skills,
    )
    checked = await rakuichi("verify", bundle)
    assert "every record checks" in checked
    assert "records (what each says):" in checked
    assert re.search(
        r"attestation\s+[0-9a-f]{12}  aurora \(did:key:\S+\) attests skill python", checked
    )
    for rid in (skill, praise):
        assert re.search(rf"grounded .* by aurora \({re.escape(org_a)}\)\s+{rid}", checked)
    assert re.search(r"skill: python\s+1 issuer\(s\), level max 4", checked)
    checked_at_b = await rakuichi("member", "present", bundle, "--node", b)
    assert f"{b} checked" in checked_at_b and "nothing was stored there" in checked_at_b
    presented = await rakuichi("member", "present", bundle, "--node", b, "--publish")
    count = len(json.loads(bundle.read_text(encoding="utf-8"))["records"])
    assert f"presented {count} record(s) about {member} to {b}" in presented
    assert presented.rstrip().endswith(" 0 refused")

    async def same_reputation() -> bool:
        rep_a, rep_b = await reputation(api, a, member), await reputation(api, b, member)
        org_a_rep = await reputation(api, b, org_a)
        return (
            rep_a == rep_b
            and len(rep_a["summary"]) == 2
            and states(org_a_rep) == {rating: "grounded"}
        )

    await wait_for(same_reputation, SYNC_WITHIN, "the same reputation on A and B")

    # A withdraws one attestation: both nodes, and any fresh bundle, show it retracted
    await published("retract", "--home", home_a, praise, "--reason", "issued in error")

    async def retracted_on_both() -> bool:
        for url in (a, b):
            if states(await reputation(api, url, member)) != {
                skill: "grounded",
                praise: "retracted",
            }:
                return False
        return True

    await wait_for(retracted_on_both, SYNC_WITHIN, "the retraction on A and B")
    assert await reputation(api, a, member) == await reputation(api, b, member)
    fresh = tmp_path / "aiko-bundle-2.json"
    assert "exported 1 attestation(s)" in await rakuichi(
        "member", "export", *me, "--node", b, "--out", fresh
    )
    for proc in procs:  # offline means offline: no node is running any more
        assert proc.terminate() == 0
    rechecked = await rakuichi("verify", fresh)
    assert re.search(rf"retracted .* by aurora \({re.escape(org_a)}\)\s+{praise}", rechecked)
    assert re.search(rf"grounded .*\s+{skill}", rechecked)
    assert "recommendation" not in rechecked
    assert await rakuichi("verify", bundle)  # the old bundle still checks, as issued
