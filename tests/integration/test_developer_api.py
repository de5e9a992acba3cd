"""The API as browsers, caches and app developers meet it, on a real node process."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from protocol.jsonview import to_json
from tests.support import Cast, now_ms, opportunity
from tests.support.federation import federation_home, start_processes

ORIGIN = "https://jobs.example"
MSGPACK = "application/msgpack"
pytestmark = pytest.mark.usefixtures("federation_engine")


async def test_cors_preflights_and_headers(tmp_path: Path) -> None:
    (proc,) = await start_processes([federation_home(tmp_path, "solo")])
    url = proc.url
    async with aiohttp.ClientSession() as session:
        for path, method in (
            ("/v1/records", "POST"),
            ("/v1/records", "GET"),
            ("/v1/stream", "GET"),
            (f"/v1/records/{'ab' * 32}", "GET"),
            ("/v1/opportunities", "GET"),
        ):
            async with session.options(
                url + path,
                headers={
                    "Origin": ORIGIN,
                    "Access-Control-Request-Method": method,
                    "Access-Control-Request-Headers": "content-type",
                },
            ) as response:
                assert response.status == 204, (path, method, await response.text())
                assert response.headers["Access-Control-Allow-Origin"] == "*"
                assert method in response.headers["Access-Control-Allow-Methods"]
                assert "Content-Type" in response.headers["Access-Control-Allow-Headers"]
                assert "Access-Control-Allow-Credentials" not in response.headers
        for path in ("/v1/sync", "/v1/records/fetch"):  # node-to-node: no browsers
            async with session.options(
                url + path, headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"}
            ) as response:
                assert response.status == 403
                assert "Access-Control-Allow-Origin" not in response.headers
        async with session.get(url + "/v1/records", headers={"Origin": ORIGIN}) as response:
            assert response.status == 200
            assert response.headers["Access-Control-Allow-Origin"] == "*"
            assert "ETag" in response.headers["Access-Control-Expose-Headers"]
        async with session.get(url + "/v1/records/zz", headers={"Origin": ORIGIN}) as response:
            assert response.status == 400  # problems are readable cross-origin too
            assert response.headers["Access-Control-Allow-Origin"] == "*"
        async with session.post(
            url + "/v1/sync", data=b"\x90", headers={"Origin": ORIGIN, "Content-Type": MSGPACK}
        ) as response:
            assert "Access-Control-Allow-Origin" not in response.headers


async def test_records_by_id_are_immutable_and_lists_short_lived(tmp_path: Path) -> None:
    (proc,) = await start_processes([federation_home(tmp_path, "solo")])
    url, cast = proc.url, Cast.fresh()
    job = opportunity(cast.org, now_ms() - 1000, slug="cache")
    async with aiohttp.ClientSession() as session:
        async with session.post(
            url + "/v1/records", data=job.wire, headers={"Content-Type": MSGPACK}
        ) as response:
            assert response.status == 201
        path = f"{url}/v1/records/{job.id.hex()}"
        async with session.get(path) as response:
            assert response.status == 200
            etag = response.headers["ETag"]
            assert etag == f'"{job.id.hex()}"'
            assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
            assert response.headers["Vary"] == "Accept"
        async with session.get(path, headers={"If-None-Match": etag}) as response:
            assert response.status == 304 and await response.read() == b""
            assert response.headers["ETag"] == etag
        async with session.get(path, headers={"If-None-Match": f'"{"0" * 64}", W/{etag}'}) as r:
            assert r.status == 304
        async with session.get(path, headers={"If-None-Match": '"other"'}) as response:
            assert response.status == 200
        async with session.get(path, headers={"Accept": MSGPACK}) as response:
            assert await response.read() == job.wire
            wire_tag = response.headers["ETag"]
            assert wire_tag != etag and response.headers["Vary"] == "Accept"
        async with session.get(path, headers={"Accept": MSGPACK, "If-None-Match": wire_tag}) as r:
            assert r.status == 304
        for listing in ("/v1/records", "/v1/opportunities", "/v1/orgs"):
            async with session.get(url + listing) as response:
                assert response.headers["Cache-Control"] == "public, max-age=5", listing
        async with session.get(url + "/v1/stream") as response:
            assert response.headers["Cache-Control"] == "no-store"


async def test_405_allow_and_429_retry_after(tmp_path: Path) -> None:
    home = federation_home(tmp_path, "search", search_rate_limit=0.5, search_rate_burst=2.0)
    home_posts = federation_home(tmp_path, "posts", rate_limit=0.5, rate_burst=2.0)
    searches, posts = await start_processes([home, home_posts])
    async with aiohttp.ClientSession() as session:
        async with session.delete(searches.url + "/v1/records") as response:
            assert response.status == 405
            assert set(response.headers["Allow"].split(",")) >= {"GET", "POST"}
            assert (await response.json())["class"] == "method-not-allowed"
        statuses = []
        for _ in range(4):
            async with session.get(searches.url + "/v1/opportunities?q=engineer") as response:
                statuses.append(response.status)
                policies = response.headers["RateLimit-Policy"].split(", ")
                assert '"search";q=2;w=4' in policies and policies[0].startswith('"address";')
                assert '"search";r=' in response.headers["RateLimit"]
                if response.status == 429:
                    assert int(response.headers["Retry-After"]) >= 1
                    body = await response.json()
                    assert body["class"] == "rate-limited" and "search" in body["detail"]
        assert statuses[:2] == [200, 200] and 429 in statuses[2:]
        async with session.get(searches.url + "/v1/opportunities") as response:
            assert response.status == 200, "listing without a search is not the search policy"
        statuses = []
        for _ in range(6):
            async with session.post(
                posts.url + "/v1/records", data=b"", headers={"Content-Type": MSGPACK}
            ) as response:
                statuses.append(response.status)
                if response.status == 429:
                    assert int(response.headers["Retry-After"]) >= 1
                    assert response.headers["RateLimit"].startswith('"address";r=0;t=')
        assert 429 in statuses[2:]


async def test_a_json_posted_record_gets_the_same_id_as_its_msgpack_form(
    tmp_path: Path,
) -> None:
    (proc,) = await start_processes([federation_home(tmp_path, "solo")])
    url, cast = proc.url, Cast.fresh()
    job = opportunity(cast.org, now_ms() - 1000, slug="json", title="Posted as JSON")
    view = to_json(job)
    del view["id"]  # a developer may leave it out
    async with aiohttp.ClientSession() as session:
        async with session.post(url + "/v1/records", json=view) as response:
            assert response.status == 201, await response.text()
            assert await response.json() == {"id": job.id.hex(), "stored": True}
        async with session.post(
            url + "/v1/records", data=job.wire, headers={"Content-Type": MSGPACK}
        ) as response:
            assert await response.json() == {"id": job.id.hex(), "stored": False}
        async with session.get(
            f"{url}/v1/records/{job.id.hex()}", headers={"Accept": MSGPACK}
        ) as response:
            assert await response.read() == job.wire
        others = [opportunity(cast.org_b, now_ms() - 500 + i, slug=f"b{i}") for i in range(3)]
        async with session.post(url + "/v1/records", json=[to_json(r) for r in others]) as r:
            assert [x["id"] for x in (await r.json())["results"]] == [o.id.hex() for o in others]
        forged = {**to_json(job), "created": job.created + 1}
        del forged["id"]
        async with session.post(url + "/v1/records", json=forged) as response:
            assert response.status == 422  # the signature no longer covers it
            assert (await response.json())["class"] == "signature"
        for bad, klass in ((b"{", "encoding"), (b'{"kind": 1}', "schema")):
            async with session.post(
                url + "/v1/records", data=bad, headers={"Content-Type": "application/json"}
            ) as response:
                assert response.status in (400, 422)
                assert (await response.json())["class"] == klass
        async with session.get(url + "/.well-known/rakuichi") as response:
            known = await response.json()
    assert known["limits"]["record_bytes"] == 65536
    assert known["limits"]["batch_records"] >= 1 and known["limits"]["body_bytes"] > 65536
    assert {"stream", "json-post"} <= set(known["features"]["api"])
    assert known["features"]["protocol_revision"] == 2
