"""The OpenAPI 3.1 description of the HTTP API; a test keeps it true to the router."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from node import __version__
from node.api.apischemas import DIALECT, SCHEMAS, SECURITY_SCHEMES, finish
from node.api.keys import NODE
from node.api.viewschemas import VIEW_SCHEMAS
from node.ops import endpoints as ops_endpoints

routes = web.RouteTableDef()

PROBLEM = {
    "description": "problem (RFC 9457) with a `class` naming the failure",
    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
}


def _q(name: str, description: str, kind: str = "string", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": kind, **extra},
    }


def _path(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string"},
    }


def typed(description: str, schema: str, content_type: str = "application/json") -> dict[str, Any]:
    """A response of ``content_type`` whose body is the named component schema."""
    ref = {"$ref": f"#/components/schemas/{schema}"}
    return {"description": description, "content": {content_type: {"schema": ref}}}


PAGING = [
    _q("limit", "page size (1..500, default 50)", "integer", minimum=1, maximum=500),
    _q("cursor", "the `next` value of the previous page"),
]

OPERATIONS: dict[str, dict[str, Any]] = {
    "/.well-known/rakuichi": {
        "get": {
            "summary": "who this node is, its limits and features",
            "responses": {"200": typed("identity", "Identity")},
        }
    },
    "/v1/openapi.json": {
        "get": {
            "summary": "this document",
            "responses": {"200": typed("OpenAPI 3.1 document", "OpenApiDocument")},
        }
    },
    "/v1/records": {
        "post": {
            "summary": "submit one record (its wire bytes) or a msgpack array of records as bin",
            "requestBody": {
                "required": True,
                "content": {
                    "application/msgpack": {"schema": {"type": "string", "format": "binary"}},
                    "application/json": {
                        "schema": {
                            "anyOf": [
                                {"$ref": "#/components/schemas/RecordView"},
                                {
                                    "type": "array",
                                    "items": {"$ref": "#/components/schemas/RecordView"},
                                },
                            ]
                        }
                    },
                },
            },
            "responses": {
                "201": typed("stored", "Outcome"),
                "200": {
                    "description": "already held (one record), or the results of a batch",
                    "content": {
                        "application/json": {
                            "schema": {
                                "anyOf": [
                                    {"$ref": "#/components/schemas/Outcome"},
                                    {"$ref": "#/components/schemas/BatchResults"},
                                ]
                            }
                        }
                    },
                },
                "400": PROBLEM,
                "429": PROBLEM,
                "403": PROBLEM,
                "413": PROBLEM,
                "415": PROBLEM,
                "422": PROBLEM,
            },
        },
        "get": {
            "summary": "records in arrival order, filtered",
            "parameters": [
                _q("kind", "record kind"),
                _q("author", "did:key of the author"),
                _q("subject", "did:key of an alliance member or attestation subject"),
                _q("since", "created >= since (ms)", "integer"),
                _q("until", "created < until (ms)", "integer"),
                *PAGING,
            ],
            "responses": {"200": typed("a page of records", "RecordPage"), "400": PROBLEM},
        },
    },
    "/v1/records/{id}": {
        "get": {
            "summary": "one record: JSON view, or its wire bytes (Accept: application/msgpack)",
            "parameters": [_path("id", "record id, 64 hex digits")],
            "responses": {
                "200": typed("the record", "Record"),
                "304": {"description": "not modified (If-None-Match held the ETag)"},
                "400": PROBLEM,
                "404": PROBLEM,
                "410": PROBLEM,
            },
        }
    },
    "/v1/stream": {
        "get": {
            "summary": "every record taken in, live, as Server-Sent Events (id: arrival cursor)",
            "parameters": [
                _q("kind", "record kind (repeatable: any of them)"),
                _q("author", "did:key of the author (repeatable)"),
                _q("subject", "did:key of the subject (repeatable)"),
                _q("since", "resume after this event id (Last-Event-ID wins)"),
            ],
            "responses": {
                "200": {
                    "description": "an endless event stream",
                    "content": {"text/event-stream": {"schema": {"type": "string"}}},
                },
                "400": PROBLEM,
                "503": PROBLEM,
            },
        }
    },
    "/v1/opportunities": {
        "get": {
            "summary": "current opportunities, newest first, with full-text search",
            "parameters": [
                _q("q", "words searched in title, summary and skills"),
                _q("skill", "exact skill"),
                _q("tour", "tour kind"),
                _q("remote", "true or false", "boolean"),
                _q("org", "did:key"),
                _q("status", "open, filled or closed"),
                _q("audience", "public or alumni"),
                *PAGING,
            ],
            "responses": {
                "200": typed("a page of opportunities", "OpportunityPage"),
                "400": PROBLEM,
                "429": PROBLEM,
            },
        }
    },
    "/v1/orgs": {
        "get": {
            "summary": "organisations known here, with counts",
            "parameters": PAGING,
            "responses": {"200": typed("a page of organisations", "OrgPage"), "400": PROBLEM},
        }
    },
    "/v1/orgs/{did}": {
        "get": {
            "summary": "an organisation: profile, counts, current opportunities",
            "parameters": [_path("did", "did:key of the organisation")],
            "responses": {
                "200": typed("the organisation", "Org"),
                "400": PROBLEM,
                "404": PROBLEM,
            },
        }
    },
    "/v1/orgs/{did}/alumni": {
        "get": {
            "summary": "members who ended an alliance with the alumni clause",
            "parameters": [_path("did", "did:key of the organisation")],
            "responses": {"200": typed("alumni", "Alumni"), "400": PROBLEM},
        }
    },
}


def add_operations(paths: dict[str, dict[str, Any]]) -> None:
    """Let other route modules describe their operations here (one document for all)."""
    for path, methods in paths.items():
        OPERATIONS.setdefault(path, {}).update(methods)


def document(server: str = "http://127.0.0.1:8470") -> dict[str, Any]:
    finished = finish({**OPERATIONS, **ops_endpoints.OPENAPI_PATHS}, server)
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": DIALECT,
        "info": {
            "title": "Rakuichi federation API",
            "version": __version__,
            "description": "Every node serves this API. Errors are problem+json (RFC 9457). "
            "Reads, /v1/stream and POST /v1/records answer any origin (CORS); records by id "
            "are immutable (ETag, 304). Guide: docs/api.md.",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        **finished,
        "components": {"schemas": {**SCHEMAS, **VIEW_SCHEMAS}, "securitySchemes": SECURITY_SCHEMES},
    }


@routes.get("/v1/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(document(request.app[NODE].config.public_url))
