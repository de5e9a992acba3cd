"""Portable bundles (protocol/bundle.py): checked offline, all or nothing, tampering named."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import did_from_raw
from protocol.bundle import BundleError, BundleReport, read_bundle, verify_bundle, write_bundle
from protocol.jsonview import to_json
from protocol.record import Record
from protocol.reputation import ClaimSummary
from protocol.validate import parse
from tests.support.records import (
    Cast,
    alliance,
    alliance_end,
    attestation,
    member_profile,
    org_profile,
    raw,
    retract,
)

T0 = 1_700_000_000_000
NOW = T0 + 86_400_000
CAST = Cast.seeded("bundle")
PACT = alliance(CAST.org, CAST.member, T0)  # org <-> member
PACT_B = alliance(CAST.org_b, CAST.member, T0 + 1, alumni=False)  # org_b <-> member
ENDED = alliance_end(CAST.org, PACT, T0 + 2)
ENDED_B = alliance_end(CAST.member, PACT_B, T0 + 3)  # tour.completed needs its completed end
PROFILES = [
    org_profile(CAST.org, T0, "Aurora Labs"),
    org_profile(CAST.org_b, T0, "Birchwood"),
    member_profile(CAST.member, T0, "Aiko"),
]
SKILL_A = attestation(CAST.org, CAST.member, T0 + 10, "skill", PACT, skill="ux", level=4)
SKILL_B = attestation(CAST.org_b, CAST.member, T0 + 11, "skill", PACT_B, skill="ux", level=2)
RATING = attestation(CAST.org, CAST.member, T0 + 12, "rating", PACT, score=5)
DONE = attestation(CAST.org_b, CAST.member, T0 + 13, "tour.completed", PACT_B)
ATTESTATIONS = [SKILL_A, SKILL_B, RATING, DONE]
SUPPORT = [PACT, PACT_B, ENDED, ENDED_B, *PROFILES]


def bundle(records: list[Record], subject: bytes | None = None) -> bytes:
    return write_bundle(subject or raw(CAST.member), records)


def check(records: list[Record]) -> BundleReport:
    return verify_bundle(bundle(records), NOW)


def with_wire(data: bytes, position: int, wire: bytes) -> bytes:
    """The bundle ``data`` with its record #position (from 1) replaced by ``wire``."""
    doc = json.loads(data)
    doc["records"][position - 1] = wire.hex()
    return json.dumps(doc).encode()


def position_of(data: bytes, record: Record) -> int:
    return [e["wire"] for e in json.loads(data)["records"]].index(record.wire.hex()) + 1


def assert_refused_only(
    report: BundleReport, position: int, kind: str | None, rid: bytes | None, klass: str
) -> None:
    assert not report.ok and report.reputation is None  # nothing of the bundle counts
    assert [(r.position, r.kind, r.id, r.klass) for r in report.refused] == [
        (position, kind, rid, klass)
    ]
    described = report.refused[0].describe()
    assert f"record #{position}" in described and klass in described
    if kind is not None and rid is not None:
        assert kind in described and rid.hex() in described
    assert report.to_json()["reputation"] is None


def test_grounded_attestations_verify_with_the_right_summary() -> None:
    report = check([*ATTESTATIONS, *SUPPORT])
    assert report.ok and report.refused == ()
    assert report.records == len(ATTESTATIONS) + len(SUPPORT)
    rep = report.reputation
    assert rep is not None and rep.subject == raw(CAST.member)
    assert [(e.id, e.state) for e in rep.attestations] == [(r.id, "grounded") for r in ATTESTATIONS]
    assert rep.ungrounded == ()
    assert rep.summary == {
        ("skill", "ux"): ClaimSummary(
            "skill", "ux", count=2, issuers=2, level_max=4, level_sum=6, level_count=2
        ),
        ("rating", None): ClaimSummary(
            "rating", None, count=1, issuers=1, score_sum=5, score_count=1
        ),
        ("tour.completed", None): ClaimSummary("tour.completed", None, count=1, issuers=1),
    }
    assert report.issuer_names == {
        raw(CAST.org): "Aurora Labs",
        raw(CAST.org_b): "Birchwood",
        raw(CAST.member): "Aiko",
    }
    view = report.to_json()
    assert view["ok"] is True and view["subject"] == did_from_raw(raw(CAST.member))
    assert json.loads(json.dumps(view)) == view


def test_an_attestation_without_its_alliance_is_listed_but_not_counted() -> None:
    report = check([SKILL_A, RATING, *PROFILES])  # the alliance they rest on is left out
    assert report.ok and report.reputation is not None
    assert {e.state for e in report.reputation.attestations} == {"ungrounded"}
    assert report.reputation.summary == {}


@pytest.mark.parametrize("chosen", [[SKILL_A], [RATING, DONE], [SKILL_B], []])
def test_selecting_fewer_attestations_keeps_it_verifiable(chosen: list[Record]) -> None:
    report = check([*chosen, *SUPPORT])
    assert report.ok and report.reputation is not None
    assert [e.id for e in report.reputation.attestations] == [r.id for r in chosen]
    counted = sum(s.count for s in report.reputation.summary.values())
    assert counted == len(chosen)


def test_write_then_read_round_trips_without_duplicates() -> None:
    data = bundle([*ATTESTATIONS, *SUPPORT, SKILL_A, PACT])
    subject, wires = read_bundle(data)
    assert subject == raw(CAST.member)
    assert sorted(wires) == sorted(r.wire for r in {*ATTESTATIONS, *SUPPORT})


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_any_changed_byte_of_any_record_is_refused_and_named(data: st.DataObject) -> None:
    original = bundle([*ATTESTATIONS, *SUPPORT])
    _, wires = read_bundle(original)
    position = data.draw(st.integers(1, len(wires)), label="record")
    wire = wires[position - 1]
    offset = data.draw(st.integers(0, len(wire) - 1), label="byte")
    delta = data.draw(st.integers(1, 255), label="xor")
    tampered = bytearray(wire)
    tampered[offset] ^= delta
    report = verify_bundle(with_wire(original, position, bytes(tampered)), NOW)
    assert not report.ok and report.reputation is None
    assert [r.position for r in report.refused] == [position]
    assert f"record #{position}" in report.refused[0].describe()


def test_a_dropped_co_signature_of_the_alliance_is_refused() -> None:
    data = bundle([*ATTESTATIONS, *SUPPORT])
    org_only = [s for s in PACT.sigs if s[0] == raw(CAST.org)]
    unsigned = Record.build(PACT.kind, PACT.author, PACT.created, PACT.body, org_only)
    assert unsigned.id == PACT.id  # the id does not cover signatures
    position = position_of(data, PACT)
    report = verify_bundle(with_wire(data, position, unsigned.wire), NOW)
    assert_refused_only(report, position, "alliance", PACT.id, "signature")
    assert "missing" in report.refused[0].detail


def test_an_attestation_about_another_key_under_the_same_signature_is_refused() -> None:
    data = bundle([*ATTESTATIONS, *SUPPORT])
    body: dict[str, Any] = {**SKILL_B.body, "subject": raw(CAST.member_b)}
    swapped = Record.build(SKILL_B.kind, SKILL_B.author, SKILL_B.created, body, SKILL_B.sigs)
    position = position_of(data, SKILL_B)
    report = verify_bundle(with_wire(data, position, swapped.wire), NOW)
    assert_refused_only(report, position, "attestation", swapped.id, "signature")


def test_several_refused_records_are_all_named() -> None:
    data = bundle([*ATTESTATIONS, *SUPPORT])
    doc = json.loads(data)
    doc["records"][0] = "00"
    last = doc["records"][-1]["wire"]
    doc["records"][-1]["wire"] = last[:-2] + ("00" if last[-2:] != "00" else "01")
    report = verify_bundle(json.dumps(doc).encode(), NOW)
    assert [r.position for r in report.refused] == [1, len(doc["records"])]
    assert report.reputation is None


def test_a_record_from_the_future_is_refused() -> None:
    late = attestation(CAST.org, CAST.member, NOW + 3_600_000, "skill", PACT, skill="go")
    data = bundle([*SUPPORT, late])
    report = verify_bundle(data, NOW)
    assert_refused_only(report, position_of(data, late), "attestation", late.id, "time")


def test_a_retract_held_with_its_attestation_shows_it_retracted() -> None:
    undo = retract(CAST.org, RATING, T0 + 20, reason="issued in error")
    report = check([*ATTESTATIONS, *SUPPORT, undo])
    assert report.ok and report.reputation is not None
    states = {e.id: e.state for e in report.reputation.attestations}
    assert states[RATING.id] == "retracted"
    assert ("rating", None) not in report.reputation.summary
    gone = next(e for e in report.reputation.attestations if e.id == RATING.id)
    assert gone.record is None and gone.issuer == raw(CAST.org)


def test_a_retract_without_its_erased_target_is_reported_retracted() -> None:
    """What a node exports once it erased the target: the retract alone stands for it."""
    undo = retract(CAST.org, RATING, T0 + 20)
    report = check([SKILL_A, *SUPPORT, undo])
    assert report.ok and report.reputation is not None
    assert report.retracted == ((RATING.id, raw(CAST.org)),)
    assert report.to_json()["retracted"] == [
        {"id": RATING.id.hex(), "issuer": did_from_raw(raw(CAST.org))}
    ]
    assert [e.id for e in report.reputation.attestations] == [SKILL_A.id]


def test_a_retract_by_someone_else_has_no_effect() -> None:
    forged = retract(CAST.outsider, RATING, T0 + 20)
    report = check([*ATTESTATIONS, *SUPPORT, forged])
    assert report.ok and report.reputation is not None
    assert {e.state for e in report.reputation.attestations} == {"grounded"}


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not json",
        b"\xff\xfe",
        b"[]",
        b'"rakuichi"',
        b'{"records": []}',
        b'{"rakuichi_bundle": 2, "subject": "did:key:z6Mk", "records": []}',
        b'{"rakuichi_bundle": 1, "subject": "did:web:example.com", "records": []}',
        b'{"rakuichi_bundle": 1, "records": []}',
    ],
)
def test_not_a_bundle_raises(data: bytes) -> None:
    with pytest.raises(BundleError):
        verify_bundle(data, NOW)


@pytest.mark.parametrize("records", [{"a": 1}, "abcd", ["zz"], [1], [None]])
def test_a_bundle_with_malformed_records_raises(records: Any) -> None:
    doc = {"rakuichi_bundle": 1, "subject": did_from_raw(raw(CAST.member)), "records": records}
    with pytest.raises(BundleError):
        verify_bundle(json.dumps(doc).encode(), NOW)


def test_each_record_carries_its_json_view() -> None:
    data = bundle([*ATTESTATIONS, *SUPPORT])
    doc = json.loads(data)
    assert doc["rakuichi_bundle"] == 2
    for entry in doc["records"]:
        record = parse(bytes.fromhex(entry["wire"]))
        assert entry["view"] == to_json(record)


def test_a_view_that_says_something_else_is_refused() -> None:
    data = bundle([*ATTESTATIONS, *SUPPORT])
    doc = json.loads(data)
    position = position_of(data, SKILL_A)
    doc["records"][position - 1]["view"]["body"]["level"] = 1  # the wire says 4
    report = verify_bundle(json.dumps(doc).encode(), NOW)
    assert_refused_only(report, position, "attestation", SKILL_A.id, "view")


def test_format_1_without_views_is_still_read() -> None:
    records = sorted([*ATTESTATIONS, *SUPPORT], key=lambda r: (r.created, r.id))
    legacy = {
        "rakuichi_bundle": 1,
        "subject": did_from_raw(raw(CAST.member)),
        "records": [r.wire.hex() for r in records],
    }
    report = verify_bundle(json.dumps(legacy).encode(), NOW)
    assert report.ok and report.records == len(records)
