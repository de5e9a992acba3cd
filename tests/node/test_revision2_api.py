"""Revision 2 through a real node's HTTP API: replies beside their targets, stakeholder
alliances by relation, tour.completed grounding, and 410 for a retract's never-held target."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from node.service import Node
from protocol import verify_bundle
from tests.node.test_api import Api, assert_problem
from tests.support import (
    Cast,
    alliance,
    alliance_end,
    attestation,
    base_url,
    did,
    make_home,
    now_ms,
    org_profile,
    reply,
    retract,
    running_node,
)


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    async with running_node(make_home(tmp_path, "acme")) as running:
        yield running


@pytest.fixture
async def api(node: Node) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as session:
        yield Api(session, base_url(node))


def _states(rep: dict[str, Any]) -> dict[str, str]:
    return {e["id"]: e["state"] for e in rep["attestations"]}


async def test_reply_is_shown_beside_the_attestation(api: Api) -> None:
    cast = Cast.fresh()
    t0 = now_ms() - 60_000
    pact = alliance(cast.org, cast.member, t0)
    rating = attestation(cast.member, cast.org, t0 + 1, "rating", pact, score=2)
    first = reply(cast.org, rating, t0 + 2, "We fixed the on-boarding since.")
    newer = reply(cast.org, rating, t0 + 3, "We fixed the on-boarding; thank you.")
    stranger = reply(cast.outsider, rating, t0 + 4, "Not true!")  # no effect
    await api.publish(newer, first, stranger)  # before their target: they wait
    rep = await api.ok(f"/v1/reputation/{did(cast.org)}")
    assert rep["attestations"] == []
    await api.publish(pact, rating)
    rep = await api.ok(f"/v1/reputation/{did(cast.org)}")
    (entry,) = rep["attestations"]
    assert entry["id"] == rating.id.hex()
    assert entry["reply"] == {
        "id": newer.id.hex(),
        "text": "We fixed the on-boarding; thank you.",
        "created": newer.created,
    }
    await api.publish(retract(cast.org, newer, t0 + 5))
    rep = await api.ok(f"/v1/reputation/{did(cast.org)}")
    assert rep["attestations"][0]["reply"]["id"] == first.id.hex()
    # the bundle carries the reply, and the offline check shows it
    status, _, data = await api.get(f"/v1/reputation/{did(cast.org)}/bundle")
    assert status == 200, data
    report = verify_bundle(json.dumps(data).encode(), now_ms())
    assert report.ok and report.reputation is not None
    (carried,) = report.reputation.attestations
    assert carried.reply == first


async def test_tour_completed_counts_once_the_alliance_ended_completed(api: Api) -> None:
    cast = Cast.fresh()
    t0 = now_ms() - 60_000
    pact = alliance(cast.org, cast.member, t0)
    tour = attestation(cast.org, cast.member, t0 + 1, "tour.completed", pact)
    await api.publish(pact, tour)
    subject = f"/v1/reputation/{did(cast.member)}"
    assert _states(await api.ok(subject)) == {tour.id.hex(): "ungrounded"}
    before = alliance_end(cast.member, pact, t0 - 1)  # dated before its alliance: no effect
    await api.publish(before)
    assert _states(await api.ok(subject)) == {tour.id.hex(): "ungrounded"}
    member = await api.ok(f"/v1/members/{did(cast.member)}")
    assert member["alliances"][0]["in_force"] is True
    await api.publish(alliance_end(cast.member, pact, t0 + 2))
    assert _states(await api.ok(subject)) == {tour.id.hex(): "grounded"}


async def test_stakeholder_alliances_by_relation(api: Api) -> None:
    cast = Cast.fresh()
    t0 = now_ms() - 60_000
    supplier = alliance(cast.org, cast.org_b, t0, relation="supplier", alumni=True)
    customer = alliance(cast.org, cast.member, t0 + 1, relation="customer", alumni=False)
    plain = alliance(cast.org, cast.member_b, t0 + 2)
    await api.publish(
        org_profile(cast.org, t0, "Aurora"), org_profile(cast.org_b, t0, "Birch"), supplier
    )
    await api.publish(customer, plain)
    shown = (await api.ok(f"/v1/orgs/{did(cast.org)}"))["alliances_by_relation"]
    assert [e["id"] for e in shown["in_force"]["supplier"]] == [supplier.id.hex()]
    assert [e["id"] for e in shown["in_force"]["customer"]] == [customer.id.hex()]
    assert [e["id"] for e in shown["in_force"]["member"]] == [plain.id.hex()]
    assert shown["alumni"]["supplier"] == []
    # the supplier's side: the same alliance, seen from the organisation that supplies
    birch = (await api.ok(f"/v1/orgs/{did(cast.org_b)}"))["alliances_by_relation"]
    (entry,) = birch["in_force"]["supplier"]
    assert (entry["side"], entry["org"], entry["member"]) == (
        "member",
        did(cast.org),
        did(cast.org_b),
    )
    end = alliance_end(cast.org_b, supplier, t0 + 3, "ended-early")
    await api.publish(end)
    shown = (await api.ok(f"/v1/orgs/{did(cast.org)}"))["alliances_by_relation"]
    assert shown["in_force"]["supplier"] == []
    assert [e["end"] for e in shown["alumni"]["supplier"]] == [end.id.hex()]
    member = await api.ok(f"/v1/members/{did(cast.member)}")
    assert member["alliances"][0]["relation"] == "customer"
    assert [e["id"] for e in member["alliances_by_relation"]["in_force"]["customer"]] == [
        customer.id.hex()
    ]


async def test_target_of_a_held_retract_reads_410_even_if_never_held(api: Api) -> None:
    cast = Cast.fresh()
    t0 = now_ms() - 60_000
    target = org_profile(cast.org, t0)  # never sent to this node
    undo = retract(cast.org, target, t0 + 1)
    assert_problem(await api.get(f"/v1/records/{target.id.hex()}"), 404, "not-found")
    await api.publish(undo)
    assert_problem(await api.get(f"/v1/records/{target.id.hex()}"), 410, "retracted")
    listed = [v["id"] for v in await api.all_records(author=did(cast.org))]
    assert listed == [undo.id.hex()]
    # the target arriving later is erased at once, and answers the same
    status, _, _ = await api.post(target.wire)
    assert status == 201
    assert_problem(await api.get(f"/v1/records/{target.id.hex()}"), 410, "retracted")
    assert [v["id"] for v in await api.all_records(author=did(cast.org))] == [undo.id.hex()]
