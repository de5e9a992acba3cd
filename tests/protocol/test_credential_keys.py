"""Credentials that carry the issuer's key history (revision 3 proposal, docs/protocol.md
section 15.9): issued by an identity, proved by any of its signing keys, checked offline."""

from __future__ import annotations

import copy

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crypto import SigningKey
from crypto.dataintegrity import add_proof, verify_proof
from protocol.credential import (
    KEY_EVENT_EVIDENCE,
    NotIssuable,
    context_url,
    iso_utc,
    issue_credential,
    unsigned_credential,
)
from protocol.credential_check import CredentialError, check_credential
from protocol.keyevents import inception, rotation
from tests.protocol.test_credential import _changed, _paths
from tests.support.records import Cast, alliance, attestation

T0 = 1_796_000_000_000
CTX = context_url("http://127.0.0.1:8470/")
FIRST, S0, R1, S1, R2 = (SigningKey.from_seed(bytes([0x30 + n]) * 32) for n in range(5))
MEMBER = Cast.seeded("credential-keys").member
ICP = inception(FIRST, S0, R1.public_key, T0 - 100_000, cutoff=0)
ROT1 = rotation(R1, S1, FIRST.public_key.raw, 1, ICP.id, R2.public_key, T0 + 50_000)
EVENTS = [ROT1, ICP]  # any order: the credential carries them by (created, id)
AGREED = alliance(S0, MEMBER, T0)
BEFORE = attestation(S0, MEMBER, T0 + 5_000, "skill", AGREED, skill="go")  # by the old key
AFTER = attestation(S1, MEMBER, T0 + 60_000, "skill", AGREED, skill="rust")  # by the new key
NOW = T0 + 100_000


def test_a_credential_made_after_the_rotation_verifies_by_the_identity() -> None:
    vc = issue_credential(BEFORE, S1, CTX, EVENTS)  # the old key is gone: the new one proves
    assert vc["issuer"] == FIRST.public_key.did
    assert vc["proof"]["verificationMethod"].startswith(S1.public_key.did + "#")
    assert vc["proof"]["created"] == iso_utc(ROT1.created)  # when S1 began to speak
    carried = [e for e in vc["evidence"] if KEY_EVENT_EVIDENCE in e["type"]]
    assert [e["id"] for e in carried] == [f"urn:rakuichi:record:{r.id.hex()}" for r in (ICP, ROT1)]
    report = check_credential(vc, NOW)
    assert report.ok and report.issuer == FIRST.public_key.did
    assert report.signed_by == S1.public_key.did and report.record == BEFORE
    assert set(report.key_events) == {ICP, ROT1}
    # a verifier that knows nothing of key events: a well-formed proof by the signing key
    assert verify_proof(copy.deepcopy(vc)).did == S1.public_key.did


def test_records_of_every_key_of_the_identity_are_issued() -> None:
    for record, key in ((BEFORE, S0), (AFTER, S1)):
        vc = issue_credential(record, key, CTX, EVENTS)
        assert vc["proof"]["created"] == iso_utc(record.created)
        report = check_credential(vc, NOW)
        assert report.issuer == FIRST.public_key.did and report.signed_by == key.public_key.did
    assert issue_credential(BEFORE, S1, CTX, EVENTS) == issue_credential(BEFORE, S1, CTX, EVENTS)


def test_keys_that_do_not_speak_for_the_identity_are_refused() -> None:
    late = attestation(S0, MEMBER, T0 + 70_000, "skill", AGREED, skill="c")  # S0 retired
    with pytest.raises(NotIssuable, match="speaks for no identity"):
        issue_credential(late, S1, CTX, EVENTS)
    with pytest.raises(NotIssuable, match="does not speak"):
        issue_credential(AFTER, S0, CTX, EVENTS)  # a retired key cannot prove
    with pytest.raises(NotIssuable, match="does not speak"):
        issue_credential(BEFORE, S1, CTX, [ICP])  # without the rotation S1 is nobody's
    # a proof by S1 dated before S1 began to speak
    early = add_proof(unsigned_credential(BEFORE, CTX, EVENTS), S1, iso_utc(BEFORE.created))
    with pytest.raises(CredentialError, match="does not speak for the issuer"):
        check_credential(early, NOW)
    # a proof by a stranger, with the identity's events carried
    stranger = add_proof(unsigned_credential(BEFORE, CTX, EVENTS), R2, iso_utc(ROT1.created))
    with pytest.raises(CredentialError, match="does not speak for the issuer"):
        check_credential(stranger, NOW)


def test_dropping_or_swapping_the_key_events_fails() -> None:
    vc = issue_credential(BEFORE, S1, CTX, EVENTS)
    without = copy.deepcopy(vc)
    without["evidence"] = [e for e in vc["evidence"] if KEY_EVENT_EVIDENCE not in e["type"]]
    with pytest.raises(CredentialError, match="signature does not verify"):  # proof covers them
        check_credential(without, NOW)
    # re-proved without them by S1: S1 is not the issuer's did:key
    reproved = add_proof(
        {k: v for k, v in without.items() if k != "proof"}, S1, iso_utc(ROT1.created)
    )
    with pytest.raises(CredentialError, match="not by the issuer"):
        check_credential(reproved, NOW)
    only_inception = copy.deepcopy(vc)
    only_inception["evidence"] = [e for e in vc["evidence"] if ROT1.id.hex() not in e["id"]]
    with pytest.raises(CredentialError):
        check_credential(only_inception, NOW)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pick=st.integers(0, 10_000), salt=st.integers(0, 50))
def test_any_change_fails(pick: int, salt: int) -> None:
    vc = issue_credential(BEFORE, S1, CTX, EVENTS)
    paths = _paths(vc)
    path = paths[pick % len(paths)]
    parent = vc
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = _changed(parent[path[-1]], salt)
    with pytest.raises(CredentialError):
        check_credential(vc, NOW)
