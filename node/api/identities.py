"""Answers by identity (revision 3 proposal): key histories, and the organisation, member and
reputation documents of an identity that has key events.

A did given to ``/v1/orgs/{did}``, ``/v1/members/{did}`` or ``/v1/reputation/{did}`` is
resolved first: the first key of an identity with key events, or one of its signing keys,
answers for that identity (views by identity, ``protocol.identityviews``). A plain key (no key
events) keeps the revision-2 answers of the routes' own modules.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable
from typing import Any

from aiohttp import web

from crypto import did_from_raw
from node.api import params
from node.api.keys import NODE
from node.api.openapi import PROBLEM, add_operations, typed
from node.service import Node
from node.storage import identities, queries
from node.storage.identityreads import IdentityReads, Scope, scope_of
from node.storage.queries import Row
from protocol import (
    GROUNDED,
    UNGROUNDED,
    IdentityViews,
    KeyHistories,
    Record,
    kinds,
    to_json,
    write_bundle,
)
from protocol import reputation_from_views as reputation

routes = web.RouteTableDef()


async def established(node: Node, key: bytes) -> bytes | None:
    """The identity whose documents must be derived by identity, or None when the stored
    views (by signing key) answer exactly: the identity with key events that ``key`` names, or
    a plain key that deals with a key of such an identity (an alliance co-signed with an old
    key and attested with a new one is grounded by identity only)."""
    keys = await node.key_histories.histories()
    if not keys.histories:
        return None
    identity = keys.resolve(key)
    if identity in keys.histories:
        return identity
    if await node.key_histories.deals(key, keys):
        return identity
    return None


async def views_of(node: Node, *wanted: bytes) -> IdentityViews:
    return await identities.identity_views(node.key_histories, wanted, node.clock.now_ms())


async def reads_of(node: Node, key: bytes) -> IdentityReads | None:
    """The answers by identity for the identity with key events ``key`` names, or None."""
    identity = await established(node, key)
    if identity is None:
        return None
    return IdentityReads(await views_of(node, identity), identity)


async def scope_for(node: Node, key: bytes) -> Scope | None:
    """Which keys speak for the identity ``key`` names, and when; None for a plain key."""
    keys = await node.key_histories.histories()
    return scope_of(keys, keys.resolve(key))


async def opportunities_by_identity(
    node: Node, where: queries.OpportunityFilter
) -> queries.OpportunityFilter:
    """``org`` naming an identity with key events: its current opportunities, whichever of its
    keys signed them; a plain key filters by the key as before."""
    if where.org is None:
        return where
    reads = await reads_of(node, where.org)
    if reads is None:
        return where
    return dataclasses.replace(where, org=None, ids=tuple(r.id for r in reads.opportunities()))


async def shown_by_identity(node: Node, rows: list[Row]) -> list[Row]:
    """Rows of a listing of current versions (opportunities, profiles), by identity: a row
    whose key speaks for nobody at its ``created`` is left out, and a row of an identity with
    key events only when it is that identity's current version (a version signed with a newer
    key replaces one signed with an older key)."""
    keys = await node.key_histories.histories()
    current: dict[bytes, frozenset[bytes]] = {}
    shown = []
    for row in rows:
        identity = keys.identity_at(row.author, row.created)
        if identity is None:
            continue
        if identity in keys.histories:
            if identity not in current:
                views = await views_of(node, identity)
                current[identity] = IdentityReads(views, identity).current_ids()
            if row.id not in current[identity]:
                continue
        shown.append(row)
    return shown


def _original_json(views: IdentityViews, record: Record) -> dict[str, Any]:
    return to_json(views.originals.get(record.id, record))


def _history_json(keys: KeyHistories, identity: bytes) -> dict[str, Any] | None:
    history = keys.history(identity)
    return None if history is None else history.to_json()


@routes.get("/v1/keys/{did}")
async def get_keys(request: web.Request) -> web.Response:
    """The key history of the identity a did names (a plain key has a one-key history)."""
    key = params.did_text(request.match_info["did"], "did")
    keys = await request.app[NODE].key_histories.histories()
    identity = keys.resolve(key)
    history = _history_json(keys, identity)
    return web.json_response(
        {
            "did": request.match_info["did"],
            "identity": did_from_raw(identity),
            "history": history,
            "pending": keys.to_json()["pending"],
        }
    )


def by_relation(views: IdentityViews, identity: bytes) -> dict[str, dict[str, list[Any]]]:
    """``alliances_by_relation`` of ``node/api/stakeholders.py``, by identity."""
    shown: dict[str, dict[str, list[Any]]] = {
        "in_force": {r: [] for r in kinds.RELATIONS},
        "alumni": {r: [] for r in kinds.RELATIONS},
    }
    mine = [s for s in views.views.alliances.values() if identity in (s.org, s.member)]
    for s in sorted(mine, key=lambda s: (s.record.created, s.record.id)):
        entry = {
            "id": s.record.id.hex(),
            "org": did_from_raw(s.org),
            "member": did_from_raw(s.member),
            "side": "org" if s.org == identity else "member",
        }
        if s.end is None:
            shown["in_force"][s.relation].append(entry)
        elif s.record.body["alumni"]:
            shown["alumni"][s.relation].append({**entry, "end": s.end.id.hex()})
    return shown


def org_document(views: IdentityViews, identity: bytes) -> dict[str, Any] | None:
    profile = views.views.org_profiles.get(identity)
    if profile is None:
        return None
    opportunities = sorted(
        (r for (author, _), r in views.views.opportunities.items() if author == identity),
        key=lambda r: (r.created, r.id),
        reverse=True,
    )
    counts = Counter(
        r.kind
        for r in views.originals.values()
        if views.keys.identity_at(r.author, r.created) == identity
    )
    return {
        "org": did_from_raw(identity),
        "profile": _original_json(views, profile),
        "counts": dict(sorted(counts.items())),
        "opportunities": [_original_json(views, r) for r in opportunities],
        "alliances_by_relation": by_relation(views, identity),
        "keys": _history_json(views.keys, identity),
    }


def alumni_document(views: IdentityViews, identity: bytes) -> dict[str, Any]:
    ended = [
        s
        for s in views.views.alliances.values()
        if s.org == identity and s.end is not None and s.record.body["alumni"] is True
    ]
    ended.sort(key=lambda s: (s.member, s.record.created, s.record.id))
    return {
        "org": did_from_raw(identity),
        "alumni": [
            {
                "member": did_from_raw(s.member),
                "alliance": s.record.id.hex(),
                "end": s.end.id.hex() if s.end is not None else None,
            }
            for s in ended
        ],
    }


def member_document(views: IdentityViews, identity: bytes) -> dict[str, Any]:
    profile = views.views.member_profiles.get(identity)
    mine = sorted(
        (s for s in views.views.alliances.values() if s.member == identity),
        key=lambda s: (s.record.created, s.record.id),
    )
    return {
        "member": did_from_raw(identity),
        "profile": _original_json(views, profile) if profile else None,
        "alliances": [
            {
                "id": s.record.id.hex(),
                "org": did_from_raw(s.org),
                "alumni": s.record.body["alumni"],
                "in_force": s.in_force,
                "end": s.end.id.hex() if s.end is not None else None,
                "outcome": s.outcome,
                "relation": s.relation,
            }
            for s in mine
        ],
        "alumni_of": sorted(
            {did_from_raw(s.org) for s in mine if s.end is not None and s.record.body["alumni"]}
        ),
        "alliances_by_relation": by_relation(views, identity),
        "keys": _history_json(views.keys, identity),
    }


def reputation_document(views: IdentityViews, identity: bytes) -> dict[str, Any]:
    document = reputation(views.views, identity).to_json()
    for section in ("attestations", "ungrounded"):
        for entry in document[section]:
            if "record" in entry:
                entry["record"] = to_json(views.originals[bytes.fromhex(entry["id"])])
    document["keys"] = _history_json(views.keys, identity)
    return document


def bundle_of(views: IdentityViews, identity: bytes, chosen: Callable[[Record], bool]) -> bytes:
    """A bundle of the chosen live attestations about ``identity`` and what checks them,
    including the key events of every identity whose records it holds."""
    picked = [
        s.record
        for s in views.views.attestations.values()
        if s.record.body["subject"] == identity
        and s.state in (GROUNDED, UNGROUNDED)
        and chosen(s.record)
    ]
    records = list(picked)
    for attestation in picked:
        state = views.views.alliances.get(attestation.body.get("alliance", b""))
        if state is not None:
            records.append(state.record)
            if state.end is not None:
                records.append(state.end)
    parties = {r.author for r in records} | {identity}
    for party in parties:
        for profiles in (views.views.org_profiles, views.views.member_profiles):
            if party in profiles:
                records.append(profiles[party])
    originals = [views.originals.get(r.id, r) for r in records]
    events: list[Record] = []
    for party in parties:
        history = views.keys.history(party)
        if history is not None:
            events.extend(e.record for e in history.chain)
    return write_bundle(identity, [*originals, *events])


def bundle_filter(request: web.Request, keys: KeyHistories) -> Callable[[Record], bool]:
    claims = set(request.query.getall("claim", []))
    if claims - set(kinds.CLAIMS):
        raise params.bad_request(f"claim must be among {', '.join(kinds.CLAIMS)}")
    issuers = {
        keys.resolve(params.did_text(i, "issuer")) for i in request.query.getall("issuer", [])
    }
    skills = set(request.query.getall("skill", []))

    def chosen(record: Record) -> bool:
        return (
            (not claims or record.body["claim"] in claims)
            and (not issuers or record.author in issuers)
            and (not skills or record.body.get("skill") in skills)
        )

    return chosen


add_operations(
    {
        "/v1/keys/{did}": {
            "get": {
                "summary": "the key history of the identity a did names (revision 3 proposal)",
                "parameters": [
                    {"name": "did", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {
                    "200": typed("the identity's key history", "KeyView"),
                    "400": PROBLEM,
                },
            }
        }
    }
)
