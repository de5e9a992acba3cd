"""The OpenAPI document is a valid, lint-clean contract, and what a real node answers on
every route validates against it (JSON Schema 2020-12, with jsonschema)."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema
import msgpack
import pytest
from openapi_spec_validator import validate as validate_spec

from node.api.apischemas import OPERATION_IDS
from node.api.app import make_app
from node.service import Node
from node.transport import NodeClient
from protocol.jsonview import to_json
from tests.node.test_alliance_rules import draft_for
from tests.support import (
    Cast,
    alliance,
    alliance_end,
    attestation,
    base_url,
    did,
    make_home,
    now_ms,
    opportunity,
    org_profile,
    running_node,
)

MSGPACK = "application/msgpack"


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    async with running_node(make_home(tmp_path, "acme")) as running:
        yield running


async def fetch_document(url: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session, session.get(url + "/v1/openapi.json") as r:
        return await r.json()


async def test_the_document_passes_openapi_spec_validator_and_redocly(
    node: Node, tmp_path: Path
) -> None:
    document = await fetch_document(base_url(node))
    validate_spec(document)
    assert document["servers"] == [{"url": base_url(node), "description": "this node"}]
    operations = [op for methods in document["paths"].values() for op in methods.values()]
    ids = [op["operationId"] for op in operations]
    assert len(ids) == len(set(ids)) and all(ids)
    assert all(any(s.startswith("4") for s in op["responses"]) for op in operations)
    assert document["paths"]["/v1/sync"]["post"]["security"] == [{"nodeSignature": []}]
    npx = shutil.which("npx")
    if npx is None:
        pytest.skip("npm is missing here: Redocly cannot run (openapi-spec-validator passed)")
    path = tmp_path / "openapi.json"
    path.write_text(json.dumps(document))
    lint = subprocess.run(
        [npx, "--yes", "@redocly/cli@2", "lint", str(path), "--format=stylish"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        check=False,
    )
    said = lint.stdout + lint.stderr
    assert lint.returncode == 0, said[-4000:]
    assert "Your API description is valid" in said and "error" not in said.lower(), said[-4000:]


class Checker:
    """Makes requests and validates each response against the document's schema for it."""

    def __init__(self, session: aiohttp.ClientSession, url: str, document: dict[str, Any]):
        self.session, self.url, self.document = session, url, document
        self.covered: set[tuple[str, str]] = set()

    async def check(
        self, method: str, template: str, path: str | None = None, **kwargs: Any
    ) -> tuple[int, Any]:
        operation = self.document["paths"][template][method.lower()]
        async with self.session.request(method, self.url + (path or template), **kwargs) as r:
            status, ctype = str(r.status), r.content_type
            assert status in operation["responses"], (method, path or template, status)
            described = operation["responses"][status]
            body: Any = None
            if status != "304" and template != "/v1/stream":
                raw = await r.read()
                assert ctype in described.get("content", {}), (template, status, ctype)
                if "json" in ctype:
                    body = json.loads(raw)
                    self.validate(described, ctype, body)
            else:
                assert status == "304" or ctype in described["content"]
        self.covered.add((template, method.lower()))
        return r.status, body

    def validate(self, described: dict[str, Any], ctype: str, body: Any) -> None:
        schema = described["content"][ctype]["schema"]
        root = {**schema, "components": self.document["components"]}
        jsonschema.Draft202012Validator(root).validate(body)

    async def check_signed(
        self, client: NodeClient, template: str, path: str, expected: int
    ) -> Any:
        """A GET signed (RFC 9421) by ``client``'s key, validated like ``check``."""
        status, ctype, raw = await client._request("GET", path)
        assert status == expected, (path, status, raw[:300])
        described = self.document["paths"][template]["get"]["responses"][str(status)]
        body = json.loads(raw)
        self.validate(described, ctype.split(";")[0], body)
        self.covered.add((template, "get"))
        return body


async def test_every_route_answers_what_its_schema_says(node: Node) -> None:
    url = base_url(node)
    document = await fetch_document(url)
    cast = Cast.fresh()
    t0 = now_ms() - 60_000
    job = opportunity(cast.org, t0, slug="web", title="Web engineer")
    bond = alliance(cast.org, cast.member, t0 + 1, alumni=True)
    ended = alliance_end(cast.member, bond, t0 + 2)
    profile = org_profile(cast.org, t0 + 3, "Director Bank")
    skill = attestation(node.keys.org, cast.member, t0 + 4, claim="skill", skill="go", level=4)
    org, member, rid, issued = did(cast.org), did(cast.member), job.id.hex(), skill.id.hex()
    async with aiohttp.ClientSession() as session:
        c = Checker(session, url, document)
        msgpack_body = {"headers": {"Content-Type": MSGPACK}}
        await c.check("POST", "/v1/records", data=job.wire, **msgpack_body)
        await c.check("POST", "/v1/records", json=to_json(profile))
        await c.check(
            "POST",
            "/v1/records",
            data=msgpack.packb([bond.wire, ended.wire, skill.wire]),
            **msgpack_body,
        )
        await c.check("POST", "/v1/records", data=b"\xc1", **msgpack_body)
        await c.check("POST", "/v1/records", data=b"x", headers={"Content-Type": "text/plain"})
        for path in ("/.well-known/rakuichi", "/v1/openapi.json", "/v1/peers", "/healthz"):
            await c.check("GET", path)
        await c.check("GET", "/readyz")
        await c.check("GET", "/metrics")
        await c.check("GET", "/v1/records")
        await c.check("GET", "/v1/records", "/v1/records?cursor=%%")
        _, view = await c.check("GET", "/v1/records/{id}", f"/v1/records/{rid}")
        assert view["id"] == rid
        await c.check(
            "GET", "/v1/records/{id}", f"/v1/records/{rid}", headers={"If-None-Match": f'"{rid}"'}
        )
        await c.check("GET", "/v1/records/{id}", f"/v1/records/{'0' * 64}")
        await c.check("GET", "/v1/records/{id}", "/v1/records/nothex")
        await c.check("GET", "/v1/stream")
        await c.check("GET", "/v1/stream", "/v1/stream?since=x")
        await c.check("GET", "/v1/opportunities", "/v1/opportunities?q=web")
        await c.check("GET", "/v1/orgs")
        await c.check("GET", "/v1/orgs/{did}", f"/v1/orgs/{org}")
        await c.check("GET", "/v1/orgs/{did}", f"/v1/orgs/{did(cast.outsider)}")
        await c.check("GET", "/v1/orgs/{did}/alumni", f"/v1/orgs/{org}/alumni")
        await c.check("GET", "/v1/keys/{did}", f"/v1/keys/{org}")
        await c.check("POST", "/v1/drafts", data=b"\xc1", **msgpack_body)
        await c.check("GET", "/v1/drafts/{id}", f"/v1/drafts/{'0' * 64}")
        await c.check("GET", "/v1/members/{did}/drafts", f"/v1/members/{member}/drafts")
        await c.check("GET", "/v1/members/{did}", f"/v1/members/{member}")
        status, _ = await c.check("GET", "/v1/private/{did}", f"/v1/private/{member}")
        assert status == 401  # private records go to their parties, by signed request only
        await c.check("GET", "/v1/records/{id}/credential", f"/v1/records/{rid}/credential")
        await c.check("GET", "/v1/contexts/rakuichi-v1.jsonld")
        await c.check("POST", "/v1/sync", data=b"x", headers={"Content-Type": "text/plain"})
        await c.check("POST", "/v1/records/fetch", data=msgpack.packb([job.id]), **msgpack_body)
        _, reputation = await c.check("GET", "/v1/reputation/{did}", f"/v1/reputation/{member}")
        assert reputation["attestations"], "the schema is checked on a real attestation"
        _, bundle = await c.check(
            "GET", "/v1/reputation/{did}/bundle", f"/v1/reputation/{member}/bundle"
        )
        await c.check("POST", "/v1/reputation/verify", data=b"\xc1", **msgpack_body)
        _, report = await c.check("POST", "/v1/reputation/verify", json=bundle)
        assert report["ok"] and report["reputation"]["attestations"]
        credential = f"/v1/records/{issued}/credential"
        _, vc = await c.check("GET", "/v1/records/{id}/credential", credential)
        assert vc["proof"]["cryptosuite"] == "eddsa-jcs-2022"
        draft = draft_for(node.keys.org, cast.member_b)
        await c.check("POST", "/v1/drafts", data=draft.wire, **msgpack_body)
        draft_path = f"/v1/drafts/{draft.id.hex()}"
        _, kept = await c.check("GET", "/v1/drafts/{id}", draft_path)
        assert kept["missing"] == [did(cast.member_b)]
        await c.check("GET", "/v1/drafts/{id}", draft_path, headers={"Accept": MSGPACK})
        signed = NodeClient(url, session, signer=cast.member_b)
        waiting = await c.check_signed(
            signed, "/v1/members/{did}/drafts", f"/v1/members/{did(cast.member_b)}/drafts", 200
        )
        assert [d["id"] for d in waiting["drafts"]] == [draft.id.hex()]
        await c.check_signed(signed, "/v1/private/{did}", f"/v1/private/{did(cast.member_b)}", 200)
    documented = {(p, m) for p, methods in document["paths"].items() for m in methods}
    assert documented - c.covered == set(), "operations no response of which was checked"
    routed = {
        (r.resource.canonical, r.method.lower())
        for r in make_app(node).router.routes()
        if r.resource is not None and r.method != "HEAD"
    }
    assert documented <= routed


def bare_schemas(schema: Any, schemas: dict[str, Any], where: str, seen: set[str]) -> list[str]:
    """Where inside ``schema`` an object has no properties (nor a typed map of values) or an
    array no items: what a client generator would turn into ``any``."""
    if not isinstance(schema, dict):
        return []
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            return []
        return bare_schemas(schemas[name], schemas, name, seen | {name})
    found = []
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else types
    composed = any(k in schema for k in ("allOf", "anyOf", "oneOf"))
    if "object" in types and not composed:
        typed_map = isinstance(schema.get("additionalProperties"), dict)
        if not (schema.get("properties") or schema.get("patternProperties") or typed_map):
            found.append(f"{where}: object without properties")
    if "array" in types and "items" not in schema and "prefixItems" not in schema:
        found.append(f"{where}: array without items")
    for name, sub in schema.get("properties", {}).items():
        found += bare_schemas(sub, schemas, f"{where}.{name}", seen)
    for key in ("items", "additionalProperties"):
        found += bare_schemas(schema.get(key), schemas, f"{where}[{key}]", seen)
    for key in ("allOf", "anyOf", "oneOf", "prefixItems"):
        for n, sub in enumerate(schema.get(key, [])):
            found += bare_schemas(sub, schemas, f"{where}.{key}[{n}]", seen)
    return found


async def test_every_response_of_every_operation_is_typed_and_named(node: Node) -> None:
    """No response schema (nor anything inside it) is a bare object or array, every JSON
    response names a schema, and every operation has a name chosen for it (OPERATION_IDS)."""
    document = await fetch_document(base_url(node))
    schemas = document["components"]["schemas"]
    bare: list[str] = []
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            assert OPERATION_IDS.get((path, method)) == operation["operationId"], (
                f"{method.upper()} {path}: name it in node/api/apischemas.py OPERATION_IDS"
            )
            for status, response in operation["responses"].items():
                for ctype, media in response.get("content", {}).items():
                    schema = media.get("schema")
                    where = f"{method.upper()} {path} {status} {ctype}"
                    assert isinstance(schema, dict) and schema, f"{where}: no schema"
                    if "json" in ctype:
                        assert "$ref" in schema or "anyOf" in schema, f"{where}: not a named schema"
                    bare += [f"{where} -> {b}" for b in bare_schemas(schema, schemas, "", set())]
    assert bare == [], "untyped response schemas:\n" + "\n".join(bare)
