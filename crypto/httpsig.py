"""Node-to-node HTTP Message Signatures (RFC 9421, Ed25519) and Content-Digest (RFC 9530).

Sans-IO: functions over plain request values. The caller passes method, absolute URL, headers,
body and the current time ``now`` in integer seconds; nothing here reads the clock.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from crypto import structured_fields as sf
from crypto.errors import CryptoError, InvalidDid, InvalidKey
from crypto.keys import PublicKey, SigningKey

Headers = Mapping[str, str] | Iterable[tuple[str, str]]

COVERED_COMPONENTS: tuple[str, ...] = ("@method", "@target-uri", "content-digest")
ALG = "ed25519"
MAX_FUTURE_SKEW = 60  # seconds a signature's ``created`` may lie ahead of ``now``

_DERIVED = frozenset({"@method", "@target-uri", "@authority", "@scheme", "@path", "@query"})
_FIELD_NAME = re.compile(r"[a-z0-9!#$%&'*+\-.^_`|~]+")
_OBS_FOLD = re.compile(r"\r?\n[ \t]+")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_DIGESTS = {"sha-256": hashlib.sha256, "sha-512": hashlib.sha512}
_INT_PARAMS = frozenset({"created", "expires"})
_STR_PARAMS = frozenset({"keyid", "alg", "nonce", "tag"})


class HttpSignatureError(CryptoError):
    """Base of the HTTP message signature failures."""


class MissingSignature(HttpSignatureError):
    """The request has no Signature-Input / Signature (or none with the wanted label)."""


class MalformedSignature(HttpSignatureError):
    """Signature headers that do not parse or do not meet Rakuichi's signing profile."""


class StaleSignature(HttpSignatureError):
    """A signature created too long ago, too far in the future, or past its ``expires``."""


class ReplayedSignature(HttpSignatureError):
    """A signature value already accepted within its validity window."""


class ReplayCacheFull(HttpSignatureError):
    """The replay cache holds only live signatures and no room: the request cannot be checked
    for replay now (try again once some expire), rather than forgetting a live one."""


class DigestMismatch(HttpSignatureError):
    """A Content-Digest that is missing, unreadable, or does not match the body."""


# --- Content-Digest (RFC 9530) ---------------------------------------------------------------


def content_digest(body: bytes) -> str:
    """The Content-Digest header value for ``body``: ``sha-256=:<base64>:``."""
    return sf.serialize_dictionary({"sha-256": sf.Item(hashlib.sha256(body).digest())})


def check_content_digest(header: str, body: bytes) -> None:
    """Raise ``DigestMismatch`` unless every sha-256/sha-512 entry of ``header`` matches ``body``.

    At least one of the two must be present; other algorithms are ignored.
    """
    try:
        entries = sf.parse_dictionary(header)
    except sf.StructuredFieldError as e:
        raise DigestMismatch(f"Content-Digest is not a structured dictionary: {e}") from None
    known = [name for name in entries if name in _DIGESTS]
    if not known:
        raise DigestMismatch("Content-Digest has no sha-256 or sha-512 entry")
    for name in known:
        entry = entries[name]
        if not isinstance(entry, sf.Item) or not isinstance(entry.value, bytes):
            raise DigestMismatch(f"Content-Digest {name} entry is not a byte sequence")
        if not hmac.compare_digest(entry.value, _DIGESTS[name](body).digest()):
            raise DigestMismatch(f"Content-Digest {name} does not match the body")


# --- Signature base (RFC 9421 section 2) -----------------------------------------------------


def normalise_headers(headers: Headers) -> dict[str, str]:
    """Lowercase names; strip and unfold values; join repeated fields with ``", "`` (2.1)."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    out: dict[str, list[str]] = {}
    for name, value in pairs:
        out.setdefault(name.lower(), []).append(_OBS_FOLD.sub(" ", value).strip(" \t"))
    return {name: ", ".join(values) for name, values in out.items()}


@dataclass(frozen=True, slots=True)
class Target:
    """The request's target URI in parts, normalised as HTTP does (RFC 9110 section 4.2.3)."""

    scheme: str
    authority: str
    path: str
    query: str | None

    @classmethod
    def parse(cls, url: str) -> Target:
        """Split an absolute ``http(s)`` URL: lowercase scheme and host, no default port."""
        try:
            parts = urlsplit(url)
            host, port = parts.hostname, parts.port
        except ValueError as e:
            raise HttpSignatureError(f"unusable request URL {url!r}: {e}") from None
        if not parts.scheme or not host:
            raise HttpSignatureError(f"request URL is not absolute: {url!r}")
        if "@" in parts.netloc:
            raise HttpSignatureError(f"request URL must not carry userinfo: {url!r}")
        scheme = parts.scheme.lower()
        authority = f"[{host}]" if ":" in host else host
        if port is not None and port != _DEFAULT_PORTS.get(scheme):
            authority += f":{port}"
        query = parts.query if "?" in url.split("#", 1)[0] else None
        return cls(scheme, authority, parts.path or "/", query)

    @property
    def uri(self) -> str:
        """The ``@target-uri`` value: scheme, authority, path and query (no fragment)."""
        query = "" if self.query is None else "?" + self.query
        return f"{self.scheme}://{self.authority}{self.path}{query}"


def _check_component_id(name: object) -> str:
    if not isinstance(name, str) or isinstance(name, sf.Token):
        raise MalformedSignature(f"a covered component id is a string, not {name!r}")
    if name.startswith("@"):
        if name not in _DERIVED:
            raise MalformedSignature(f"unsupported derived component {name!r}")
    elif not _FIELD_NAME.fullmatch(name):
        raise MalformedSignature(f"covered component {name!r} is not a lowercase field name")
    return name


@dataclass(frozen=True, slots=True)
class SignatureParams:
    """The covered components and signature parameters of one signature, in wire order."""

    components: tuple[str, ...]
    params: tuple[tuple[str, sf.BareItem], ...]

    def __post_init__(self) -> None:
        for name in self.components:
            _check_component_id(name)
        if len(set(self.components)) != len(self.components):
            raise MalformedSignature(f"covered components repeat: {self.components}")
        for key, value in self.params:
            if key in _INT_PARAMS and type(value) is not int:
                raise MalformedSignature(f"signature parameter {key} is not an integer")
            if key in _STR_PARAMS and (type(value) is not str):
                raise MalformedSignature(f"signature parameter {key} is not a string")

    @classmethod
    def make(
        cls,
        components: Sequence[str],
        *,
        created: int | None = None,
        keyid: str | None = None,
        alg: str | None = None,
        expires: int | None = None,
        nonce: str | None = None,
        tag: str | None = None,
    ) -> SignatureParams:
        """Build params in the order created, keyid, alg, expires, nonce, tag (absent skipped)."""
        given = {"created": created, "keyid": keyid, "alg": alg, "expires": expires}
        given |= {"nonce": nonce, "tag": tag}
        return cls(tuple(components), tuple((k, v) for k, v in given.items() if v is not None))

    @classmethod
    def from_member(cls, member: sf.Member) -> SignatureParams:
        """Read a parsed Signature-Input entry (an inner list of strings with parameters)."""
        if not isinstance(member, sf.InnerList):
            raise MalformedSignature("Signature-Input entry is not an inner list")
        for item in member.items:
            if item.params:
                raise MalformedSignature(f"component parameters are unsupported: {item.value!r}")
        components = tuple(_check_component_id(item.value) for item in member.items)
        return cls(components, tuple(member.params.items()))

    def get(self, key: str) -> sf.BareItem | None:
        """The value of parameter ``key``, or ``None``."""
        return dict(self.params).get(key)

    def serialize(self) -> str:
        """The inner list as in Signature-Input and ``@signature-params``."""
        inner = sf.InnerList([sf.Item(c) for c in self.components], dict(self.params))
        try:
            return sf.serialize_member(inner)
        except sf.StructuredFieldError as e:
            raise MalformedSignature(f"signature parameters cannot be serialised: {e}") from None


def _component_value(name: str, method: str, target: Target, fields: Mapping[str, str]) -> str:
    derived = {
        "@method": method,
        "@target-uri": target.uri,
        "@authority": target.authority,
        "@scheme": target.scheme,
        "@path": target.path,
        "@query": "?" + (target.query or ""),
    }
    if name in derived:
        return derived[name]
    if name not in fields:
        raise MalformedSignature(f"covered header field {name!r} is absent from the request")
    return fields[name]


def signature_base(
    *, method: str, url: str | Target, headers: Headers, params: SignatureParams
) -> str:
    """The signature base of RFC 9421 section 2.5: one line per component, then the params."""
    target = url if isinstance(url, Target) else Target.parse(url)
    fields = normalise_headers(headers)
    lines = []
    for name in params.components:
        value = _component_value(name, method, target, fields)
        if any(not (" " <= c <= "~" or c == "\t") for c in value):
            raise MalformedSignature(f"value of {name!r} is not printable ASCII")
        lines.append(f'"{name}": {value}')
    lines.append(f'"@signature-params": {params.serialize()}')
    return "\n".join(lines)


def verify_signature_base(public_key: PublicKey, base: str, signature: bytes) -> None:
    """Verify an Ed25519 signature over a signature base; raises ``InvalidSignature``."""
    if not base.isascii():
        raise MalformedSignature("a signature base is ASCII")
    public_key.verify(signature, base.encode("ascii"))


# --- Signature-Input / Signature headers ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParsedSignature:
    """One signature read from the Signature-Input and Signature headers."""

    label: str
    params: SignatureParams
    signature: bytes


def _parse_field(name: str, value: str) -> dict[str, sf.Member]:
    try:
        return sf.parse_dictionary(value)
    except sf.StructuredFieldError as e:
        raise MalformedSignature(f"{name} is not a structured dictionary: {e}") from None


def parse_signature(headers: Headers, label: str | None = None) -> ParsedSignature:
    """Read the signature labelled ``label`` (default: the first in Signature-Input)."""
    fields = normalise_headers(headers)
    for name in ("Signature-Input", "Signature"):
        if not fields.get(name.lower()):
            raise MissingSignature(f"request has no {name} header")
    inputs = _parse_field("Signature-Input", fields["signature-input"])
    signatures = _parse_field("Signature", fields["signature"])
    if not inputs:
        raise MissingSignature("Signature-Input has no entries")
    if label is None:
        label = next(iter(inputs))
    if label not in inputs:
        raise MissingSignature(f"Signature-Input has no entry labelled {label!r}")
    if label not in signatures:
        raise MissingSignature(f"Signature has no entry labelled {label!r}")
    value = signatures[label]
    if not isinstance(value, sf.Item) or not isinstance(value.value, bytes):
        raise MalformedSignature(f"Signature entry {label!r} is not a byte sequence")
    return ParsedSignature(label, SignatureParams.from_member(inputs[label]), value.value)


# --- Rakuichi's profile: sign and verify --------------------------------------------------------


def sign_request(
    key: SigningKey,
    *,
    method: str,
    url: str,
    headers: Headers,
    body: bytes,
    now: int,
    label: str = "sig1",
    nonce: str | None = None,
) -> dict[str, str]:
    """Headers to set on the request: Content-Digest, Signature-Input and Signature.

    Covers ``@method``, ``@target-uri`` and ``content-digest`` with ``created=now``, the node's
    did:key as ``keyid``, ``alg="ed25519"`` and ``nonce`` when given (RFC 9421 2.3: two
    identical requests in the same second then differ). The returned headers replace any of
    that name.
    """
    sf.serialize_dictionary({label: sf.Item(True)})  # a bad label raises StructuredFieldError
    digest = content_digest(body)
    fields = normalise_headers(headers)
    fields["content-digest"] = digest
    params = SignatureParams.make(
        COVERED_COMPONENTS, created=now, keyid=key.public_key.did, alg=ALG, nonce=nonce
    )
    base = signature_base(method=method, url=url, headers=fields, params=params)
    signature = key.sign(base.encode("ascii"))
    return {
        "Content-Digest": digest,
        "Signature-Input": f"{label}={params.serialize()}",
        "Signature": sf.serialize_dictionary({label: sf.Item(signature)}),
    }


def _check_coverage(components: tuple[str, ...]) -> None:
    covered = set(components)
    whole_target = "@target-uri" in covered or {"@authority", "@path", "@query"} <= covered
    missing = [c for c in ("@method", "content-digest") if c not in covered]
    if not whole_target:
        missing.append("@target-uri")
    if missing:
        raise MalformedSignature(f"signature does not cover {', '.join(missing)}")


def _check_time(params: SignatureParams, now: int, max_age: int) -> int:
    created = params.get("created")
    if not isinstance(created, int):
        raise MalformedSignature("signature has no created parameter")
    if now - created > max_age:
        raise StaleSignature(f"signature created {now - created} s ago, over max_age {max_age} s")
    if created - now > MAX_FUTURE_SKEW:
        raise StaleSignature(f"signature created {created - now} s in the future")
    expires = params.get("expires")
    if isinstance(expires, int) and now > expires:
        raise StaleSignature(f"signature expired {now - expires} s ago")
    return created


def verify_request(
    *,
    method: str,
    url: str,
    headers: Headers,
    body: bytes,
    now: int,
    max_age: int = 300,
    replay_cache: ReplayCache | None,
    label: str | None = None,
) -> PublicKey:
    """Verify a request signed by :func:`sign_request`; return the signer's key.

    Raises a ``HttpSignatureError`` subclass, or ``InvalidSignature`` for a bad signature.
    A verified signature is recorded in ``replay_cache`` until it goes stale.
    """
    fields = normalise_headers(headers)
    parsed = parse_signature(fields, label)
    params = parsed.params
    _check_coverage(params.components)
    alg = params.get("alg")
    if alg is not None and alg != ALG:
        raise MalformedSignature(f"unsupported alg {alg!r}, expected {ALG!r}")
    created = _check_time(params, now, max_age)
    keyid = params.get("keyid")
    if not isinstance(keyid, str):
        raise MalformedSignature("signature has no keyid parameter")
    try:
        public_key = PublicKey.from_did(keyid)
    except (InvalidDid, InvalidKey) as e:
        raise MalformedSignature(f"keyid is not a usable Ed25519 did:key: {e}") from None
    if "content-digest" not in fields:
        raise DigestMismatch("request has no Content-Digest header")
    check_content_digest(fields["content-digest"], body)
    base = signature_base(method=method, url=url, headers=fields, params=params)
    verify_signature_base(public_key, base, parsed.signature)
    if replay_cache is not None and replay_cache.seen(
        parsed.signature, expires=created + max_age, now=now
    ):
        raise ReplayedSignature(f"signature {parsed.label!r} was already used")
    return public_key


# --- Replay cache --------------------------------------------------------------------------------


class ReplayCache:
    """Signature values seen recently; bounded, in memory, and pure (time comes in as ``now``).

    Entries leave in insertion order once expired. A live entry is never forgotten: when the
    cache is full of live entries, a new signature is refused with ``ReplayCacheFull`` (else
    a flood of fresh signatures would push out one that could then be replayed). Insertion
    order approximates expiry order, so an expired entry behind a live one may stay a little
    longer; it still counts as absent. Each call is O(1) amortised.
    """

    __slots__ = ("_entries", "max_entries")

    def __init__(self, max_entries: int = 100_000) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._entries: OrderedDict[bytes, int] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def seen(self, key: bytes, *, expires: int, now: int) -> bool:
        """Return True if ``key`` is recorded and not expired; else record it until ``expires``
        (raises ``ReplayCacheFull`` when there is no room without forgetting a live entry)."""
        entries = self._entries
        while entries:
            oldest_expiry = next(iter(entries.values()))
            if oldest_expiry >= now:
                break
            entries.popitem(last=False)
        recorded = entries.get(key)
        if recorded is not None:
            if recorded >= now:
                return True
            del entries[key]
        if len(entries) >= self.max_entries:
            raise ReplayCacheFull(f"replay cache full ({self.max_entries} live signatures)")
        entries[key] = expires
        return False
