"""Attestations as W3C credentials: the document, determinism, the offline check, tampering."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crypto.dataintegrity import canonicalize
from protocol.credential import (
    OB_CONTEXT,
    VC_CONTEXT,
    NotIssuable,
    context_url,
    iso_utc,
    issue_credential,
    unsigned_credential,
)
from protocol.credential_check import CredentialError, check_credential
from tests.support.records import Cast, alliance, attestation, org_profile

T0 = 1_796_000_000_000  # 2026-12-01T...
CTX = context_url("http://127.0.0.1:8470/")
CAST = Cast.seeded("credentials")
AGREED = alliance(CAST.org, CAST.member, T0)


def test_dates_are_utc_with_milliseconds_only_when_not_zero() -> None:
    assert iso_utc(1_796_094_887_000) == "2026-12-01T03:14:47Z"
    assert iso_utc(1_796_094_887_120) == "2026-12-01T03:14:47.120Z"
    assert iso_utc(0) == "1970-01-01T00:00:00Z"


def test_a_skill_credential_says_what_the_record_says() -> None:
    record = attestation(
        CAST.org, CAST.member, T0 + 5, "skill", AGREED, skill="python", level=4,
        text="Led the migration.", expires=T0 + 86_400_000,
    )  # fmt: skip
    vc = issue_credential(record, CAST.org, CTX)
    assert vc["@context"] == [VC_CONTEXT, CTX]
    assert vc["type"] == ["VerifiableCredential", "RakuichiAttestation"]
    assert vc["issuer"] == CAST.org.public_key.did
    assert vc["validFrom"] == iso_utc(T0 + 5)
    assert vc["validUntil"] == iso_utc(T0 + 86_400_000)
    assert vc["credentialSubject"] == {
        "id": CAST.member.public_key.did,
        "claim": "skill",
        "skill": "python",
        "level": 4,
        "text": "Led the migration.",
    }
    assert [e["id"] for e in vc["evidence"]] == [
        f"urn:rakuichi:record:{record.id.hex()}",
        f"urn:rakuichi:record:{AGREED.id.hex()}",
    ]
    assert vc["proof"]["cryptosuite"] == "eddsa-jcs-2022"
    assert vc["proof"]["created"] == vc["validFrom"]
    report = check_credential(vc, T0 + 10)
    assert report.ok and report.record == record
    assert report.issuer == CAST.org.public_key.did
    assert report.subject == CAST.member.public_key.did
    assert check_credential(vc, T0 + 86_400_000).state == "expired"
    assert check_credential(vc, T0).state == "not yet valid"


def test_tour_completed_is_an_open_badge() -> None:
    record = attestation(CAST.org, CAST.member, T0 + 5, "tour.completed", AGREED)
    vc = issue_credential(record, CAST.org, CTX)
    assert vc["@context"] == [VC_CONTEXT, OB_CONTEXT, CTX]
    assert vc["type"] == ["VerifiableCredential", "OpenBadgeCredential", "RakuichiAttestation"]
    assert vc["issuer"] == {"id": CAST.org.public_key.did, "type": ["Profile"]}
    subject = vc["credentialSubject"]
    assert subject["type"] == ["AchievementSubject"]
    achievement = subject["achievement"]
    assert achievement["type"] == ["Achievement"]
    assert {"id", "name", "description", "criteria"} <= set(achievement)
    assert all("Evidence" in e["type"] for e in vc["evidence"])
    assert check_credential(vc, T0 + 10).ok


def test_the_proof_is_deterministic() -> None:
    record = attestation(CAST.org, CAST.member, T0 + 5, "rating", AGREED, score=5)
    one, two = issue_credential(record, CAST.org, CTX), issue_credential(record, CAST.org, CTX)
    assert canonicalize(one) == canonicalize(two)


def test_only_attestations_by_the_signer_are_issued() -> None:
    with pytest.raises(NotIssuable, match=r"not a org\.profile"):
        unsigned_credential(org_profile(CAST.org, T0), CTX)
    record = attestation(CAST.org, CAST.member, T0 + 5, "rating", AGREED, score=5)
    with pytest.raises(NotIssuable, match="author"):
        issue_credential(record, CAST.member, CTX)


def test_a_credential_from_another_record_is_refused() -> None:
    one = attestation(CAST.org, CAST.member, T0 + 5, "skill", AGREED, skill="go")
    two = attestation(CAST.org, CAST.member, T0 + 6, "skill", AGREED, skill="rust")
    vc = issue_credential(one, CAST.org, CTX)
    with pytest.raises(CredentialError, match="id is not the record's"):
        check_credential(vc, T0 + 10, record_wire=two.wire)
    assert check_credential(vc, T0 + 10, record_wire=one.wire).record == one


def test_a_credential_signed_by_someone_else_is_refused() -> None:
    record = attestation(CAST.org, CAST.member, T0 + 5, "skill", AGREED, skill="go")
    from crypto.dataintegrity import add_proof

    forged = add_proof(unsigned_credential(record, CTX), CAST.outsider, iso_utc(T0 + 5))
    with pytest.raises(CredentialError, match="not by the issuer"):
        check_credential(forged, T0 + 10)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a scalar inside a JSON value."""
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _paths(v, (*prefix, k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _paths(v, (*prefix, i))]
    return [prefix]


def _changed(value: Any, salt: int) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1 + salt
    text = str(value)
    if not text:
        return "x"
    i = salt % len(text)
    swap = "2" if text[i] != "2" else "3"
    return text[:i] + swap + text[i + 1 :]


ISSUED = [
    issue_credential(
        attestation(CAST.org, CAST.member, T0 + 5, claim, AGREED, **extra), CAST.org, CTX
    )
    for claim, extra in (
        ("tour.completed", {}),
        ("skill", {"skill": "python", "level": 3, "expires": T0 + 99_000}),
        ("rating", {"score": 2, "text": "Good."}),
        ("recommendation", {"text": "Hire her."}),
    )
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(which=st.integers(0, len(ISSUED) - 1), pick=st.integers(0, 10_000), salt=st.integers(0, 50))
def test_any_change_to_a_credential_or_its_proof_fails(which: int, pick: int, salt: int) -> None:
    vc = copy.deepcopy(ISSUED[which])
    paths = _paths(vc)
    path = paths[pick % len(paths)]
    parent = vc
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = _changed(parent[path[-1]], salt)
    with pytest.raises(CredentialError):
        check_credential(vc, T0 + 10)


@settings(max_examples=40, deadline=None)
@given(which=st.integers(0, len(ISSUED) - 1), key=st.text(min_size=1, max_size=8))
def test_an_added_member_fails(which: int, key: str) -> None:
    vc = copy.deepcopy(ISSUED[which])
    target = vc if key in vc else vc["credentialSubject"]
    target[key + "-added"] = "x"
    with pytest.raises(CredentialError):
        check_credential(vc, T0 + 10)


def test_the_document_round_trips_through_json() -> None:
    for vc in ISSUED:
        assert check_credential(json.loads(json.dumps(vc)), T0 + 10).ok
