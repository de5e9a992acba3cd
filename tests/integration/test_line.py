"""Five node processes in a line A-B-C-D-E: what is published at both ends reaches every node.

Records travel hop by hop (push) and by anti-entropy; each node only knows its neighbours
(``learn_peers = false``). The test compares every node's full listing of record ids (tombstones
are not records: not listed), so a record lost on the way, or one node missing a retract, fails
it, and checks that the retracted records read 410 everywhere.
"""

from __future__ import annotations

import asyncio
import re
import time

import pytest

from protocol.record import Record
from tests.support import (
    Cast,
    alliance,
    alliance_end,
    attestation,
    member_profile,
    now_ms,
    opportunity,
    org_profile,
    retract,
    run_cli,
    unknown_kind,
)
from tests.support.federation import (
    Api,
    describe_listings,
    federation_home,
    line_topology,
    start_processes,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("federation_engine")]

CONVERGE_WITHIN = 30.0  # seconds; it takes about 1-3 s on a 2-core machine


def history(cast: Cast, t0: int, tag: str) -> tuple[list[Record], Record]:
    """Several records of every kind, in causal order, and one record to retract later."""
    opps = [
        opportunity(
            cast.org,
            t0 + i,
            slug=f"{tag}-{i}",
            title=f"Role {tag} {i}",
            skills=["ux"],
            remote=i % 2 == 0,
        )
        for i in range(3)
    ]
    first = alliance(cast.org, cast.member, t0 + 10, opportunity=opps[0].id)
    second = alliance(cast.org_b, cast.member_b, t0 + 11, alumni=False)
    third = alliance(cast.org, cast.member_b, t0 + 12, tour="rotational")
    doomed = attestation(cast.org, cast.member, t0 + 21, "skill", first, skill="direction")
    records = [
        org_profile(cast.org, t0, f"Org {tag}"),
        org_profile(cast.org_b, t0, f"Org B {tag}"),
        member_profile(cast.member, t0, f"Member {tag}", skills=["ux"]),
        member_profile(cast.member_b, t0, f"Member B {tag}"),
        *opps,
        opportunity(cast.org, t0 + 5, slug=f"{tag}-0", title="Role, revised", status="closed"),
        first,
        second,
        third,
        alliance_end(cast.member, first, t0 + 13),
        alliance_end(cast.org_b, second, t0 + 14, outcome="ended-early"),
        attestation(cast.org, cast.member, t0 + 20, "tour.completed", first),
        doomed,
        attestation(cast.member, cast.org, t0 + 22, "rating", first, score=5),
        attestation(cast.outsider, cast.member_b, t0 + 23, "skill", skill="copy"),
        unknown_kind(cast.org_b, t0 + 30, note=f"first {tag}"),
        unknown_kind(cast.outsider, t0 + 31, kind="x.other-note", note=f"second {tag}"),
    ]
    return records, doomed


async def test_line_of_five_converges(tmp_path, api: Api) -> None:
    homes = [federation_home(tmp_path, name) for name in "abcde"]
    procs = await start_processes(homes)
    urls = [p.url for p in procs]
    line_topology(homes, urls)  # peers written after the start: picked up live (within 1 s)
    a, e = urls[0], urls[-1]

    t0 = now_ms() - 60_000
    cast_a, cast_e = Cast.fresh(), Cast.fresh()
    from_a, doomed_a = history(cast_a, t0, "a")
    from_e, doomed_e = history(cast_e, t0 + 1, "e")
    started = time.monotonic()
    await asyncio.gather(api.post(a, from_a), api.post(e, from_e))

    # `rakuichi publish` against the running node at the E end, once
    done = await asyncio.to_thread(
        run_cli,
        "publish",
        "opportunity",
        "--home",
        homes[-1],
        "--slug",
        "cli-role",
        "--title",
        "Published from the command line",
        "--tour",
        "foundational",
        "--status",
        "open",
        "--skill",
        "ux",
    )
    assert done.returncode == 0, done.stderr
    match = re.search(r"published opportunity ([0-9a-f]{64}) \(stored\)", done.stdout)
    assert match, done.stdout
    published = match.group(1)
    assert await api.has(e, published)

    # retract each end's attestation from the OTHER end, once the target has spread
    # (a record retracted before it reached a node never reaches it: see the report)
    await wait_for(
        lambda: api.all_hold(urls, [doomed_a.id.hex(), doomed_e.id.hex()]),
        CONVERGE_WITHIN,
        "the attestations to retract held everywhere",
    )
    undo_a = retract(cast_a.org, doomed_a, t0 + 40, reason="issued in error")
    undo_e = retract(cast_e.org, doomed_e, t0 + 41)
    await asyncio.gather(api.post(e, [undo_a]), api.post(a, [undo_e]))

    posted = {r.id.hex() for r in [*from_a, *from_e, undo_a, undo_e]} | {published}
    posted -= {doomed_a.id.hex(), doomed_e.id.hex()}
    try:
        listing = await wait_for(lambda: api.converged(urls, posted), CONVERGE_WITHIN, "converged")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{await describe_listings(api, urls)}") from None
    elapsed = time.monotonic() - started
    print(f"line of 5: {len(listing)} records identical on every node after {elapsed:.1f} s")

    # everything posted, the five nodes' own profiles, nothing else
    node_profiles = set(listing) - posted
    assert len(node_profiles) == len(homes), sorted(node_profiles)
    assert not any(listing.values())  # no tombstone is listed
    doomed = {doomed_a.id.hex(), doomed_e.id.hex()}
    assert not doomed & set(listing)
    for url in urls:  # the retracted attestations are gone for readers everywhere
        for rid in doomed:
            async with api.session.get(f"{url}/v1/records/{rid}") as answer:
                assert answer.status == 410


async def test_record_retracted_before_it_spread(tmp_path, api: Api) -> None:
    """A record erased at its first node before it spread never travels (its bytes are gone).

    Revision 2 closes the gap this used to show: tombstones are not listed nor replicated, and
    a node answers 410 for the target of a retract it holds even if it never held the target.
    So A (which holds the tombstone) and B (which only got the retract) list the same records
    and answer the same for the target's id, and the erased id is not rediscovered by every
    anti-entropy session.
    """
    homes = [federation_home(tmp_path, name) for name in "ab"]
    procs = await start_processes(homes)
    a, b = (p.url for p in procs)
    line_topology(homes, [a, b])
    cast = Cast.fresh()
    t0 = now_ms() - 60_000
    target = opportunity(cast.org, t0, slug="short-lived")
    undo = retract(cast.org, target, t0 + 1)
    await api.post(a, [target, undo])  # erased at A before its first push
    await wait_for(lambda: api.has(b, undo.id.hex()), 10.0, "the retract at B")
    since = now_ms()

    async def b_synced_twice() -> bool:
        row = await api.peer_row(b, a)
        return bool(row and (row["last_sync"] or 0) > since + 1000)

    await wait_for(b_synced_twice, 15.0, "anti-entropy sessions of B with A")
    listed_a, listed_b = await api.records(a), await api.records(b)
    assert target.id.hex() not in listed_a and undo.id.hex() in listed_a
    assert listed_a == listed_b  # the same set of records, the retract included
    answers = []
    for url in (a, b):
        async with api.session.get(f"{url}/v1/records/{target.id.hex()}") as answer:
            answers.append((answer.status, await answer.json()))
    assert answers[0][0] == answers[1][0] == 410
    assert answers[0][1] == answers[1][1]  # word for word the same answer
    assert (await api.peer_row(b, a))["failures"] == 0
