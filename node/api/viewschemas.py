"""JSON Schemas (2020-12) of the views beyond records and pages: reputation and bundles, key
histories, members and drafts, credentials, private records, peers and probes. Merged into the
OpenAPI document's components with those of node/api/apischemas.py."""

from __future__ import annotations

from typing import Any

from node.api.apischemas import CURSOR, DID, HEX64, ref

NULLABLE_DID = {"type": ["string", "null"], "pattern": DID["pattern"]}
NULLABLE_HEX64 = {"type": ["string", "null"], "pattern": HEX64["pattern"]}
MS = {"type": "integer", "description": "ms since the epoch"}
NULLABLE_MS = {"type": ["integer", "null"], "description": "ms since the epoch, or null"}


def obj(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties}


def array(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": item}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


RELATIONS = obj(
    ["in_force", "alumni"],
    in_force={
        "type": "object",
        "description": "alliances in force, by the relation the subject holds in them",
        "additionalProperties": array(ref("RelationEntry")),
    },
    alumni={
        "type": "object",
        "description": "alliances ended with the alumni clause, by relation",
        "additionalProperties": array(ref("RelationEntry")),
    },
)

VIEW_SCHEMAS: dict[str, dict[str, Any]] = {
    "AttestationEntry": obj(
        ["id", "issuer", "created", "state"],
        id=HEX64,
        issuer=DID,
        created=MS,
        state={"enum": ["grounded", "ungrounded", "expired", "retracted"]},
        record=ref("Record"),
        reply=obj(["id", "text", "created"], id=HEX64, text={"type": "string"}, created=MS),
    ),
    "ClaimSummary": obj(
        ["claim", "skill", "count", "issuers"],
        claim={"type": "string"},
        skill={"type": ["string", "null"]},
        count={"type": "integer", "minimum": 0, "description": "attestations, one per issuer"},
        issuers={"type": "integer", "minimum": 0},
        score_sum={"type": "integer"},
        score_count={"type": "integer"},
        mean_score={"type": "number"},
        level_max={"type": ["integer", "null"]},
        level_sum={"type": "integer"},
        level_count={"type": "integer"},
        mean_level={"type": "number"},
    ),
    "Reputation": obj(
        ["subject", "attestations", "ungrounded", "summary"],
        subject=DID,
        attestations=array(ref("AttestationEntry")),
        ungrounded=array(ref("AttestationEntry")),
        summary=array(ref("ClaimSummary")),
        keys=nullable(ref("KeyHistory")),
    ),
    "ReputationPage": {
        "allOf": [ref("Reputation")],
        "required": ["next"],
        "properties": {
            "next": {**CURSOR, "description": "the cursor of the attestations' next page"}
        },
    },
    "Bundle": obj(
        ["rakuichi_bundle", "subject", "records"],
        rakuichi_bundle={"type": "integer", "description": "bundle format version"},
        subject=DID,
        records=array(
            obj(
                ["wire"],
                wire={"type": "string", "pattern": "^([0-9a-f]{2})+$", "description": "hex"},
                view=ref("Record"),
            )
        ),
    ),
    "BundleReport": obj(
        ["subject", "ok", "records", "refused", "reputation"],
        subject=DID,
        ok={"type": "boolean", "description": "no record refused"},
        records={"type": "integer", "minimum": 0},
        refused=array(
            obj(
                ["position", "class", "detail"],
                position={"type": "integer"},
                kind={"type": ["string", "null"]},
                id=NULLABLE_HEX64,
                **{"class": {"type": "string"}},
                detail={"type": "string"},
            )
        ),
        reputation=nullable(ref("Reputation")),
        issuers={
            "type": "object",
            "description": "issuer did -> name from its profile",
            "additionalProperties": {"type": "string"},
        },
        retracted=array(obj(["id", "issuer"], id=HEX64, issuer=DID)),
    ),
    "KeyWindow": obj(
        ["key", "from", "until"],
        key=DID,
        seq={"type": ["integer", "null"]},
        until=NULLABLE_MS,
        event=NULLABLE_HEX64,
        **{"from": MS},
    ),
    "KeyHistory": obj(
        ["identity", "state", "current", "keys"],
        identity=DID,
        state={"type": "string", "description": "plain, established or duplicitous"},
        current=NULLABLE_DID,
        next={"type": ["string", "null"], "description": "commitment to the next key (hex)"},
        seq={"type": ["integer", "null"]},
        events=array(HEX64),
        keys=array(ref("KeyWindow")),
        duplicity=nullable(
            obj(["seq", "evidence"], seq={"type": "integer"}, evidence=array(HEX64))
        ),
        contested={"type": "object", "additionalProperties": array(DID)},
        rejected={"type": "object", "additionalProperties": {"type": "string"}},
    ),
    "KeyView": obj(
        ["did", "identity", "history"],
        did=DID,
        identity=DID,
        history=nullable(ref("KeyHistory")),
        pending={
            "type": "object",
            "description": "id (hex) of a missing key event -> ids of the events waiting for it",
            "additionalProperties": array(HEX64),
        },
    ),
    "RelationEntry": obj(["id", "org"], id=HEX64, org=DID, member=DID, side={"type": "string"}),
    "MemberAlliance": obj(
        ["id", "org", "alumni", "in_force", "end"],
        id=HEX64,
        org=DID,
        alumni={"type": "boolean"},
        in_force={"type": "boolean"},
        end=NULLABLE_HEX64,
        outcome={"type": ["string", "null"]},
        relation={"type": "string"},
    ),
    "Member": obj(
        ["member", "profile", "alliances", "alumni_of"],
        member=DID,
        profile=nullable(ref("RecordOrTombstone")),
        alliances=array(ref("MemberAlliance")),
        alumni_of=array(DID),
        alliances_by_relation=RELATIONS,
        keys=nullable(ref("KeyHistory")),
    ),
    "Draft": obj(
        ["id", "url", "draft", "missing"],
        id=HEX64,
        url={"type": "string", "format": "uri"},
        draft=ref("Record"),
        missing=array(DID),
        private={"type": "boolean", "description": "kept with the two parties only"},
        signed={"type": "boolean", "description": "the co-signed alliance is held here"},
    ),
    "DraftList": obj(["drafts"], drafts=array(ref("Draft"))),
    "PrivateRecords": obj(
        ["records"],
        records=array(
            {
                "allOf": [ref("Record")],
                "required": ["wire", "private"],
                "properties": {"wire": {"type": "string"}, "private": {"const": True}},
            }
        ),
    ),
    "Credential": obj(
        ["@context", "id", "type", "issuer", "validFrom", "credentialSubject", "proof"],
        **{"@context": array({"type": "string"})},
        id={"type": "string"},
        type=array({"type": "string"}),
        name={"type": "string"},
        issuer={"anyOf": [DID, obj(["id"], id=DID, type=array({"type": "string"}))]},
        validFrom={"type": "string", "format": "date-time"},
        validUntil={"type": "string", "format": "date-time"},
        credentialSubject={
            "type": "object",
            "required": ["id"],
            "properties": {"id": DID},
            "additionalProperties": {"description": "the attestation's fields (claim, skill...)"},
        },
        evidence=array(obj(["id", "type"], id={"type": "string"}, type=array({"type": "string"}))),
        proof=obj(
            ["type", "cryptosuite", "verificationMethod", "proofPurpose", "proofValue"],
            type={"const": "DataIntegrityProof"},
            cryptosuite={"const": "eddsa-jcs-2022"},
            verificationMethod={"type": "string"},
            proofPurpose={"type": "string"},
            created={"type": "string"},
            proofValue={"type": "string"},
        ),
    ),
    "JsonLdContext": obj(
        ["@context"],
        **{
            "@context": {
                "type": "object",
                "description": "term -> IRI, or term -> {@id, @type}",
                "additionalProperties": {
                    "anyOf": [
                        {"type": "string"},
                        obj(["@id"], **{"@id": {"type": "string"}, "@type": {"type": "string"}}),
                    ]
                },
            }
        },
    ),
    "Peer": obj(
        ["url"],
        url={"type": "string"},
        source={"type": "string"},
        active={"type": "boolean"},
        node=NULLABLE_DID,
        org=NULLABLE_DID,
        last_success=NULLABLE_MS,
        last_error=NULLABLE_MS,
        error={"type": ["string", "null"]},
        failures={"type": "integer"},
        last_sync=NULLABLE_MS,
        backlog={"type": ["integer", "null"]},
        backoff={"type": ["number", "null"], "description": "seconds until the next try"},
    ),
    "PeerTable": obj(["peers"], peers=array(ref("Peer"))),
    "Health": obj(["status"], status={"const": "ok"}),
    "Readiness": obj(
        ["status"],
        status={"enum": ["ready", "loading"]},
        reasons=array({"type": "string"}),
    ),
}
