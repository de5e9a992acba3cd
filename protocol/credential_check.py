"""Checking a Verifiable Credential offline: did:key resolved locally, the eddsa-jcs-2022 proof,
the validity period, and — when the credential names a Rakuichi record — that the record says
the same (the credential is rebuilt from the record and must be identical).

A credential that carries key events (``RakuichiKeyEvent`` evidence: revision 3 proposal) is
issued by an identity: its proof's key must speak for the issuer at the proof's ``created`` by
the key history of the events carried, and the record's author at the record's ``created``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from crypto import CryptoError, InvalidDid, raw_from_did
from crypto.dataintegrity import DATE_TIME, verify_proof
from protocol import kinds
from protocol.credential import (
    KEY_EVENT_EVIDENCE,
    RECORD_EVIDENCE,
    RECORD_URN,
    VC_CONTEXT,
    NotIssuable,
    unsigned_credential,
    wire_from_multibase,
)
from protocol.errors import Rejected
from protocol.keyevents import KEY_EVENT_KINDS
from protocol.keyhistory import key_histories
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
    signed_by: str = ""  # the did:key of the proof's key (the issuer's, or one of its keys)
    key_events: tuple[Record, ...] = ()  # carried, when the issuer is an identity with them

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


def _evidence_of(document: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    evidence = document.get("evidence", [])
    items = evidence if isinstance(evidence, list) else [evidence]
    return [i for i in items if isinstance(i, dict) and kind in (i.get("type") or [])]


def _record_evidence(document: dict[str, Any]) -> dict[str, Any] | None:
    found = _evidence_of(document, RECORD_EVIDENCE)
    return found[0] if found else None


def _key_events(document: dict[str, Any], now_ms: int) -> list[Record]:
    """The key events carried as evidence, each a valid key-event record."""
    events = []
    for item in _evidence_of(document, KEY_EVENT_EVIDENCE):
        try:
            multibase: Any = item.get("recordWire")
            event = validate(wire_from_multibase(multibase), now_ms)
        except (ValueError, TypeError) as exc:
            raise CredentialError(f"evidence key event recordWire: {exc}") from None
        except Rejected as exc:
            raise CredentialError(f"a key event it carries does not check: {exc}") from None
        if event.kind not in KEY_EVENT_KINDS:
            raise CredentialError(f"a key-event evidence item holds a {event.kind}")
        events.append(event)
    return events


def _check_signer(document: dict[str, Any], issuer: str, key: bytes, events: list[Record]) -> None:
    """The proof's key speaks for the issuer at the proof's time, by the events carried."""
    try:
        identity = raw_from_did(issuer)
    except InvalidDid:
        raise CredentialError(f"the issuer {issuer:.80} is not a did:key") from None
    proof = document.get("proof")
    created = _ms(proof, "created") if isinstance(proof, dict) else None
    if created is None:
        raise CredentialError("the proof has no created time")
    histories = key_histories(events)
    if identity not in histories.histories:
        raise CredentialError("the key events it carries are not the issuer's")
    if histories.identity_at(key, created) != identity:
        raise CredentialError(
            "the proof's key does not speak for the issuer at the proof's time "
            "(by the key events carried)"
        )


def _check_record(
    document: dict[str, Any], wire: bytes, now_ms: int, events: list[Record]
) -> Record:
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
    try:
        rebuilt = unsigned_credential(record, str(context), events)
    except NotIssuable as exc:
        raise CredentialError(f"the record is not the issuer's: {exc}") from None
    if rebuilt != unsigned:
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
    events = _key_events(document, now_ms)
    if events:
        _check_signer(document, issuer, key.raw, events)
    elif issuer != key.did:
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
        record = _check_record(document, record_wire, now_ms, events)
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
        signed_by=key.did,
        key_events=tuple(events),
    )
