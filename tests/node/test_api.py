"""The federation HTTP API of a real node (in process, on a free 127.0.0.1 port)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import msgpack
import pytest
from aiohttp import web

from crypto import raw_from_did
from node import __version__
from node.api.app import make_app
from node.service import Node
from node.tomlfile import read_toml
from protocol.errors import REJECTION_CLASSES, Rejected
from protocol.jsonview import to_json
from protocol.record import Record
from protocol.validate import parse
from tests.support import (
    Cast,
    alliance,
    alliance_end,
    attestation,
    base_url,
    did,
    fresh_key,
    make_home,
    now_ms,
    one_of_every_kind,
    opportunity,
    org_did,
    org_profile,
    retract,
    running_node,
    unknown_kind,
)
from tests.support.stores import Engine

MSGPACK = "application/msgpack"
PROBLEM = "application/problem+json"
MAX_BODY = 300_000


@pytest.fixture
async def node(tmp_path: Path, engine: Engine) -> AsyncIterator[Node]:
    """The node under test, on each storage engine in turn."""
    storage = {} if engine.name == "sqlite" else {"storage_url": await engine.fresh("api")}
    home = make_home(tmp_path, "acme", max_body_bytes=MAX_BODY, **storage)
    async with running_node(home) as running:
        yield running


class Api:
    """A thin client that returns (status, content type, decoded body) and checks problems."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session, self.url = session, url

    async def request(
        self,
        method: str,
        path: str,
        *,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> tuple[int, str, Any]:
        async with self.session.request(
            method, self.url + path, data=data, headers=headers, params=params
        ) as response:
            body = await response.read()
            ctype = response.content_type
            if ctype in ("application/json", PROBLEM):
                return response.status, ctype, await response.json(content_type=None)
            return response.status, ctype, body

    async def get(self, path: str, **params: str) -> tuple[int, str, Any]:
        return await self.request("GET", path, params=params)

    async def ok(self, path: str, **params: str) -> Any:
        status, ctype, body = await self.get(path, **params)
        assert (status, ctype) == (200, "application/json"), (path, params, status, body)
        return body

    async def post(self, wire: bytes) -> tuple[int, str, Any]:
        return await self.request(
            "POST", "/v1/records", data=wire, headers={"Content-Type": MSGPACK}
        )

    async def post_batch(self, wires: list[bytes]) -> list[dict[str, Any]]:
        status, ctype, body = await self.request(
            "POST",
            "/v1/records",
            data=msgpack.packb(wires, use_bin_type=True),
            headers={"Content-Type": MSGPACK},
        )
        assert (status, ctype) == (200, "application/json"), body
        assert len(body["results"]) == len(wires)
        return body["results"]

    async def publish(self, *records: Record) -> None:
        for record in records:
            status, _, body = await self.post(record.wire)
            assert status == 201, body
            assert body == {"id": record.id.hex(), "stored": True}

    async def all_records(self, **params: str) -> list[dict[str, Any]]:
        """Every page of ``GET /v1/records`` (following ``next``)."""
        views: list[dict[str, Any]] = []
        query = dict(params)
        while True:
            page = await self.ok("/v1/records", **query)
            views += page["records"]
            if not page["records"]:  # the last page answers a cursor too: stop when empty
                return views
            query["cursor"] = page["next"]


def assert_problem(
    response: tuple[int, str, Any], status: int, klass: str | set[str], mention: str = ""
) -> dict[str, Any]:
    got_status, ctype, body = response
    assert got_status == status, body
    assert ctype == PROBLEM
    classes = {klass} if isinstance(klass, str) else klass
    assert body["class"] in classes, body
    assert body["status"] == status
    assert body["title"] and body["detail"]
    assert mention in body["detail"], body
    return body


@pytest.fixture
async def api(node: Node) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as session:
        yield Api(session, base_url(node))


def vector_classes(vector: dict[str, Any]) -> set[str]:
    classes = set(vector["class"].split("_or_"))
    assert classes <= REJECTION_CLASSES.keys()
    return classes


def status_of(classes: set[str]) -> int:
    return 413 if classes == {"size"} else 422


def parsed_id(wire: bytes) -> bytes | None:
    """The id of a refused vector when it parses at all (signature and time failures)."""
    try:
        return parse(wire).id
    except Rejected:
        return None


# --- identity -----------------------------------------------------------------------------


async def test_well_known_identity(node: Node, api: Api) -> None:
    identity = await api.ok("/.well-known/rakuichi")
    written = read_toml(node.config.config_path)["identity"]
    limits, features = identity.pop("limits"), identity.pop("features")
    assert limits["record_bytes"] == 65536 and limits["body_bytes"] == MAX_BODY
    assert "stream" in features["api"]
    assert identity == {
        "protocol": 1,
        "software": "rakuichi",
        "version": __version__,
        "name": "acme",
        "org": written["org"],
        "key": written["org"],  # no key events: the one key is the current key
        "node": written["node"],
        "url": base_url(node),
        "max_body_bytes": MAX_BODY,
    }
    assert identity["org"] != identity["node"]
    assert identity["url"].startswith("http://127.0.0.1:")


# --- submitting: the conformance vectors --------------------------------------------------


async def test_vectors_one_by_one(api: Api, vectors: dict[str, Any]) -> None:
    valid, invalid = vectors["protocol"]["valid"], vectors["protocol"]["invalid"]
    before = {v["id"] for v in await api.all_records()}  # the node's own profile
    assert len(before) == 1

    async def refuse_all() -> None:
        for vector in invalid:
            classes = vector_classes(vector)
            response = await api.post(bytes.fromhex(vector["record_hex"]))
            problem = assert_problem(response, status_of(classes), classes)
            assert problem["instance"] == "/v1/records", vector["name"]

    await refuse_all()  # nothing of these is held yet
    for vector in valid:
        status, _, body = await api.post(bytes.fromhex(vector["record_hex"]))
        assert (status, body) == (201, {"id": vector["id"], "stored": True}), vector["name"]
    await refuse_all()  # still refused once records with some of the same ids are held

    listed = [v["id"] for v in await api.all_records(limit="500")]
    assert len(listed) == len(set(listed))
    valid_ids = {v["id"] for v in valid}
    gone = {rid for rid in valid_ids if (await api.get(f"/v1/records/{rid}"))[0] == 410}
    assert len(gone) == 1  # a valid vector retracts another: its tombstone is not listed
    assert set(listed) == before | (valid_ids - gone)
    for vector in invalid:
        rid = parsed_id(bytes.fromhex(vector["record_hex"]))
        if rid is not None and rid.hex() not in valid_ids:
            assert_problem(await api.get(f"/v1/records/{rid.hex()}"), 404, "not-found")


async def test_vectors_as_one_batch_then_again(api: Api, vectors: dict[str, Any]) -> None:
    valid, invalid = vectors["protocol"]["valid"], vectors["protocol"]["invalid"]
    padded = valid + [None] * (len(invalid) - len(valid))
    mixed = [
        entry for pair in zip(invalid, padded, strict=True) for entry in pair if entry is not None
    ]  # interleaved, so that results must keep their places
    results = await api.post_batch([bytes.fromhex(v["record_hex"]) for v in mixed])
    for vector, result in zip(mixed, results, strict=True):
        if "id" in vector:
            assert result == {"id": vector["id"], "stored": True}, vector["name"]
        else:
            assert result["class"] in vector_classes(vector), (vector["name"], result)
            assert result["detail"] and "id" not in result
    again = await api.post_batch([bytes.fromhex(v["record_hex"]) for v in valid])
    assert again == [{"id": v["id"], "stored": False} for v in valid]
    listed = {v["id"] for v in await api.all_records()}
    gone = {v["id"] for v in valid if (await api.get(f"/v1/records/{v['id']}"))[0] == 410}
    assert len(gone) == 1  # the retracted vector: a tombstone, not listed
    assert {v["id"] for v in valid} - gone <= listed
    assert len(listed) == len(valid) - len(gone) + 1


async def test_resubmission_is_idempotent(api: Api) -> None:
    record = org_profile(fresh_key(), now_ms() - 1000)
    first = await api.post(record.wire)
    second = await api.post(record.wire)
    assert first[0] == 201 and first[2] == {"id": record.id.hex(), "stored": True}
    assert second[0] == 200 and second[2] == {"id": record.id.hex(), "stored": False}
    listed = [v["id"] for v in await api.all_records()]
    assert listed.count(record.id.hex()) == 1


# --- reading one record -------------------------------------------------------------------


async def test_get_record_as_json_and_exact_bytes(api: Api) -> None:
    records = one_of_every_kind(Cast.fresh(), now_ms() - 60_000)
    await api.publish(*records)
    retracted = records[8].body["target"]
    for record in records:
        if record.id == retracted:
            continue
        assert await api.ok(f"/v1/records/{record.id.hex()}") == to_json(record)
        status, ctype, body = await api.request(
            "GET", f"/v1/records/{record.id.hex()}", headers={"Accept": MSGPACK}
        )
        assert (status, ctype, body) == (200, MSGPACK, record.wire)


async def test_unknown_bad_and_retracted_ids(api: Api) -> None:
    assert_problem(await api.get(f"/v1/records/{'ab' * 32}"), 404, "not-found", "ab" * 32)
    for bad in ("xyz", "ab" * 31, "zz" * 32, "AB" * 32 + "00"):
        assert_problem(await api.get(f"/v1/records/{bad}"), 400, "bad-request", "64 hex")
    author = fresh_key()
    note = unknown_kind(author, now_ms() - 5000, "x.note", text="oops")
    await api.publish(note)
    assert (await api.get(f"/v1/records/{note.id.hex()}"))[0] == 200
    await api.publish(retract(author, note, now_ms() - 4000))
    assert_problem(await api.get(f"/v1/records/{note.id.hex()}"), 410, "retracted")
    status, ctype, _ = await api.request(
        "GET", f"/v1/records/{note.id.hex()}", headers={"Accept": MSGPACK}
    )
    assert (status, ctype) == (410, PROBLEM)
    # tombstones are not records (revision 2): not listed, while the retract is
    assert await api.all_records(kind="x.note") == []
    assert [
        v["record"]["body"] if "record" in v else v["body"]
        for v in await api.all_records(kind="retract", author=did(author))
    ] == [{"target": note.id.hex()}]
    again = await api.post(note.wire)  # the tombstone keeps it from being taken in again
    assert again[0] == 200 and again[2]["stored"] is False
    assert_problem(await api.get(f"/v1/records/{note.id.hex()}"), 410, "retracted")


# --- listing records ----------------------------------------------------------------------


async def test_list_records_filters(node: Node, api: Api) -> None:
    cast = Cast.fresh()
    t0 = now_ms() - 3_600_000
    history = one_of_every_kind(cast, t0)
    extra = [
        opportunity(cast.org_b, t0 + 8, slug="b-role", title="B role"),
        attestation(cast.org_b, cast.member, t0 + 9, "recommendation"),
    ]
    await api.publish(*history, *extra)
    posted = history + extra
    erased = {posted[8].body["target"]}

    def expect(keep: Any) -> list[str]:
        return [r.id.hex() for r in posted if keep(r) and r.id not in erased]

    async def ids(**params: str) -> list[str]:
        return [v["id"] for v in await api.all_records(**params)]

    member_raw = cast.member.public_key.raw
    cases: list[tuple[dict[str, str], Any]] = [
        ({"kind": "opportunity"}, lambda r: r.kind == "opportunity"),
        ({"kind": "attestation"}, lambda r: r.kind == "attestation"),
        ({"kind": "x.nothing"}, lambda r: False),
        ({"author": did(cast.org)}, lambda r: r.author == cast.org.public_key.raw),
        ({"author": did(cast.member)}, lambda r: r.author == member_raw),
        (
            {"subject": did(cast.member)},
            lambda r: (
                r.body.get("subject", r.body.get("member")) == member_raw
                and r.kind in ("alliance", "attestation")
            ),
        ),
        (
            {"subject": did(cast.org)},
            lambda r: r.kind == "attestation" and r.body["subject"] == cast.org.public_key.raw,
        ),
        ({"since": str(t0 + 4), "until": str(t0 + 60_000)}, lambda r: r.created >= t0 + 4),
        ({"until": str(t0 + 2)}, lambda r: r.created < t0 + 2),
        ({"since": str(t0 + 2), "until": str(t0 + 5)}, lambda r: t0 + 2 <= r.created < t0 + 5),
        (
            {"kind": "attestation", "author": did(cast.org), "since": str(t0 + 4), "limit": "1"},
            lambda r: r.kind == "attestation" and r.author == cast.org.public_key.raw,
        ),
    ]
    for params, keep in cases:
        assert await ids(**params) == expect(keep), params
    own, *everything = await api.all_records(since=str(t0))  # own profile: published first
    assert (own["kind"], own["author"]) == ("org.profile", org_did(node))
    assert [v["id"] for v in everything] == expect(lambda r: True)
    for view in everything:  # tombstones are not listed (revision 2)
        assert "retracted" not in view and bytes.fromhex(view["id"]) not in erased


async def test_pagination_neither_skips_nor_repeats_during_inserts(api: Api) -> None:
    author = fresh_key()
    t0 = now_ms() - 600_000
    first = [unknown_kind(author, t0 + i, "x.tick", n=i) for i in range(120)]
    results = await api.post_batch([r.wire for r in first])
    assert all(r["stored"] for r in results)
    started = asyncio.Event()
    inserted: list[str] = []

    async def keep_inserting() -> None:
        for i in range(120, 200):
            record = unknown_kind(author, t0 + i, "x.tick", n=i)
            await api.publish(record)
            inserted.append(record.id.hex())
            if len(inserted) == 3:
                started.set()

    inserter = asyncio.create_task(keep_inserting())
    await started.wait()
    seen: list[str] = []
    query = {"limit": "7"}
    pages = 0
    while True:
        page = await api.ok("/v1/records", **query)
        pages += 1
        seen += [v["id"] for v in page["records"]]
        if not page["records"]:
            break
        query["cursor"] = page["next"]
    await inserter
    final = [v["id"] for v in await api.all_records(limit="500")]
    assert len(final) == 1 + 200
    assert len(seen) == len(set(seen)), "a record was listed twice"
    assert seen == final[: len(seen)], "a record was skipped or listed out of order"
    assert len(seen) > 1 + 120, "pages were read before the concurrent inserts began"
    assert pages >= len(seen) // 7


# --- developers' views --------------------------------------------------------------------


async def test_opportunities_search_and_filters(api: Api) -> None:
    a, b = fresh_key(), fresh_key()
    t0 = now_ms() - 3_600_000
    backend = opportunity(
        a,
        t0,
        slug="backend",
        title="Backend Engineer",
        summary="Python services for logistics",
        skills=["Python", "SQL"],
        tour="transformational",
        remote=True,
    )
    analyst = opportunity(
        a,
        t0 + 1,
        slug="analyst",
        title="Data Analyst",
        summary="Dashboards for the board",
        skills=["SQL"],
        tour="rotational",
        status="filled",
        remote=False,
        audience="alumni",
    )
    frontend = opportunity(
        b,
        t0 + 2,
        slug="frontend",
        title="Frontend Engineer",
        summary="React and TypeScript",
        skills=["TypeScript"],
        tour="foundational",
        remote=True,
    )
    ops = opportunity(
        b, t0 + 3, slug="ops", title="Ops Lead", summary="Kubernetes on call", tour="rotational"
    )
    backend_v2 = opportunity(
        a,
        t0 + 4,
        slug="backend",
        title="Senior Backend Engineer",
        summary="Python and Rust services",
        skills=["Python", "Rust"],
        tour="transformational",
        remote=True,
    )
    await api.publish(backend, analyst, frontend, ops, backend_v2, retract(b, ops, t0 + 5))

    async def found(**params: str) -> list[bytes]:
        page = await api.ok("/v1/opportunities", **params)
        return [bytes.fromhex(v["id"]) for v in page["opportunities"]]

    current = [backend_v2, frontend, analyst]  # newest first
    assert await found() == [r.id for r in current]
    page = await api.ok("/v1/opportunities")
    assert page["opportunities"] == [to_json(r) for r in current]
    cases: list[tuple[dict[str, str], list[Record]]] = [
        ({"q": "eng"}, [backend_v2, frontend]),
        ({"q": "backend eng"}, [backend_v2]),
        ({"q": "ENGINEER senior"}, [backend_v2]),
        ({"q": "rust"}, [backend_v2]),
        ({"q": "logistics"}, []),  # only in the replaced version
        ({"q": "kubernetes"}, []),  # only in the retracted one
        ({"q": "dashboards"}, [analyst]),
        ({"q": "typescript"}, [frontend]),
        ({"q": "sql"}, [analyst]),
        ({"q": "!!"}, current),
        ({"skill": "python"}, [backend_v2]),
        ({"skill": "SQL"}, [analyst]),
        ({"skill": "Pyth"}, []),
        ({"tour": "rotational"}, [analyst]),
        ({"tour": "foundational"}, [frontend]),
        ({"remote": "true"}, [backend_v2, frontend]),
        ({"remote": "false"}, [analyst]),
        ({"org": did(a)}, [backend_v2, analyst]),
        ({"org": did(b)}, [frontend]),
        ({"status": "filled"}, [analyst]),
        ({"status": "closed"}, []),
        ({"audience": "alumni"}, [analyst]),
        ({"q": "engineer", "remote": "true", "org": did(b)}, [frontend]),
    ]
    for params, expected in cases:
        assert await found(**params) == [r.id for r in expected], params
    paged: list[bytes] = []
    query = {"limit": "1"}
    while True:
        page = await api.ok("/v1/opportunities", **query)
        paged += [bytes.fromhex(v["id"]) for v in page["opportunities"]]
        if page["next"] is None:
            break
        query["cursor"] = page["next"]
    assert paged == [r.id for r in current]


async def test_orgs_org_and_alumni(node: Node, api: Api) -> None:
    cast = Cast.fresh()
    third = fresh_key()
    t0 = now_ms() - 3_600_000
    profile_a = org_profile(cast.org, t0, "Director Bank", domain="example.org")
    profile_a2 = org_profile(cast.org, t0 + 1, "Director Bank KK")
    profile_b = org_profile(cast.org_b, t0, "Studio B")
    job = opportunity(cast.org, t0 + 2, slug="web", title="Web director")
    old_job = opportunity(cast.org, t0 + 1, slug="web", title="Web lead")
    with_alumni = alliance(cast.org, cast.member, t0 + 3, alumni=True)
    without_alumni = alliance(cast.org, cast.member_b, t0 + 3, alumni=False)
    in_force = alliance(cast.org, third, t0 + 3, alumni=True)
    ended = alliance_end(cast.member, with_alumni, t0 + 10)
    other_end = alliance_end(cast.org, without_alumni, t0 + 11)
    outsider_end = alliance_end(cast.outsider, in_force, t0 + 12)  # no effect
    await api.publish(
        profile_a,
        profile_a2,
        profile_b,
        job,
        old_job,
        with_alumni,
        without_alumni,
        in_force,
        ended,
        other_end,
        outsider_end,
    )

    listing = await api.ok("/v1/orgs")
    assert listing["next"] is None
    by_org = {entry["org"]: entry for entry in listing["orgs"]}
    assert set(by_org) == {org_did(node), did(cast.org), did(cast.org_b)}
    authors = [raw_from_did(entry["org"]) for entry in listing["orgs"]]
    assert authors == sorted(authors)
    assert all(entry["profile"]["author"] == entry["org"] for entry in listing["orgs"])
    assert by_org[did(cast.org)]["profile"] == to_json(profile_a2)
    assert by_org[did(cast.org)]["counts"] == {
        "org.profile": 2,
        "opportunity": 2,
        "alliance": 3,
        "alliance.end": 1,
    }
    assert by_org[did(cast.org_b)]["counts"] == {"org.profile": 1}
    assert by_org[org_did(node)]["profile"]["body"]["name"] == "acme"
    paged, query = [], {"limit": "1"}
    while True:
        page = await api.ok("/v1/orgs", **query)
        paged += [entry["org"] for entry in page["orgs"]]
        if page["next"] is None:
            break
        query["cursor"] = page["next"]
    assert paged == [entry["org"] for entry in listing["orgs"]]

    org = await api.ok(f"/v1/orgs/{did(cast.org)}")
    assert org["org"] == did(cast.org)
    assert org["profile"] == to_json(profile_a2)
    assert org["opportunities"] == [to_json(job)]
    assert org["counts"] == by_org[did(cast.org)]["counts"]
    assert_problem(await api.get(f"/v1/orgs/{did(cast.member)}"), 404, "not-found")
    assert_problem(await api.get("/v1/orgs/did:key:z6Mkbad"), 400, "bad-request", "did")

    alumni = await api.ok(f"/v1/orgs/{did(cast.org)}/alumni")
    assert alumni == {
        "org": did(cast.org),
        "alumni": [
            {"member": did(cast.member), "alliance": with_alumni.id.hex(), "end": ended.id.hex()}
        ],
    }
    assert (await api.ok(f"/v1/orgs/{did(cast.org_b)}/alumni"))["alumni"] == []
    assert_problem(await api.get("/v1/orgs/nope/alumni"), 400, "bad-request")


# --- errors -------------------------------------------------------------------------------

BAD_QUERIES: list[tuple[str, dict[str, str], str]] = [
    ("/v1/records", {"limit": "0"}, "limit"),
    ("/v1/records", {"limit": "501"}, "limit"),
    ("/v1/records", {"limit": "abc"}, "limit"),
    ("/v1/records", {"author": "not-a-did"}, "author"),
    ("/v1/records", {"subject": "did:key:z6Mk"}, "subject"),
    ("/v1/records", {"since": "yesterday"}, "since"),
    ("/v1/records", {"until": "-5"}, "until"),
    ("/v1/records", {"cursor": "garbage"}, "cursor"),
    ("/v1/records", {"cursor": "!!!"}, "cursor"),
    ("/v1/opportunities", {"tour": "x"}, "tour"),
    ("/v1/opportunities", {"status": "maybe"}, "status"),
    ("/v1/opportunities", {"remote": "sometimes"}, "remote"),
    ("/v1/opportunities", {"org": "not-a-did"}, "org"),
    ("/v1/opportunities", {"limit": "0"}, "limit"),
    ("/v1/opportunities", {"cursor": "garbage"}, "cursor"),
    ("/v1/orgs", {"cursor": "garbage"}, "cursor"),
    ("/v1/orgs", {"limit": "abc"}, "limit"),
]


async def test_bad_query_parameters_are_problems(api: Api) -> None:
    for path, params, name in BAD_QUERIES:
        problem = assert_problem(await api.get(path, **params), 400, "bad-request", name)
        assert problem["instance"] == path


async def test_wrong_content_type_route_and_method(api: Api) -> None:
    record = org_profile(fresh_key(), now_ms())
    for ctype in ("text/plain", "application/octet-stream"):
        response = await api.request(
            "POST", "/v1/records", data=record.wire, headers={"Content-Type": ctype}
        )
        assert_problem(response, 415, "unsupported-media-type", ctype)
    response = await api.request(  # wire bytes labelled JSON: not JSON
        "POST", "/v1/records", data=record.wire, headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 400, "encoding", "not JSON")
    assert_problem(
        await api.request("POST", "/v1/records", data=record.wire), 415, "unsupported-media-type"
    )
    assert_problem(await api.get(f"/v1/records/{record.id.hex()}"), 404, "not-found")
    # "/" is the web board now (node/web); an unknown path still gets a problem document
    for path in ("/v1/nothing", "/v2/records", "/v1/records/ab/cd", "/nothing-here"):
        assert_problem(await api.get(path), 404, "not-found", path)
    for method, path in (
        ("DELETE", "/v1/records"),
        ("PUT", "/v1/records"),
        ("POST", "/v1/opportunities"),
        ("POST", "/.well-known/rakuichi"),
        ("DELETE", f"/v1/records/{'ab' * 32}"),
        ("PATCH", "/v1/orgs"),
    ):
        assert_problem(
            await api.request(method, path, data=b"x"), 405, "method-not-allowed", method
        )


async def test_body_over_the_limit(api: Api) -> None:
    key = fresh_key()
    t0 = now_ms()
    records = [unknown_kind(key, t0 - i, "x.bulk", pad="p" * 20_000) for i in range(16)]
    body = msgpack.packb([r.wire for r in records], use_bin_type=True)
    assert len(body) > MAX_BODY
    response = await api.request(
        "POST", "/v1/records", data=body, headers={"Content-Type": MSGPACK}
    )
    assert_problem(response, 413, "size", "limit")
    for record in records:
        assert (await api.get(f"/v1/records/{record.id.hex()}"))[0] == 404
    half = await api.post_batch([r.wire for r in records[:8]])  # under the limit: taken
    assert all(r["stored"] for r in half), half


def _is_web_page(route: web.AbstractRoute) -> bool:
    """The web board's pages and assets (node/web) are for people, not part of the API."""
    return isinstance(route.resource, web.StaticResource) or getattr(
        route.handler, "__module__", ""
    ).startswith("node.web")


async def test_openapi_document_matches_the_router(node: Node, api: Api) -> None:
    document = await api.ok("/v1/openapi.json")
    assert document["openapi"].startswith("3.1")
    assert document["info"]["version"] == __version__
    documented = {
        (path, method.upper())
        for path, operations in document["paths"].items()
        for method in operations
    }
    routed = {
        (route.resource.canonical, route.method)
        for route in make_app(node).router.routes()
        if route.method != "HEAD" and route.resource is not None and not _is_web_page(route)
    }
    assert documented == routed
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert operation["summary"] and operation["responses"], (path, method)
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path":
                    assert "{" + parameter["name"] + "}" in path
        streams = "text/event-stream" in operations.get("get", {}).get("responses", {}).get(
            "200", {}
        ).get("content", {})
        if "get" in operations and "{" not in path and not streams:  # streams never end
            assert (await api.get(path))[0] == 200, path
