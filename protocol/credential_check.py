"""Checking a Verifiable Credential offline: did:key resolved locally, the eddsa-jcs-2022 proof,
the validity period, and — when the credential names a Rakuichi record — that the record says
the same (the credential is rebuilt from the record and must be identical).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from crypto import CryptoError
from crypto.dataintegrity import DATE_TIME, verify_proof
from protocol import kinds
from protocol.credential import (
    RECORD_EVIDENCE,
    RECORD_URN,
    VC_CONTEXT,
    unsigned_credential,
    wire_from_multibase,
)
from protocol.errors import Rejected
from protocol.record import Record
from protocol.validate import validate


class CredentialError(Exception):
    """A credential that does not check; the message names what is wrong."""


@dataclass(frozen=True, slots=True)
class CredentialReport:
    """What a credential that checks says, and whether it holds at the time of asking."""

    issuer: str
    subject: str | None
    types: tuple[str, ...]
    valid_from: int | None
    valid_until: int | None
    state: str  # "valid", "expired" or "not yet valid"
    record: Record | None

    @property
    def ok(self) -> bool:
        return self.state == "valid"


def _ms(document: dict[str, Any], name: str) -> int | None:
    value = document.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not DATE_TIME.fullmatch(value):
        raise CredentialError(f"{name} is not an XML Schema dateTimeStamp: {value!r:.80}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise CredentialError(f"{name} is not a date-time: {value!r:.80}") from None
    return int(moment.timestamp() * 1000)


def _issuer(document: dict[str, Any]) -> str:
    issuer = document.get("issuer")
    if isinstance(issuer, dict):
        issuer = issuer.get("id")
    if not isinstance(issuer, str):
        raise CredentialError("issuer is neither a URL nor an object with an id")
    return issuer


def _record_evidence(document: dict[str, Any]) -> dict[str, Any] | None:
    evidence = document.get("evidence", [])
    items = evidence if isinstance(evidence, list) else [evidence]
    for item in items:
        if isinstance(item, dict) and RECORD_EVIDENCE in (item.get("type") or []):
            return item
    return None


def _check_record(document: dict[str, Any], wire: bytes, now_ms: int) -> Record:
    try:
        record = validate(wire, now_ms)
    except Rejected as exc:
        raise CredentialError(f"the Rakuichi record it names does not check: {exc}") from None
    if record.kind != kinds.ATTESTATION:
        raise CredentialError(f"the Rakuichi record it names is a {record.kind}")
    if document.get("id") != RECORD_URN + record.id.hex():
        raise CredentialError("the credential's id is not the record's")
    contexts = document.get("@context")
    context = contexts[-1] if isinstance(contexts, list) and contexts else ""
    unsigned = {k: v for k, v in document.items() if k != "proof"}
    if unsigned_credential(record, str(context)) != unsigned:
        raise CredentialError(
            f"the credential does not say what record {record.id.hex()} says "
            "(rebuilt from the record, it differs)"
        )
    return record


def check_credential(
    document: Any, now_ms: int, record_wire: bytes | None = None
) -> CredentialReport:
    """Check ``document`` at ``now_ms``; raise ``CredentialError`` naming what is wrong.

    ``record_wire``, when given, is a Rakuichi record that the credential must be built
    from (its id is the credential's); otherwise the record carried in ``evidence`` is used.
    An expired credential (``validUntil`` ≤ now) or one not valid yet checks, but its report's
    state says so.
    """
    if not isinstance(document, dict):
        raise CredentialError("a credential is a JSON object")
    contexts = document.get("@context")
    if not isinstance(contexts, list) or not contexts or contexts[0] != VC_CONTEXT:
        raise CredentialError(f"@context does not begin with {VC_CONTEXT}")
    types = document.get("type")
    if not isinstance(types, list) or "VerifiableCredential" not in types:
        raise CredentialError("type does not include VerifiableCredential")
    try:
        key = verify_proof(document)
    except CryptoError as exc:
        raise CredentialError(f"proof: {exc}") from None
    issuer = _issuer(document)
    if issuer != key.did:
        raise CredentialError(f"the proof is by {key.did}, not by the issuer {issuer}")
    valid_from, valid_until = _ms(document, "validFrom"), _ms(document, "validUntil")
    record: Record | None = None
    evidence = _record_evidence(document)
    if record_wire is None and evidence is not None:
        try:
            multibase: Any = evidence.get("recordWire")  # checked by wire_from_multibase
            record_wire = wire_from_multibase(multibase)
        except (ValueError, TypeError) as exc:
            raise CredentialError(f"evidence recordWire: {exc}") from None
    if record_wire is not None:
        record = _check_record(document, record_wire, now_ms)
    state = "valid"
    if valid_until is not None and valid_until <= now_ms:
        state = "expired"
    elif valid_from is not None and valid_from > now_ms:
        state = "not yet valid"
    subject = document.get("credentialSubject")
    subject_id = subject.get("id") if isinstance(subject, dict) else None
    return CredentialReport(
        issuer=issuer,
        subject=subject_id if isinstance(subject_id, str) else None,
        types=tuple(str(t) for t in types),
        valid_from=valid_from,
        valid_until=valid_until,
        state=state,
        record=record,
    )
