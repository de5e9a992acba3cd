"""The one module that knows the HTTP routes of a node, as a client sees them.

Used by the command line, by members' tools and by replication. Every call has connect and
total timeouts; errors come back as ``TransportError`` (try later) or ``RemoteRefusal`` (the
node answered with a problem document: do not retry the same thing).
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
import msgpack
from yarl import URL

from crypto import CryptoError, SigningKey, httpsig, raw_from_did
from node.config import FederationConfig

MSGPACK = "application/msgpack"
_SAFE_CLASS = re.compile(r"[a-z][a-z0-9-]{0,39}")


class TransportError(Exception):
    """The node could not be reached or did not answer in time: worth trying again later."""


def well_known_keys(url: str, answer: dict[str, Any]) -> tuple[bytes, bytes]:
    """The raw node and organisation keys a peer's well-known document names (did:key)."""
    node_key, org = answer.get("node"), answer.get("org")
    if not isinstance(node_key, str) or not isinstance(org, str):
        raise TransportError(f"{url}: well-known document lacks node/org")
    try:
        return raw_from_did(node_key), raw_from_did(org)
    except CryptoError as exc:
        raise TransportError(f"{url}: well-known document: {exc}") from None


def listed_peers(entries: list[dict[str, Any]]) -> list[tuple[str, bytes | None]]:
    """The (URL, raw organisation key or None) of each entry of a peer's ``/v1/peers`` list
    that has a URL; an ``org`` that is not a did:key is taken as none."""
    listed: list[tuple[str, bytes | None]] = []
    for entry in entries:
        url, org = entry.get("url"), entry.get("org")
        if not isinstance(url, str):
            continue
        try:
            raw = raw_from_did(org) if isinstance(org, str) else None
        except CryptoError:
            raw = None
        listed.append((url, raw))
    return listed


@dataclass
class RemoteRefusal(Exception):
    """The node answered with an error (a problem document)."""

    status: int
    klass: str
    detail: str

    def __str__(self) -> str:
        return f"{self.status} {self.klass}: {self.detail}"

    def summary(self) -> str:
        """Status and class only: what may be shown to others (``/v1/peers``), never the
        detail a remote wrote."""
        klass = self.klass if _SAFE_CLASS.fullmatch(self.klass) else "error"
        return f"HTTP {self.status} {klass}"


def sign_request(
    key: SigningKey, *, method: str, url: str, headers: dict[str, str], body: bytes, now: int
) -> dict[str, str]:
    """``crypto.httpsig.sign_request`` with a random ``nonce`` parameter (RFC 9421 2.3).

    Without it two identical requests signed in the same second (the sender and the
    anti-entropy loop asking for the same well-known document, a repeated sync message) carry
    the same signature, and the peer's replay cache refuses the second one with 401.
    """
    return httpsig.sign_request(
        key,
        method=method,
        url=url,
        headers=headers,
        body=body,
        now=now,
        nonce=secrets.token_urlsafe(12),
    )


def timeouts(
    total: float = FederationConfig.request_timeout,
    connect: float = FederationConfig.connect_timeout,
) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=total, connect=connect, sock_connect=connect)


class NodeClient:
    """A client of one node's HTTP API."""

    def __init__(
        self,
        base_url: str,
        session: aiohttp.ClientSession,
        signer: SigningKey | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session
        self.signer = signer
        self.now = now
        self.bytes_sent = 0
        self.bytes_received = 0
        self.round_trips = 0

    async def _request(
        self,
        method: str,
        path: str,
        *,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        max_answer: int = 64 * 1024 * 1024,
    ) -> tuple[int, str, bytes]:
        url = self.base_url + path + (f"?{urlencode(params)}" if params else "")
        headers = dict(headers or {})
        if self.signer is not None:
            headers.update(
                sign_request(
                    self.signer,
                    method=method,
                    url=url,
                    headers=headers,
                    body=data or b"",
                    now=int(self.now()),
                )
            )
        self.round_trips += 1
        self.bytes_sent += len(data or b"")
        try:
            # sent exactly as signed: yarl would otherwise re-quote the query (%3A -> :)
            target = URL(url, encoded=True) if self.signer is not None else url
            async with self.session.request(method, target, data=data, headers=headers) as response:
                if (response.content_length or 0) > max_answer:
                    raise TransportError(f"{self.base_url}: answer over {max_answer} bytes")
                # read() gives what has arrived so far, not the whole body: read to the end
                chunks: list[bytes] = []
                size = 0
                while chunk := await response.content.read(max_answer + 1 - size):
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > max_answer:
                        raise TransportError(f"{self.base_url}: answer over {max_answer} bytes")
                body = b"".join(chunks)
                self.bytes_received += len(body)
                return response.status, response.content_type, body
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise TransportError(f"{self.base_url}: {type(exc).__name__}: {exc}") from None

    @staticmethod
    def _refusal(status: int, content_type: str, body: bytes) -> RemoteRefusal:
        try:
            problem = json.loads(body)
            return RemoteRefusal(status, problem.get("class", "error"), problem.get("detail", ""))
        except (ValueError, AttributeError):
            return RemoteRefusal(status, "error", body[:200].decode("utf-8", "replace"))

    async def _json(self, path: str, params: dict[str, str] | None = None) -> Any:
        status, ctype, body = await self._request("GET", path, params=params)
        if status != 200:
            raise self._refusal(status, ctype, body)
        try:
            return json.loads(body)
        except ValueError:
            raise TransportError(f"{self.base_url}{path}: answer is not JSON") from None

    async def identity(self) -> dict[str, Any]:
        answer = await self._json("/.well-known/rakuichi")
        if not isinstance(answer, dict):
            raise TransportError(f"{self.base_url}: well-known document is not a JSON object")
        return answer

    async def post_record(self, wire: bytes) -> dict[str, Any]:
        """Submit one record; returns ``{"id", "stored"}`` or raises ``RemoteRefusal``."""
        status, ctype, body = await self._request(
            "POST", "/v1/records", data=wire, headers={"Content-Type": MSGPACK}
        )
        if status not in (200, 201):
            raise self._refusal(status, ctype, body)
        try:
            result = json.loads(body)
        except ValueError:
            result = None
        if not isinstance(result, dict):
            raise TransportError(f"{self.base_url}: /v1/records answer is not a JSON object")
        return result

    async def post_records(
        self, wires: list[bytes], headers: dict[str, str] | None = None
    ) -> list[dict[str, Any]]:
        """Submit a batch; one result per record, in order."""
        payload = msgpack.packb(wires, use_bin_type=True)
        status, ctype, body = await self._request(
            "POST",
            "/v1/records",
            data=payload,
            headers={"Content-Type": MSGPACK, **(headers or {})},
        )
        if status != 200:
            raise self._refusal(status, ctype, body)
        try:
            results = json.loads(body)["results"]
        except (ValueError, KeyError, TypeError):
            results = None
        if (
            not isinstance(results, list)
            or len(results) != len(wires)
            or not all(isinstance(r, dict) for r in results)
        ):
            raise TransportError(
                f"{self.base_url}: /v1/records answer is not one result object per record"
            )
        return results

    async def get_record_wire(self, record_id: bytes) -> bytes | None:
        """The exact wire bytes of a record, or None if the node does not serve it."""
        status, ctype, body = await self._request(
            "GET", f"/v1/records/{record_id.hex()}", headers={"Accept": MSGPACK}
        )
        if status == 200:
            return body
        if status in (404, 410):
            return None
        raise self._refusal(status, ctype, body)

    async def get_record_json(self, record_id: bytes) -> dict[str, Any]:
        return await self._json(f"/v1/records/{record_id.hex()}")

    async def list_records(self, **query: str) -> dict[str, Any]:
        return await self._json("/v1/records", params=query)

    async def opportunities(self, **query: str) -> dict[str, Any]:
        return await self._json("/v1/opportunities", params=query)

    async def sync(self, message: bytes) -> bytes:
        """One reconciliation round: send our message, get the peer's answer."""
        status, ctype, body = await self._request(
            "POST",
            "/v1/sync",
            data=message,
            headers={"Content-Type": MSGPACK},
            max_answer=4 * 1024 * 1024,
        )
        if status != 200:
            raise self._refusal(status, ctype, body)
        return body

    async def fetch(self, ids: list[bytes]) -> list[bytes]:
        """Wire bytes of the records the peer holds among ``ids`` (unknown ones left out)."""
        payload = msgpack.packb(ids, use_bin_type=True)
        status, ctype, body = await self._request(
            "POST", "/v1/records/fetch", data=payload, headers={"Content-Type": MSGPACK}
        )
        if status != 200:
            raise self._refusal(status, ctype, body)
        try:
            wires = msgpack.unpackb(
                body,
                max_array_len=len(ids),
                max_bin_len=65_536,
                max_str_len=0,
                max_map_len=0,
                max_ext_len=0,
            )
        except (ValueError, msgpack.UnpackException) as exc:
            raise TransportError(
                f"{self.base_url}: fetch answer is not an array of bin: {exc}"
            ) from None
        if not isinstance(wires, list) or not all(isinstance(w, bytes) for w in wires):
            raise TransportError(f"{self.base_url}: fetch answer is not an array of bin")
        return wires

    async def peers(self) -> list[dict[str, Any]]:
        answer = await self._json("/v1/peers")
        peers = answer.get("peers") if isinstance(answer, dict) else None
        if not isinstance(peers, list):
            raise TransportError(f"{self.base_url}: /v1/peers answer has no peers list")
        return [p for p in peers if isinstance(p, dict)]

    # Alliances, members and reputation: what organisations' and members' tools ask.

    async def post_draft(self, wire: bytes, private: bool = False) -> dict[str, Any]:
        """Leave an alliance signed by the node's organisation for the member to co-sign;
        returns ``{"id", "url", "draft", "missing", "private"}``. ``private``: the co-signed
        alliance and what names it stay with the two parties (never federated)."""
        status, ctype, body = await self._request(
            "POST",
            "/v1/drafts",
            data=wire,
            headers={"Content-Type": MSGPACK},
            params={"private": "true"} if private else None,
        )
        if status != 201:
            raise self._refusal(status, ctype, body)
        return json.loads(body)

    async def get_draft_json(self, draft_id: bytes) -> dict[str, Any]:
        """``GET /v1/drafts/{id}``: the draft's JSON (``private``, ``signed``, ``missing``)."""
        answer = await self._json(f"/v1/drafts/{draft_id.hex()}")
        if not isinstance(answer, dict):
            raise TransportError(f"{self.base_url}: the draft answer is not a JSON object")
        return answer

    async def get_draft_wire(self, draft_id: bytes) -> bytes:
        """The wire bytes of a draft (signatures collected so far); raises if not served."""
        status, ctype, body = await self._request(
            "GET", f"/v1/drafts/{draft_id.hex()}", headers={"Accept": MSGPACK}
        )
        if status != 200:
            raise self._refusal(status, ctype, body)
        return body

    async def member(self, did: str) -> dict[str, Any]:
        """``GET /v1/members/{did}``: profile, alliances, organisations of alumni."""
        return await self._json(f"/v1/members/{did}")

    async def member_drafts(self, did: str) -> list[dict[str, Any]]:
        """``GET /v1/members/{did}/drafts`` (sign with the member's key: ``signer``)."""
        answer = await self._json(f"/v1/members/{did}/drafts")
        drafts = answer.get("drafts") if isinstance(answer, dict) else None
        if not isinstance(drafts, list):
            raise TransportError(f"{self.base_url}: the drafts answer has no drafts list")
        return [d for d in drafts if isinstance(d, dict)]

    async def key_history(self, did: str) -> dict[str, Any]:
        """``GET /v1/keys/{did}``: the identity a did names and its key history."""
        result: dict[str, Any] = await self._json(f"/v1/keys/{did}")
        return result

    async def org(self, did: str) -> dict[str, Any]:
        """``GET /v1/orgs/{did}``: profile, counts and opportunities (404 if unknown)."""
        return await self._json(f"/v1/orgs/{did}")

    async def alumni(self, org_did: str) -> dict[str, Any]:
        return await self._json(f"/v1/orgs/{org_did}/alumni")

    async def credential(self, record_id: bytes) -> dict[str, Any]:
        """``GET /v1/records/{id}/credential``: the W3C credential of an attestation."""
        answer = await self._json(f"/v1/records/{record_id.hex()}/credential")
        if not isinstance(answer, dict):
            raise TransportError(f"{self.base_url}: the credential is not a JSON object")
        return answer

    async def verify_bundle(self, data: bytes) -> dict[str, Any]:
        """``POST /v1/reputation/verify``: the node's check report; it stores nothing."""
        status, ctype, body = await self._request(
            "POST",
            "/v1/reputation/verify",
            data=data,
            headers={"Content-Type": "application/json"},
        )
        if status != 200:
            raise self._refusal(status, ctype, body)
        try:
            answer = json.loads(body)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise TransportError(f"{self.base_url}: the check report is not a JSON object")
        return answer

    async def reputation(self, did: str) -> dict[str, Any]:
        return await self._json(f"/v1/reputation/{did}")

    async def bundle(
        self,
        did: str,
        claims: Sequence[str] = (),
        issuers: Sequence[str] = (),
        skills: Sequence[str] = (),
    ) -> bytes:
        """The bytes of a portable bundle of attestations about ``did`` (filters repeat)."""
        query = urlencode(
            [
                *(("claim", c) for c in claims),
                *(("issuer", i) for i in issuers),
                *(("skill", s) for s in skills),
            ]
        )
        path = f"/v1/reputation/{did}/bundle" + (f"?{query}" if query else "")
        status, ctype, body = await self._request("GET", path)
        if status != 200:
            raise self._refusal(status, ctype, body)
        return body
