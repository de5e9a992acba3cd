"""Records: ids that bind their content, the co-signing flow, unknown kinds and the JSON view."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import SigningKey, did_from_raw, sha256
from protocol.builder import Draft, IncompleteRecord, sign_record
from protocol.encoding import decode, encode
from protocol.errors import Rejected, SchemaError, SignatureError
from protocol.jsonview import from_json, to_json
from protocol.keyschema import KEY_INCEPTION, KEY_ROTATION, MAX_SEQ, consent_message
from protocol.kinds import (
    ALLIANCE,
    ALLIANCE_END,
    ATTESTATION,
    AUDIENCES,
    CLAIMS,
    KINDS,
    MEMBER_PROFILE,
    OPPORTUNITY,
    OPPORTUNITY_STATUSES,
    ORG_PROFILE,
    OUTCOMES,
    RELATIONS,
    REPLY,
    RETRACT,
    TOURS,
)
from protocol.record import Record
from protocol.validate import EARLIEST_CREATED_MS, validate

MAX_SAFE = 2**53 - 1
DAY_MS = 86_400_000
CREATED = EARLIEST_CREATED_MS + 366 * DAY_MS  # 2021-01-01, long before the vectors' clock

# keys for generated records; the co-signing flow uses the vectors' own keys
PARTIES = tuple(SigningKey.from_seed(bytes([n]) * 32) for n in range(1, 5))


def _keys(vectors: dict) -> dict[str, SigningKey]:
    return {
        name: SigningKey.from_seed(bytes.fromhex(entry["seed_hex"]))
        for name, entry in vectors["protocol"]["keys"].items()
    }


def _json_round_trip(record: Record) -> Record:
    return from_json(json.loads(json.dumps(to_json(record))))


# --- ids bind the content --------------------------------------------------------------------


@settings(max_examples=250, deadline=None)
@given(st.data())
def test_single_byte_change_is_refused_or_is_another_record(
    valid_vector: dict, vector_now_ms: int, data: st.DataObject
) -> None:
    wire = bytes.fromhex(valid_vector["record_hex"])
    position = data.draw(st.integers(0, len(wire) - 1), label="position")
    value = data.draw(st.integers(0, 255).filter(lambda b: b != wire[position]), label="value")
    changed = wire[:position] + bytes([value]) + wire[position + 1 :]
    try:
        record = validate(changed, vector_now_ms)
    except Rejected:
        return
    assert record.id.hex() != valid_vector["id"]
    assert record.wire == changed != wire


def test_every_single_bit_flip_is_refused(valid_vector: dict, vector_now_ms: int) -> None:
    wire = bytes.fromhex(valid_vector["record_hex"])
    assert validate(wire, vector_now_ms).id.hex() == valid_vector["id"]
    for position in range(len(wire)):
        for bit in (0, 7):
            changed = bytearray(wire)
            changed[position] ^= 1 << bit
            with pytest.raises(Rejected):
                validate(bytes(changed), vector_now_ms)


def test_id_is_the_hash_of_the_signing_input(valid_vector: dict, vector_now_ms: int) -> None:
    wire = bytes.fromhex(valid_vector["record_hex"])
    record = validate(wire, vector_now_ms)
    core = {k: v for k, v in decode(wire).items() if k != "sigs"}
    assert record.signing_input == b"rakuichi-record-v1\x00" + encode(core)
    assert sha256(record.signing_input).hex() == valid_vector["id"]
    unsigned = Record.build(record.kind, record.author, record.created, record.body, ())
    assert unsigned.id == record.id  # signatures are not part of the id
    assert unsigned.wire != record.wire


# --- the co-signing flow of an alliance ------------------------------------------------------


def _alliance_body(member: bytes, **extra: Any) -> dict[str, Any]:
    return {
        "member": member,
        "tour": "transformational",
        "mission": "Ship the sync layer",
        "starts": CREATED + DAY_MS,
        "alumni": True,
        **extra,
    }


def test_alliance_draft_flow(vectors: dict, vector_now_ms: int) -> None:
    assert vector_now_ms > CREATED
    keys = _keys(vectors)
    org, member = keys["org"], keys["member"]
    org_raw, member_raw = org.public_key.raw, member.public_key.raw
    draft = Draft.new(ALLIANCE, org_raw, CREATED, _alliance_body(member_raw))
    assert draft.required_signers == {org_raw, member_raw}
    assert draft.missing_signers == {org_raw, member_raw}

    signed_by_org = draft.sign(org)
    assert signed_by_org.missing_signers == {member_raw}
    assert signed_by_org.id == draft.id
    with pytest.raises(IncompleteRecord, match=re.escape(member.public_key.did)) as info:
        signed_by_org.finish()
    assert org.public_key.did not in str(info.value)
    assert info.value.klass == "signature"

    partial = signed_by_org.wire  # what the organisation's node serves to the member
    with pytest.raises(SignatureError):
        validate(partial, vector_now_ms)  # not a record yet: the member has not signed

    received = Draft.from_wire(partial)
    assert received.id == draft.id
    assert received.missing_signers == {member_raw}
    record = received.sign(member).finish()
    assert record.id == draft.id
    accepted = validate(record.wire, vector_now_ms)
    assert accepted.id == draft.id
    assert set(accepted.signers) == {org_raw, member_raw}

    # signing order does not matter: Ed25519 is deterministic and sigs are sorted
    other_order = draft.sign(member).sign(org).finish()
    assert other_order.wire == record.wire
    # a signature made elsewhere can be added after verification
    added = signed_by_org.add_signature(member_raw, member.sign(draft.signing_input)).finish()
    assert added.wire == record.wire


def test_signing_by_a_non_party_is_refused(vectors: dict, vector_now_ms: int) -> None:
    keys = _keys(vectors)
    org, member, eve = keys["org"], keys["member"], keys["eve"]
    draft = Draft.new(
        ALLIANCE, org.public_key.raw, CREATED, _alliance_body(member.public_key.raw)
    ).sign(org)
    with pytest.raises(Rejected):
        draft.sign(eve)
    eve_signature = eve.sign(draft.signing_input)
    with pytest.raises(SignatureError):
        draft.add_signature(eve.public_key.raw, eve_signature)
    # eve's signature in the member's place, on the wire
    forged = Record.build(
        ALLIANCE,
        org.public_key.raw,
        CREATED,
        draft.body,
        [*draft.sigs, (eve.public_key.raw, eve_signature)],
    )
    with pytest.raises(SignatureError):
        Draft.from_wire(forged.wire)
    with pytest.raises(Rejected) as info:
        validate(forged.wire, vector_now_ms)
    assert info.value.klass == "signature"
    # and as an extra signer next to both parties
    complete = draft.sign(member)
    extra = Record.build(
        ALLIANCE,
        org.public_key.raw,
        CREATED,
        draft.body,
        [*complete.sigs, (eve.public_key.raw, eve_signature)],
    )
    with pytest.raises(Rejected) as info:
        validate(extra.wire, vector_now_ms)
    assert info.value.klass == "signature"
    # on a single-signer kind, nobody but the author signs
    with pytest.raises(Rejected):
        Draft.new(ORG_PROFILE, org.public_key.raw, CREATED, {"name": "Org"}).sign(member)


@pytest.mark.parametrize(
    "change",
    [
        {"mission": "Something else entirely"},
        {"terms": sha256(b"the other terms document")},
        {"alumni": False},
        {"tour": "rotational"},
    ],
    ids=lambda c: next(iter(c)),
)
def test_cosignature_over_different_terms_is_refused(
    change: dict[str, Any], vectors: dict, vector_now_ms: int
) -> None:
    keys = _keys(vectors)
    org, member = keys["org"], keys["member"]
    body = _alliance_body(member.public_key.raw, terms=sha256(b"the agreed terms document"))
    draft = Draft.new(ALLIANCE, org.public_key.raw, CREATED, body).sign(org)
    other = Draft.new(ALLIANCE, org.public_key.raw, CREATED, {**body, **change})
    assert other.id != draft.id
    member_signature = member.sign(other.signing_input)  # the member agreed to other terms
    with pytest.raises(SignatureError):
        draft.add_signature(member.public_key.raw, member_signature)
    spliced = Record.build(
        ALLIANCE,
        org.public_key.raw,
        CREATED,
        body,
        [*draft.sigs, (member.public_key.raw, member_signature)],
    )
    with pytest.raises(SignatureError):
        Draft.from_wire(spliced.wire)
    with pytest.raises(Rejected) as info:
        validate(spliced.wire, vector_now_ms)
    assert info.value.klass == "signature"


def test_alliance_with_oneself_is_refused(vectors: dict) -> None:
    org = _keys(vectors)["org"]
    with pytest.raises(SchemaError):
        Draft.new(ALLIANCE, org.public_key.raw, CREATED, _alliance_body(org.public_key.raw))


# --- unknown kinds ---------------------------------------------------------------------------

unknown_kinds = st.from_regex(r"[a-z][a-z0-9.-]{0,63}", fullmatch=True).filter(
    lambda k: k not in KINDS
)

scalars = st.one_of(
    st.integers(-MAX_SAFE, MAX_SAFE), st.booleans(), st.text(max_size=20), st.binary(max_size=40)
)
# "$hex" keys are what the JSON view uses for bytes in unknown kinds: they must survive too
map_keys = st.one_of(st.text(max_size=6), st.sampled_from(["$hex", "$", "$$hex", "$x"]))


def _nested(levels: int) -> st.SearchStrategy[Any]:
    if levels == 0:
        return scalars
    inner = _nested(levels - 1)
    return st.one_of(
        scalars, st.lists(inner, max_size=3), st.dictionaries(map_keys, inner, max_size=3)
    )


# the body is one level below the record; seven more fit under the nesting limit of eight
unknown_bodies = st.dictionaries(map_keys, _nested(7), max_size=5)


@settings(max_examples=150, deadline=None)
@given(
    kind=unknown_kinds,
    body=unknown_bodies,
    author=st.sampled_from(PARTIES),
    created=st.integers(EARLIEST_CREATED_MS, CREATED),
)
def test_unknown_kinds_round_trip(
    kind: str, body: dict[str, Any], author: SigningKey, created: int, vector_now_ms: int
) -> None:
    record = sign_record(author, kind, created, body)
    assert not record.is_known_kind
    accepted = validate(record.wire, vector_now_ms)
    assert accepted.id == record.id
    assert accepted.wire == record.wire
    assert accepted.kind == kind
    assert accepted.body == body
    assert accepted.signers == (author.public_key.raw,)
    assert Draft.from_wire(record.wire).finish().wire == record.wire
    assert _json_round_trip(record).wire == record.wire


def test_unknown_kind_needs_the_author_alone(vector_now_ms: int) -> None:
    author, other = PARTIES[0], PARTIES[1]
    draft = Draft.new(
        "x.anything", author.public_key.raw, CREATED, {"member": other.public_key.raw}
    )
    assert draft.required_signers == {author.public_key.raw}
    with pytest.raises(Rejected):
        draft.sign(other)
    both = Record.build(
        "x.anything",
        author.public_key.raw,
        CREATED,
        draft.body,
        [*draft.sign(author).sigs, (other.public_key.raw, other.sign(draft.signing_input))],
    )
    with pytest.raises(Rejected) as info:
        validate(both.wire, vector_now_ms)
    assert info.value.klass == "signature"


# --- the JSON view ---------------------------------------------------------------------------


def test_json_view_of_every_valid_vector_maps_back(valid_vector: dict, vector_now_ms: int) -> None:
    record = validate(bytes.fromhex(valid_vector["record_hex"]), vector_now_ms)
    view = json.loads(json.dumps(to_json(record)))
    assert view["id"] == valid_vector["id"]
    assert view["author"] == did_from_raw(record.author)
    back = from_json(view)
    assert back.wire == record.wire
    assert back.id == record.id
    assert validate(back.wire, vector_now_ms).id.hex() == valid_vector["id"]


def test_json_view_with_a_wrong_id_is_refused(valid_vector: dict, vector_now_ms: int) -> None:
    record = validate(bytes.fromhex(valid_vector["record_hex"]), vector_now_ms)
    view = json.loads(json.dumps(to_json(record)))
    wrong = dict(view, id=format(int(view["id"], 16) ^ 1, "064x"))
    with pytest.raises(SchemaError):
        from_json(wrong)
    with pytest.raises(SchemaError):
        from_json(dict(view, id=view["id"].upper()))
    with pytest.raises(SchemaError):
        from_json(dict(view, created=view["created"] + 1))  # content changed, id kept


def test_json_view_that_is_no_record_is_refused(vectors: dict) -> None:
    view = to_json(sign_record(PARTIES[0], MEMBER_PROFILE, CREATED, {"name": "M"}))
    for broken in (
        {k: v for k, v in view.items() if k != "author"},
        dict(view, author="did:key:zNotAKey"),
        dict(view, sigs=[{"signer": view["author"], "sig": "zz"}]),
        dict(view, sigs=None),
    ):
        with pytest.raises(SchemaError):
            from_json(broken)


# generated records of every known kind


def _text(max_chars: int) -> st.SearchStrategy[str]:
    return st.text(min_size=1, max_size=min(max_chars, 24))


millis = st.integers(0, MAX_SAFE)
ids = st.binary(min_size=32, max_size=32)
party_keys = st.sampled_from([k.public_key.raw for k in PARTIES])


@st.composite
def known_records(draw: st.DrawFn, kind: str) -> tuple[str, SigningKey, dict[str, Any], tuple]:
    author, counterpart = draw(st.permutations(PARTIES))[:2]
    other = counterpart.public_key.raw
    cosigners: tuple[SigningKey, ...] = ()
    if kind == ORG_PROFILE:
        url = st.builds(
            lambda scheme, rest: scheme + rest,
            st.sampled_from(["http://", "https://"]),
            _text(1990),
        )
        node = st.fixed_dictionaries({"url": url, "key": party_keys})
        body = draw(
            st.fixed_dictionaries(
                {"name": _text(200)},
                optional={
                    "about": _text(4000),
                    "domain": _text(253),
                    "nodes": st.lists(node, max_size=16),
                },
            )
        )
    elif kind == MEMBER_PROFILE:
        body = draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "name": _text(200),
                    "about": _text(4000),
                    "skills": st.lists(_text(64), max_size=50),
                },
            )
        )
    elif kind == OPPORTUNITY:
        body = draw(
            st.fixed_dictionaries(
                {
                    "slug": st.from_regex(r"[a-z0-9][a-z0-9-]{0,63}", fullmatch=True),
                    "title": _text(200),
                    "tour": st.sampled_from(TOURS),
                    "status": st.sampled_from(OPPORTUNITY_STATUSES),
                },
                optional={
                    "summary": _text(8000),
                    "skills": st.lists(_text(64), max_size=32),
                    "location": _text(200),
                    "remote": st.booleans(),
                    "starts": millis,
                    "weeks": st.integers(1, 520),
                    "compensation": _text(200),
                    "audience": st.sampled_from(AUDIENCES),
                },
            )
        )
    elif kind == ALLIANCE:
        body = draw(
            st.fixed_dictionaries(
                {
                    "member": st.just(other),
                    "tour": st.sampled_from(TOURS),
                    "mission": _text(4000),
                    "starts": millis,
                    "alumni": st.booleans(),
                },
                optional={
                    "ends": millis,
                    "opportunity": ids,
                    "org_commits": st.lists(_text(500), max_size=32),
                    "member_commits": st.lists(_text(500), max_size=32),
                    "terms": ids,
                    "relation": st.sampled_from(RELATIONS),
                },
            )
        )
        cosigners = (counterpart,)
    elif kind == ALLIANCE_END:
        body = draw(
            st.fixed_dictionaries(
                {"alliance": ids, "outcome": st.sampled_from(OUTCOMES)},
                optional={"note": _text(2000)},
            )
        )
    elif kind == ATTESTATION:
        claim = draw(st.sampled_from(CLAIMS))
        required: dict[str, Any] = {"subject": st.just(other), "claim": st.just(claim)}
        optional: dict[str, Any] = {
            "alliance": ids,
            "skill": _text(64),
            "level": st.integers(1, 5),
            "score": st.integers(1, 5),
            "text": _text(4000),
            "expires": millis,
        }
        for needed in {"skill": ["skill"], "rating": ["score"]}.get(claim, []):
            required[needed] = optional.pop(needed)
        body = draw(st.fixed_dictionaries(required, optional=optional))
    elif kind == RETRACT:
        body = draw(st.fixed_dictionaries({"target": ids}, optional={"reason": _text(500)}))
    elif kind == REPLY:
        body = draw(st.fixed_dictionaries({"target": ids, "text": _text(4000)}))
    elif kind in (KEY_INCEPTION, KEY_ROTATION):  # revision 3 proposal
        third = draw(st.sampled_from([k for k in PARTIES if k not in (author, counterpart)]))
        identity = author.public_key.raw if kind == KEY_INCEPTION else third.public_key.raw
        seq = 0 if kind == KEY_INCEPTION else draw(st.integers(1, MAX_SEQ))
        required = {
            "key": st.just(other),
            "key_sig": st.just(counterpart.sign(consent_message(identity, seq))),
            "next": ids,
        }
        if kind == KEY_ROTATION:
            required.update(identity=st.just(identity), seq=st.just(seq), prior=ids)
        body = draw(st.fixed_dictionaries(required, optional={"cutoff": millis}))
    else:  # pragma: no cover - a kind added to KINDS without a strategy here
        raise AssertionError(f"no strategy for kind {kind}")
    return kind, author, body, cosigners


def test_every_known_kind_has_a_generator() -> None:
    covered = {
        ORG_PROFILE,
        MEMBER_PROFILE,
        OPPORTUNITY,
        ALLIANCE,
        ALLIANCE_END,
        ATTESTATION,
        RETRACT,
        REPLY,
        KEY_INCEPTION,
        KEY_ROTATION,
    }
    assert covered == set(KINDS)


@pytest.mark.parametrize("kind", sorted(KINDS))
@settings(max_examples=40, deadline=None)
@given(data=st.data(), created=st.integers(EARLIEST_CREATED_MS, CREATED))
def test_json_view_of_generated_records_maps_back(
    kind: str, data: st.DataObject, created: int, vector_now_ms: int
) -> None:
    _, author, body, cosigners = data.draw(known_records(kind), label="record")
    draft = Draft.new(kind, author.public_key.raw, created, body)
    for key in (author, *cosigners):
        draft = draft.sign(key)
    record = draft.finish()
    assert validate(record.wire, vector_now_ms).id == record.id
    view = json.loads(json.dumps(to_json(record)))
    assert view["kind"] == kind
    assert view["id"] == record.id.hex()
    back = from_json(view)
    assert back.wire == record.wire
    assert back.id == record.id
    assert back.body == record.body
