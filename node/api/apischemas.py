"""JSON Schemas (2020-12, the dialect of OpenAPI 3.1) of what the API answers, and the last
touches of the OpenAPI document: operation ids, servers, the node-to-node security scheme."""

from __future__ import annotations

import re
from typing import Any

DIALECT = "https://json-schema.org/draft/2020-12/schema"
DID = {"type": "string", "pattern": "^did:key:z[1-9A-HJ-NP-Za-km-z]+$"}
HEX64 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
CURSOR = {"type": ["string", "null"], "description": "opaque cursor, or null"}
BODY = {
    "type": "object",
    "description": "the body of the record's kind (docs/protocol.md): a map of its fields",
    "additionalProperties": {"description": "a field of the kind's body"},
}
SIGNATURE = {
    "type": "object",
    "required": ["signer", "sig"],
    "properties": {"signer": DID, "sig": {"type": "string", "pattern": "^[0-9a-f]{128}$"}},
}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def page(key: str, item: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": [key, "next"],
        "properties": {key: {"type": "array", "items": item}, "next": CURSOR},
    }


SCHEMAS: dict[str, dict[str, Any]] = {
    "Problem": {
        "type": "object",
        "required": ["title", "status", "class"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "class": {"type": "string"},
            "detail": {"type": "string"},
            "instance": {"type": "string"},
        },
    },
    "Identity": {
        "type": "object",
        "required": ["protocol", "software", "version", "name", "org", "node", "url"],
        "properties": {
            "protocol": {"type": "integer"},
            "software": {"type": "string"},
            "version": {"type": "string"},
            "name": {"type": "string"},
            "org": DID,
            "node": DID,
            "url": {"type": "string"},
            "limits": {
                "type": "object",
                "properties": {
                    "record_bytes": {"type": "integer"},
                    "body_bytes": {"type": "integer"},
                    "batch_records": {"type": "integer"},
                    "page_records": {"type": "integer"},
                },
            },
            "features": {
                "type": "object",
                "required": ["api", "protocol_revision"],
                "properties": {
                    "api": {"type": "array", "items": {"type": "string"}},
                    "protocol_revision": {"type": "integer"},
                },
            },
        },
    },
    "Record": {
        "type": "object",
        "description": "the JSON view of a signed record (maps back to its exact wire bytes)",
        "required": ["id", "v", "kind", "author", "created", "body", "sigs"],
        "properties": {
            "id": HEX64,
            "v": {"const": 1},
            "kind": {"type": "string"},
            "author": DID,
            "created": {"type": "integer", "minimum": 0},
            "body": BODY,
            "sigs": {
                "type": "array",
                "minItems": 1,
                "items": SIGNATURE,
            },
            "retracted": {"type": "boolean"},
        },
    },
    "RecordView": {
        "type": "object",
        "description": "the JSON view a developer posts: a record, its id optional",
        "required": ["v", "kind", "author", "created", "body", "sigs"],
        "properties": {
            "id": HEX64,
            "v": {"const": 1},
            "kind": {"type": "string"},
            "author": DID,
            "created": {"type": "integer"},
            "body": BODY,
            "sigs": {"type": "array", "items": SIGNATURE},
        },
    },
    "Tombstone": {
        "type": "object",
        "description": "a record its author retracted: only its id and index fields remain",
        "required": ["id", "kind", "author", "created", "retracted"],
        "properties": {
            "id": HEX64,
            "kind": {"type": "string"},
            "author": DID,
            "created": {"type": "integer"},
            "retracted": {"const": True},
        },
    },
    "RecordOrTombstone": {"anyOf": [ref("Record"), ref("Tombstone")]},
    "RecordPage": page("records", ref("RecordOrTombstone")),
    "OpportunityPage": page("opportunities", ref("Record")),
    "OrgSummary": {
        "type": "object",
        "required": ["org", "profile", "counts"],
        "properties": {
            "org": DID,
            "profile": ref("RecordOrTombstone"),
            "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
        },
    },
    "OrgPage": page("orgs", ref("OrgSummary")),
    "Org": {
        "allOf": [ref("OrgSummary")],
        "required": ["opportunities"],
        "properties": {
            "opportunities": {"type": "array", "items": ref("Record")},
            "domain": {
                "description": "the profile's domain and whether this node saw it proved "
                "(https://DOMAIN/.well-known/rakuichi-did serves the org's did)",
                "type": "object",
                "required": ["name", "verified", "checked"],
                "properties": {
                    "name": {"type": "string"},
                    "verified": {"type": "boolean"},
                    "checked": {"type": "integer", "description": "ms since the epoch"},
                },
            },
        },
    },
    "Alumni": {
        "type": "object",
        "required": ["org", "alumni"],
        "properties": {
            "org": DID,
            "alumni": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["member", "alliance", "end"],
                    "properties": {"member": DID, "alliance": HEX64, "end": HEX64},
                },
            },
        },
    },
    "Outcome": {
        "type": "object",
        "required": ["id", "stored"],
        "properties": {"id": HEX64, "stored": {"type": "boolean"}},
    },
    "Refusal": {
        "type": "object",
        "required": ["class", "detail"],
        "properties": {"class": {"type": "string"}, "detail": {"type": "string"}},
    },
    "BatchResults": {
        "type": "object",
        "required": ["results"],
        "properties": {
            "results": {"type": "array", "items": {"anyOf": [ref("Outcome"), ref("Refusal")]}}
        },
    },
    "OpenApiDocument": {
        "type": "object",
        "required": ["openapi", "info", "paths"],
        "properties": {
            "openapi": {"type": "string"},
            "info": {
                "type": "object",
                "required": ["title", "version"],
                "properties": {"title": {"type": "string"}, "version": {"type": "string"}},
            },
            "paths": {
                "type": "object",
                "description": "path -> method -> operation",
                "additionalProperties": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "object",
                        "required": ["operationId", "responses"],
                        "properties": {
                            "operationId": {"type": "string"},
                            "summary": {"type": "string"},
                            "responses": {
                                "type": "object",
                                "additionalProperties": {
                                    "type": "object",
                                    "required": ["description"],
                                    "properties": {"description": {"type": "string"}},
                                },
                            },
                        },
                    },
                },
            },
            "components": {
                "type": "object",
                "properties": {
                    "schemas": {
                        "type": "object",
                        "additionalProperties": {"description": "a JSON Schema 2020-12"},
                    }
                },
            },
        },
    },
}

RATE_LIMITED = {
    "description": "rate limited: Retry-After, RateLimit-Policy and RateLimit say when to retry",
    "content": {"application/problem+json": {"schema": ref("Problem")}},
}
SECURITY_SCHEMES = {
    "nodeSignature": {
        "type": "apiKey",
        "in": "header",
        "name": "Signature",
        "description": "an RFC 9421 HTTP message signature by the calling node's key, with "
        "Signature-Input and Content-Digest (docs/protocol.md); unsigned calls are refused",
    }
}
NODE_TO_NODE = {("/v1/sync", "post"), ("/v1/records/fetch", "post")}
OPTIONALLY_SIGNED = {("/v1/records", "post")}  # a peer's push is signed; anyone may post


# one name per operation, saying what it does (a test requires every operation to be here)
OPERATION_IDS: dict[tuple[str, str], str] = {
    ("/.well-known/rakuichi", "get"): "getNodeIdentity",
    ("/v1/openapi.json", "get"): "getOpenApiDocument",
    ("/v1/records", "post"): "submitRecords",
    ("/v1/records", "get"): "listRecords",
    ("/v1/records/{id}", "get"): "getRecord",
    ("/v1/records/{id}/credential", "get"): "getAttestationCredential",
    ("/v1/records/fetch", "post"): "fetchRecordsById",
    ("/v1/stream", "get"): "streamRecords",
    ("/v1/opportunities", "get"): "searchOpportunities",
    ("/v1/orgs", "get"): "listOrganisations",
    ("/v1/orgs/{did}", "get"): "getOrganisation",
    ("/v1/orgs/{did}/alumni", "get"): "listOrganisationAlumni",
    ("/v1/keys/{did}", "get"): "getKeyHistory",
    ("/v1/members/{did}", "get"): "getMember",
    ("/v1/members/{did}/drafts", "get"): "listMemberDrafts",
    ("/v1/drafts", "post"): "createAllianceDraft",
    ("/v1/drafts/{id}", "get"): "getAllianceDraft",
    ("/v1/private/{did}", "get"): "listPrivateRecords",
    ("/v1/reputation/{did}", "get"): "getReputation",
    ("/v1/reputation/{did}/bundle", "get"): "getReputationBundle",
    ("/v1/reputation/verify", "post"): "verifyReputationBundle",
    ("/v1/contexts/rakuichi-v1.jsonld", "get"): "getJsonLdContext",
    ("/v1/sync", "post"): "syncRound",
    ("/v1/peers", "get"): "listPeers",
    ("/healthz", "get"): "getLiveness",
    ("/readyz", "get"): "getReadiness",
    ("/metrics", "get"): "getMetrics",
}


def operation_id(path: str, method: str) -> str:
    """The operation's name in OPERATION_IDS; for an operation not named there yet, one made
    from its path (``getOrgsByDidAlumni`` for ``GET /v1/orgs/{did}/alumni``)."""
    if (path, method) in OPERATION_IDS:
        return OPERATION_IDS[path, method]
    words = []
    for part in path.strip("/").split("/"):
        if part in ("v1", "") or part.startswith("."):
            part = part.lstrip(".")
            if not part or part == "v1":
                continue
        name = part[1:-1] if part.startswith("{") else part
        camel = "".join(w.capitalize() for w in re.split(r"[^0-9A-Za-z]+", name) if w)
        words.append(("By" + camel) if part.startswith("{") else camel)
    return method.lower() + "".join(words)


def finish(paths: dict[str, dict[str, Any]], server: str) -> dict[str, Any]:
    """Operation ids, security and servers for the document's ``paths``."""
    done: dict[str, dict[str, Any]] = {}
    for path, methods in paths.items():
        done[path] = {}
        for method, operation in methods.items():
            operation = dict(operation)
            responses = dict(operation.get("responses", {}))
            # every request spends a token of its client's address (node/api/limits.py)
            responses.setdefault("429", RATE_LIMITED)
            operation["responses"] = responses
            operation.setdefault("operationId", operation_id(path, method))
            if (path, method) in NODE_TO_NODE:
                operation["security"] = [{"nodeSignature": []}]
            elif (path, method) in OPTIONALLY_SIGNED:
                operation["security"] = [{}, {"nodeSignature": []}]
            done[path][method] = operation
    return {
        "servers": [{"url": server, "description": "this node"}],
        "paths": done,
        "security": [{}],
    }
