"""Bundles verify each record against the key valid when it was signed, from the key events
the bundle carries (revision 3 proposal)."""

from __future__ import annotations

import json

from protocol.bundle import KEY_CLASS, verify_bundle, write_bundle
from tests.protocol.test_identityviews import (
    ALLIANCE_1,
    ATTEST_NEW,
    ATTEST_OLD,
    END_1,
    ICP,
    M_ICP,
    M_ROT1,
    MI,
    MS0,
    NOW,
    ROT1,
    ROT2,
    T,
    attest,
    raw,
)

KEY_EVENTS = [ICP, ROT1, ROT2, M_ICP, M_ROT1]


def test_attestations_before_and_after_rotations_verify_offline() -> None:
    bundle = write_bundle(raw(MI), [ALLIANCE_1, END_1, ATTEST_OLD, ATTEST_NEW, *KEY_EVENTS])
    report = verify_bundle(bundle, NOW)
    assert report.ok, [r.describe() for r in report.refused]
    assert report.reputation is not None and report.reputation.subject == raw(MI)
    assert {e.id for e in report.reputation.attestations} == {ATTEST_OLD.id, ATTEST_NEW.id}
    assert report.reputation.summary[("skill", "go")].issuers == 1


def test_bundle_named_by_a_signing_key_answers_for_the_identity() -> None:
    bundle = write_bundle(raw(MS0), [ALLIANCE_1, ATTEST_OLD, *KEY_EVENTS])
    report = verify_bundle(bundle, NOW)
    assert report.ok and report.reputation is not None
    assert report.reputation.subject == raw(MI)


def test_a_record_signed_by_a_retired_key_refuses_the_bundle() -> None:
    late = attest(MS0, ICP.author, T + 400_000, ALLIANCE_1)  # MS0 retired at T+150_000
    report = verify_bundle(write_bundle(raw(MI), [ALLIANCE_1, late, *KEY_EVENTS]), NOW)
    assert not report.ok and report.reputation is None
    assert [(r.id, r.klass) for r in report.refused] == [(late.id, KEY_CLASS)]
    assert json.loads(json.dumps(report.to_json()))["refused"][0]["class"] == "key"


def test_without_the_rotation_the_new_keys_records_are_someone_elses() -> None:
    """A bundle that drops the member's rotation cannot pass ATTEST_NEW off as about them:
    its subject then names a plain key of its own."""
    bundle = write_bundle(raw(MI), [ALLIANCE_1, ATTEST_OLD, ATTEST_NEW, ICP, ROT1, ROT2, M_ICP])
    report = verify_bundle(bundle, NOW)
    assert report.ok and report.reputation is not None
    assert {e.id for e in report.reputation.attestations} == {ATTEST_OLD.id}
