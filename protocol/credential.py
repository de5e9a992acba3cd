"""An attestation as a W3C Verifiable Credential 2.0 (and, for ``tour.completed``, an Open
Badges 3.0 ``OpenBadgeCredential``), secured with an ``eddsa-jcs-2022`` Data Integrity proof
by the attestation's author.

The credential is a pure function of the record, the URL of the Rakuichi context document and
the key events it carries, and the proof's ``created`` is the record's ``created`` (or, for a
proof made with a later key of the same identity, the start of that key's window), so a record
always gives the same credential byte for byte. The signed record itself travels in
``evidence`` (its wire bytes, multibase base64url), so anyone can check offline that the record
says what the credential says: :mod:`protocol.credential_check` rebuilds the credential from it
and compares.

**Key history (revision 3 proposal, docs/protocol.md section 15.9).** When the author's key is
a signing key of an identity with key events, the credential's ``issuer`` is the identity (the
did:key of its first key) and every key event of that identity travels as one more
``evidence`` item of type ``RakuichiKeyEvent`` (wire bytes in ``recordWire``). The proof is by
a signing key (``verificationMethod``); a checker computes the key history of the events carried
and accepts the proof when its key speaks for the issuer at the proof's ``created``, and the
record when its author speaks for the issuer at the record's ``created``. A verifier that does
not know these items still sees a well-formed credential and a proof by the signing key.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from crypto import SigningKey, did_from_raw
from crypto.dataintegrity import add_proof
from protocol import kinds
from protocol.keyhistory import KeyHistories, key_histories
from protocol.record import Record

VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
OB_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
CONTEXT_PATH = "/v1/contexts/rakuichi-v1.jsonld"
VOCAB = "urn:rakuichi:vocab:v1#"
RECORD_URN = "urn:rakuichi:record:"
TYPE = "RakuichiAttestation"
OPEN_BADGE = "OpenBadgeCredential"
RECORD_EVIDENCE = "RakuichiRecord"
ALLIANCE_EVIDENCE = "RakuichiAlliance"
KEY_EVENT_EVIDENCE = "RakuichiKeyEvent"
SUBJECT_FIELDS = ("claim", "skill", "level", "score", "text")


class NotIssuable(ValueError):
    """The record is not one a credential is issued for (not an attestation)."""


def context_url(base_url: str) -> str:
    """Where a node serves the Rakuichi context document."""
    return base_url.rstrip("/") + CONTEXT_PATH


def iso_utc(ms: int) -> str:
    """``2026-12-01T03:14:47Z``, with milliseconds (``.123``) only when they are not zero."""
    seconds, millis = divmod(ms, 1000)
    text = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return text + (f".{millis:03d}" if millis else "") + "Z"


def record_urn(record_id: bytes) -> str:
    return RECORD_URN + record_id.hex()


def wire_multibase(wire: bytes) -> str:
    """Multibase base64url without padding (prefix ``u``)."""
    return "u" + base64.urlsafe_b64encode(wire).decode().rstrip("=")


def wire_from_multibase(text: object) -> bytes:
    if not isinstance(text, str) or not text.startswith("u"):
        raise ValueError("recordWire is not multibase base64url (prefix 'u')")
    body = text[1:]
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))


def issuing_identity(record: Record, histories: KeyHistories) -> bytes:
    """The identity an attestation is issued by: the one its author speaks for at its time."""
    identity = histories.identity_at(record.author, record.created)
    if identity is None:
        raise NotIssuable(
            f"the author {did_from_raw(record.author)} speaks for no identity at the record's "
            "time (a retired, contested or forked key, by the key events given)"
        )
    return identity


def ordered_events(key_events: Sequence[Record]) -> list[Record]:
    """The key events a credential carries: each once, by (created, id)."""
    return sorted({r.id: r for r in key_events}.values(), key=lambda r: (r.created, r.id))


def unsigned_credential(
    record: Record, context: str, key_events: Sequence[Record] = ()
) -> dict[str, Any]:
    """The credential document of an attestation, without its proof (``key_events``: those of
    the author's identity, when it has any)."""
    if record.kind != kinds.ATTESTATION:
        raise NotIssuable(f"a credential is issued for an attestation, not a {record.kind}")
    body = record.body
    events = ordered_events(key_events)
    issuer = did_from_raw(record.author)
    if events:
        issuer = did_from_raw(issuing_identity(record, key_histories(events)))
    badge = body["claim"] == "tour.completed"
    subject: dict[str, Any] = {"id": did_from_raw(body["subject"])}
    if badge:
        subject["type"] = ["AchievementSubject"]
        subject["achievement"] = _achievement(issuer)
    subject.update({name: body[name] for name in SUBJECT_FIELDS if name in body})
    document: dict[str, Any] = {
        "@context": [VC_CONTEXT, OB_CONTEXT, context] if badge else [VC_CONTEXT, context],
        "id": record_urn(record.id),
        "type": ["VerifiableCredential", *([OPEN_BADGE] if badge else []), TYPE],
        "name": _name(body),
        "issuer": {"id": issuer, "type": ["Profile"]} if badge else issuer,
        "validFrom": iso_utc(record.created),
    }
    if "expires" in body:
        document["validUntil"] = iso_utc(body["expires"])
    document["credentialSubject"] = subject
    evidence: list[dict[str, Any]] = [
        {
            "id": record_urn(record.id),
            "type": ["Evidence", RECORD_EVIDENCE],
            "name": "the signed Rakuichi attestation",
            "recordWire": wire_multibase(record.wire),
        }
    ]
    if "alliance" in body:
        evidence.append(
            {
                "id": record_urn(body["alliance"]),
                "type": ["Evidence", ALLIANCE_EVIDENCE],
                "name": "the co-signed Rakuichi alliance the attestation rests on",
            }
        )
    for event in events:
        evidence.append(
            {
                "id": record_urn(event.id),
                "type": ["Evidence", KEY_EVENT_EVIDENCE],
                "name": "a key event of the issuer's identity",
                "recordWire": wire_multibase(event.wire),
            }
        )
    document["evidence"] = evidence
    return document


def proof_time(record: Record, key: bytes, histories: KeyHistories) -> int:
    """When a proof by ``key`` is dated: the record's ``created`` when ``key`` speaks for the
    record's identity then (its author, before any rotation), else the start of ``key``'s
    window of that identity (a later key, after a rotation); raises ``NotIssuable``."""
    identity = issuing_identity(record, histories)
    if histories.identity_at(key, record.created) == identity:
        return record.created
    for window in histories.claims.get(key, ()):
        later = window.identity == identity and window.start > record.created
        if later and histories.identity_at(key, window.start) == identity:
            return window.start
    raise NotIssuable(f"{did_from_raw(key)} does not speak for the issuer after the record")


def issue_credential(
    record: Record, key: SigningKey, context: str, key_events: Sequence[Record] = ()
) -> dict[str, Any]:
    """The credential secured by a proof by ``key``: the record's author, or (with the key
    events of the author's identity) any key that speaks for that identity then or later."""
    if not key_events:
        if key.public_key.raw != record.author:
            raise NotIssuable("only the attestation's author issues its credential")
        return add_proof(unsigned_credential(record, context), key, iso_utc(record.created))
    created = proof_time(record, key.public_key.raw, key_histories(key_events))
    return add_proof(unsigned_credential(record, context, key_events), key, iso_utc(created))


def _name(body: dict[str, Any]) -> str:
    claim = body["claim"]
    if claim == "tour.completed":
        return "Tour of duty completed"
    if claim == "skill":
        level = f" (level {body['level']} of 5)" if "level" in body else ""
        return f"Skill: {body['skill']}{level}"
    if claim == "rating":
        return f"Rating: {body['score']} of 5"
    return "Recommendation"


def _achievement(issuer: str) -> dict[str, Any]:
    """The Open Badges 3.0 achievement: one per issuing organisation."""
    return {
        "id": f"urn:rakuichi:achievement:tour.completed:{issuer}",
        "type": ["Achievement"],
        "name": "Tour of duty completed",
        "description": "Completed a tour of duty agreed in an alliance co-signed with the "
        "issuing organisation.",
        "criteria": {
            "narrative": "The organisation and the member co-signed a Rakuichi alliance for a "
            "tour of duty, the alliance was ended with the outcome 'completed', and the "
            "organisation attested it."
        },
    }


def context_document() -> dict[str, Any]:
    """The JSON-LD context that defines the Rakuichi terms used in credentials."""
    integer = "http://www.w3.org/2001/XMLSchema#integer"
    return {
        "@context": {
            TYPE: VOCAB + TYPE,
            RECORD_EVIDENCE: VOCAB + RECORD_EVIDENCE,
            ALLIANCE_EVIDENCE: VOCAB + ALLIANCE_EVIDENCE,
            KEY_EVENT_EVIDENCE: VOCAB + KEY_EVENT_EVIDENCE,
            "claim": VOCAB + "claim",
            "skill": VOCAB + "skill",
            "level": {"@id": VOCAB + "level", "@type": integer},
            "score": {"@id": VOCAB + "score", "@type": integer},
            "text": VOCAB + "text",
            "recordWire": VOCAB + "recordWire",
        }
    }
