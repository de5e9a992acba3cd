"""A partition and its healing: A-B | C-D, cut between B and C with ``rakuichi peers deny``.

While cut, both halves publish, including records that refer to records on the other half:
an ``alliance.end`` and an attestation naming an alliance made on the other side (pending
there until the heal), retracts of records published on the other side before the cut, and
two competing new versions of the same opportunity. Healing removes the deny lines and adds
the peers back, all while the nodes run. Then the four nodes must hold the same record ids
and the same derived views: ``dump_views`` read from each database (an SQLite file read-only,
or PostgreSQL) is identical, equals ``protocol.views.derive`` over every record published,
and the API agrees.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from node.config import load_keys
from node.transport import NodeClient, RemoteRefusal
from protocol.validate import parse
from protocol.views import derive
from tests.support import (
    Cast,
    alliance,
    alliance_end,
    attestation,
    did,
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
    in_every_process,
    line_topology,
    node_views,
    start_processes,
    undeny_url,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("federation_engine")]

WITHIN = 30.0  # seconds for any convergence; each takes 1-3 s


async def cli(*args) -> str:
    done = await asyncio.to_thread(run_cli, *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


async def refused_by(api: Api, url: str, home) -> bool:
    """Whether ``url`` refuses requests signed by the node of ``home`` (403 policy)."""
    client = NodeClient(url, api.session, signer=load_keys(home).node)
    try:
        await client.post_records([])
    except RemoteRefusal as exc:
        return (exc.status, exc.klass) == (403, "policy")
    return False


async def test_partition_heals_to_the_same_records_and_views(tmp_path, api: Api) -> None:
    homes = [federation_home(tmp_path, name) for name in "abcd"]
    procs = await start_processes(homes)
    urls = [p.url for p in procs]
    a, b, c, d = urls
    line_topology(homes, urls)
    cast = Cast.fresh()
    x, y, m, n = cast.org, cast.org_b, cast.member, cast.member_b
    t0 = now_ms() - 600_000

    # ----- before the cut: everyone holds these
    first = alliance(x, m, t0 + 10)
    web = opportunity(x, t0 + 20, slug="web", title="Web director")
    design = opportunity(y, t0 + 21, slug="design", title="Designer")
    early = attestation(x, m, t0 + 30, "skill", first, skill="ux", level=2)
    before = [
        org_profile(x, t0, "Org X"),
        org_profile(y, t0, "Org Y"),
        member_profile(m, t0, "M"),
        member_profile(n, t0, "N"),
        first,
        web,
        design,
        early,
    ]
    await api.post(a, before)
    await wait_for(
        lambda: api.converged(urls, [r.id.hex() for r in before]),
        WITHIN,
        "converged before the cut",
    )

    # ----- cut B-C on both sides, live
    cut_at = time.monotonic()
    await cli("peers", "deny", "--home", homes[1], c)
    await cli("peers", "deny", "--home", homes[2], b)
    # A deny by URL refuses the node key proven for that URL (docs/protocol.md section 11); a node
    # proves a peer's key when it next contacts it (anti-entropy every second here), so allow a
    # few rounds on a loaded machine rather than only the 1 s reload.
    await wait_for(lambda: refused_by(api, c, homes[1]), 15.0, "C refusing B")
    await wait_for(lambda: refused_by(api, b, homes[2]), 15.0, "B refusing C")
    await in_every_process(cut_at)

    # ----- both halves publish
    second = alliance(y, n, t0 + 100)
    left = {  # A and B
        a: [
            second,
            attestation(m, x, t0 + 110, "rating", first, score=5),
            unknown_kind(x, t0 + 120, note="left"),
        ],
        b: [opportunity(x, t0 + 160, slug="web", title="Web director, left version")],
    }
    right = {  # C and D
        c: [
            retract(x, early, t0 + 130, reason="issued in error"),  # made before the cut
            alliance_end(x, first, t0 + 140),
            opportunity(x, t0 + 150, slug="web", title="Web director, right version"),
        ],
        d: [
            alliance_end(n, second, t0 + 170),  # names an alliance only the left half has
            attestation(y, n, t0 + 180, "tour.completed", second),  # grounded there
            retract(y, design, t0 + 190),
            member_profile(m, t0 + 200, "M, renamed"),
        ],
    }
    for batches in (left, right):
        for url, records in batches.items():
            await api.post(url, records)
    left_ids = [r.id.hex() for rs in left.values() for r in rs]
    right_ids = [r.id.hex() for rs in right.values() for r in rs]
    await wait_for(lambda: api.all_hold([a, b], left_ids), WITHIN, "the left half in step")
    await wait_for(lambda: api.all_hold([c, d], right_ids), WITHIN, "the right half in step")
    for url in (a, b):  # the cut held both ways
        assert not set(right_ids) & await api.record_ids(url), url
    for url in (c, d):
        assert not set(left_ids) & await api.record_ids(url), url
    cut = await node_views(homes[3], now_ms())
    assert second.id in cut.pending  # the end and the attestation wait for the alliance

    # ----- heal, live: no deny lines, the peers back in peers.toml
    undeny_url(homes[1], c)
    undeny_url(homes[2], b)
    await cli("peers", "add", "--home", homes[1], c)
    await cli("peers", "add", "--home", homes[2], b)
    published = [*before, *(r for bs in (left, right) for rs in bs.values() for r in rs)]
    erased = {early.id.hex(), design.id.hex()}  # tombstones are not listed (revision 2)
    listed = [r.id.hex() for r in published if r.id.hex() not in erased]
    try:
        listing = await wait_for(
            lambda: api.converged(urls, listed),
            WITHIN,
            "converged after the heal",
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{await describe_listings(api, urls)}") from None
    assert not erased & set(listing) and not any(listing.values())
    assert len(listing) == len(listed) + len(homes)  # and the nodes' own profiles
    for url in urls:  # the erased records read 410 everywhere
        for rid in erased:
            async with api.session.get(f"{url}/v1/records/{rid}") as answer:
                assert answer.status == 410

    # ----- the same derived views everywhere, read from each database
    at = now_ms()
    dumps = [(await node_views(home, at)).to_json() for home in homes]
    for name, dump in zip("bcd", dumps[1:], strict=True):
        assert dump == dumps[0], f"views of {name} differ from A's"

    # ... and they are the views of the set of records, whatever the arrival orders were
    profiles = [
        parse(w)
        for w in await asyncio.gather(
            *(
                api.client(a).get_record_wire(bytes.fromhex(rid))
                for rid in set(listing) - {r.id.hex() for r in published}
            )
        )
    ]
    reference = derive([*published, *profiles], at).to_json()
    assert dumps[0] == reference

    views = dumps[0]
    assert views["pending"] == {}
    assert sorted(views["alumni"][did(x)]) == [did(m)]  # ended on the right half
    assert sorted(views["alumni"][did(y)]) == [did(n)]  # made left, ended right
    assert views["opportunities"][did(x)]["web"]["body"]["title"] == (
        "Web director, left version"
    )  # the newest of the three versions, on every node
    assert "design" not in views["opportunities"].get(did(y), {})
    grounded = [s for s in views["attestations"].values() if s.get("state") == "grounded"]
    assert len(grounded) == 2, views["attestations"]

    # ----- the API says the same on every node
    for path in (
        "/v1/opportunities?limit=500",
        f"/v1/orgs/{did(x)}/alumni",
        f"/v1/orgs/{did(y)}/alumni",
        f"/v1/members/{did(m)}",
        f"/v1/members/{did(n)}",
    ):
        answers = [await api.get_json(url + path) for url in urls]
        assert all(answer == answers[0] for answer in answers[1:]), path
