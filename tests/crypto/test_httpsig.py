"""HTTP message signatures (RFC 9421) and Content-Digest (RFC 9530) in crypto.httpsig."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import structured_fields as sf
from crypto.didkey import b58encode
from crypto.errors import CryptoError, InvalidSignature
from crypto.httpsig import (
    DigestMismatch,
    HttpSignatureError,
    MalformedSignature,
    MissingSignature,
    ReplayCache,
    ReplayCacheFull,
    ReplayedSignature,
    SignatureParams,
    StaleSignature,
    Target,
    check_content_digest,
    content_digest,
    parse_signature,
    sign_request,
    signature_base,
    verify_request,
    verify_signature_base,
)
from crypto.keys import PublicKey, SigningKey

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "standards.json").read_text())
RFC9421 = {name: v for name, v in VECTORS.items() if name.startswith("rfc9421_")}

NOW = 1_700_000_000
URL = "https://node-b.example:8443/v1/records?since=42"
BODY = b'{"records": []}'


def parse_request(text: str) -> tuple[str, str, list[tuple[str, str]], bytes]:
    """Method, absolute URL (https, from Host), header pairs and body of an HTTP/1.1 message."""
    head, _, body = text.partition("\r\n\r\n")
    request_line, *header_lines = head.split("\r\n")
    method, target, _version = request_line.split(" ")
    headers = [(n, v) for n, _, v in (line.partition(":") for line in header_lines)]
    host = next(v.strip() for n, v in headers if n.lower() == "host")
    return method, f"https://{host}{target}", headers, body.encode()


def vector_headers(vector: dict[str, str]) -> list[tuple[str, str]]:
    _, _, headers, _ = parse_request(vector["request"])
    return [
        *headers,
        ("Signature-Input", vector["signature_input"]),
        ("Signature", vector["signature"]),
    ]


@pytest.mark.parametrize("name", sorted(RFC9421))
def test_rfc9421_vector_signature_base(name: str) -> None:
    vector = RFC9421[name]
    method, url, _, _ = parse_request(vector["request"])
    parsed = parse_signature(vector_headers(vector))
    assert parsed.params.get("keyid") == vector["key_id"]
    assert f"{parsed.label}={parsed.params.serialize()}" == vector["signature_input"]
    base = signature_base(
        method=method, url=url, headers=vector_headers(vector), params=parsed.params
    )
    assert base == vector["signature_base"]


@pytest.mark.parametrize("name", sorted(RFC9421))
def test_rfc9421_vector_sign_and_verify(name: str) -> None:
    vector = RFC9421[name]
    key = SigningKey.from_seed(bytes.fromhex(vector["seed_hex"]))
    public = PublicKey.from_bytes(bytes.fromhex(vector["public_key_hex"]))
    assert key.public_key == public
    parsed = parse_signature(vector_headers(vector))
    signature = key.sign(vector["signature_base"].encode("ascii"))
    assert sf.serialize_dictionary({parsed.label: sf.Item(signature)}) == vector["signature"]
    assert parsed.signature == signature
    verify_signature_base(public, vector["signature_base"], parsed.signature)
    with pytest.raises(InvalidSignature):
        verify_signature_base(public, vector["signature_base"] + " ", parsed.signature)


@pytest.mark.parametrize("name", sorted(RFC9421))
def test_rfc9421_vector_content_digest(name: str) -> None:
    _, _, headers, body = parse_request(RFC9421[name]["request"])
    digest = next(v.strip() for n, v in headers if n.lower() == "content-digest")
    check_content_digest(digest, body)  # sha-512 alone is accepted
    with pytest.raises(DigestMismatch, match="sha-512"):
        check_content_digest(digest, body + b" ")


# --- Content-Digest ---------------------------------------------------------------------------


def test_content_digest_form_and_check() -> None:
    value = content_digest(b"")
    assert value == "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:"
    check_content_digest(value, b"")
    check_content_digest(value + ", md5=:AAAA:", b"")  # unknown algorithms are ignored
    with pytest.raises(DigestMismatch, match="sha-256 does not match"):
        check_content_digest(value, b"x")


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("md5=:AAAA:", "no sha-256 or sha-512"),
        ("", "no sha-256 or sha-512"),
        ("sha-256=abc", "not a byte sequence"),
        ("sha-256=:!!:", "not a structured dictionary"),
    ],
)
def test_content_digest_rejects(header: str, message: str) -> None:
    with pytest.raises(DigestMismatch, match=message):
        check_content_digest(header, b"")


def test_content_digest_both_algorithms_must_match() -> None:
    bad512 = "sha-512=:" + base64.b64encode(bytes(64)).decode() + ":"
    with pytest.raises(DigestMismatch, match="sha-512"):
        check_content_digest(f"{content_digest(BODY)}, {bad512}", BODY)


# --- Signature base builder -------------------------------------------------------------------


def test_target_normalisation() -> None:
    t = Target.parse("HTTPS://Node-B.Example:443/a%20b?x=1&y=#frag")
    assert (t.scheme, t.authority, t.path, t.query) == (
        "https",
        "node-b.example",
        "/a%20b",
        "x=1&y=",
    )
    assert t.uri == "https://node-b.example/a%20b?x=1&y="
    assert Target.parse("http://[::1]:8080").uri == "http://[::1]:8080/"
    assert Target.parse("http://h/p?").uri == "http://h/p?"
    for bad in ("/relative", "http://user@h/", "http://h:99999/"):
        with pytest.raises(HttpSignatureError):
            Target.parse(bad)


def test_signature_base_derived_and_fields() -> None:
    params = SignatureParams.make(
        ["@method", "@target-uri", "@authority", "@scheme", "@path", "@query", "x-multi"],
        created=1,
        keyid="k",
        alg="ed25519",
        expires=2,
        nonce="n",
        tag="t",
    )
    headers = [("X-Multi", " a "), ("x-multi", "b\r\n  c")]
    base = signature_base(method="GET", url="http://H:80/p", headers=headers, params=params)
    assert base.split("\n") == [
        '"@method": GET',
        '"@target-uri": http://h/p',
        '"@authority": h',
        '"@scheme": http',
        '"@path": /p',
        '"@query": ?',
        '"x-multi": a, b c',
        '"@signature-params": ("@method" "@target-uri" "@authority" "@scheme" "@path" "@query"'
        ' "x-multi");created=1;keyid="k";alg="ed25519";expires=2;nonce="n";tag="t"',
    ]


@pytest.mark.parametrize(
    ("components", "headers", "message"),
    [
        (["@method", "@method"], {}, "repeat"),
        (["date"], {}, "absent"),
        (["Date"], {"Date": "x"}, "lowercase field name"),
        (["@request-target"], {}, "unsupported derived component"),
        (["@signature-params"], {}, "unsupported derived component"),
        (["x-h"], {"x-h": "a\nb"}, "not printable ASCII"),
        (["x-h"], {"x-h": "caf\u00e9"}, "not printable ASCII"),
    ],
)
def test_signature_base_rejects(
    components: list[str], headers: dict[str, str], message: str
) -> None:
    with pytest.raises(MalformedSignature, match=message):
        params = SignatureParams.make(components, created=1)
        signature_base(method="GET", url=URL, headers=headers, params=params)


# --- Sign and verify ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey.from_seed(bytes(range(32)))


def signed(
    key: SigningKey,
    *,
    method: str = "POST",
    url: str = URL,
    body: bytes = BODY,
    now: int = NOW,
    label: str = "sig1",
) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    return headers | sign_request(
        key, method=method, url=url, headers=headers, body=body, now=now, label=label
    )


def verify(
    headers: dict[str, str] | list[tuple[str, str]],
    *,
    method: str = "POST",
    url: str = URL,
    body: bytes = BODY,
    now: int = NOW,
    cache: ReplayCache | None = None,
) -> PublicKey:
    return verify_request(
        method=method, url=url, headers=headers, body=body, now=now, replay_cache=cache
    )


def test_sign_request_headers(key: SigningKey) -> None:
    out = sign_request(key, method="POST", url=URL, headers={}, body=BODY, now=NOW)
    assert set(out) == {"Content-Digest", "Signature-Input", "Signature"}
    assert out["Content-Digest"] == content_digest(BODY)
    assert out["Signature-Input"] == (
        'sig1=("@method" "@target-uri" "content-digest")'
        f';created={NOW};keyid="{key.public_key.did}";alg="ed25519"'
    )
    assert out["Signature"].startswith("sig1=:") and out["Signature"].endswith(":")


def test_a_nonce_makes_two_identical_requests_differ(key: SigningKey) -> None:
    cache = ReplayCache()
    headers = {"Content-Type": "application/json"}
    first, second = (
        headers
        | sign_request(key, method="POST", url=URL, headers=headers, body=BODY, now=NOW, nonce=n)
        for n in ("n-one", "n-two")
    )
    assert first["Signature-Input"].endswith(';alg="ed25519";nonce="n-one"')
    assert first["Signature"] != second["Signature"]
    assert verify(first, cache=cache) == verify(second, cache=cache) == key.public_key


def test_round_trip(key: SigningKey) -> None:
    cache = ReplayCache()
    assert verify(signed(key), cache=cache) == key.public_key
    lowered = {k.lower(): v for k, v in signed(key, method="GET", label="other").items()}
    assert verify(lowered, method="GET", now=NOW + 300) == key.public_key
    # the verifier's view of the URL may differ in case and default port only
    assert verify(signed(key, url="https://h.example/x"), url="HTTPS://H.example:443/x")


def test_tampered_body(key: SigningKey) -> None:
    with pytest.raises(DigestMismatch, match="sha-256 does not match the body"):
        verify(signed(key), body=BODY + b" ")


def test_digest_header_swapped_with_body(key: SigningKey) -> None:
    headers = signed(key) | {"Content-Digest": content_digest(b"other")}
    with pytest.raises(InvalidSignature):
        verify(headers, body=b"other")


def test_missing_content_digest(key: SigningKey) -> None:
    headers = signed(key)
    del headers["Content-Digest"]
    with pytest.raises(DigestMismatch, match="no Content-Digest"):
        verify(headers)


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("PUT", URL),
        ("post", URL),
        ("POST", URL.replace("since=42", "since=43")),
        ("POST", URL.replace("/records", "/record")),
        ("POST", URL.replace("node-b", "node-c")),
        ("POST", URL.replace(":8443", "")),
        ("POST", URL.replace("https", "http")),
    ],
)
def test_tampered_method_or_url(key: SigningKey, method: str, url: str) -> None:
    with pytest.raises(InvalidSignature):
        verify(signed(key), method=method, url=url)


@pytest.mark.parametrize(
    ("now", "ok"),
    [(NOW + 300, True), (NOW + 301, False), (NOW - 60, True), (NOW - 61, False)],
)
def test_created_window(key: SigningKey, now: int, ok: bool) -> None:
    if ok:
        verify(signed(key), now=now)
    else:
        with pytest.raises(StaleSignature, match="created"):
            verify(signed(key), now=now)


def test_expires_parameter(key: SigningKey) -> None:
    headers = resigned(key, signed(key), expires=NOW + 10)
    verify(headers, now=NOW + 10)
    with pytest.raises(StaleSignature, match="expired"):
        verify(headers, now=NOW + 11)


def test_replay(key: SigningKey) -> None:
    cache = ReplayCache()
    headers = signed(key)
    verify(headers, cache=cache)
    with pytest.raises(ReplayedSignature, match="already used"):
        verify(headers, now=NOW + 5, cache=cache)
    relabelled = {k: v.replace("sig1=", "again=", 1) for k, v in headers.items()}
    with pytest.raises(ReplayedSignature):
        verify(relabelled, now=NOW + 5, cache=cache)
    verify(signed(key, now=NOW + 1), now=NOW + 5, cache=cache)  # a fresh signature passes


def test_failed_verification_is_not_cached(key: SigningKey) -> None:
    cache = ReplayCache()
    headers = signed(key)
    with pytest.raises(InvalidSignature):
        verify(headers, method="PUT", cache=cache)
    assert len(cache) == 0
    verify(headers, cache=cache)


@pytest.mark.parametrize("drop", ["Signature", "Signature-Input"])
def test_missing_signature_headers(key: SigningKey, drop: str) -> None:
    headers = signed(key)
    del headers[drop]
    with pytest.raises(MissingSignature, match=f"no {drop} header"):
        verify(headers)


def test_missing_label(key: SigningKey) -> None:
    headers = signed(key)
    headers["Signature"] = headers["Signature"].replace("sig1=", "sig2=")
    with pytest.raises(MissingSignature, match="Signature has no entry labelled 'sig1'"):
        verify(headers)
    with pytest.raises(MissingSignature, match="labelled 'nope'"):
        verify_request(
            method="POST",
            url=URL,
            headers=signed(key),
            body=BODY,
            now=NOW,
            replay_cache=None,
            label="nope",
        )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("Signature-Input", "garbage garbage", "not a structured dictionary"),
        ("Signature-Input", 'sig1=("@method"', "not a structured dictionary"),
        ("Signature-Input", "sig1=1", "not an inner list"),
        (
            "Signature-Input",
            'sig1=("@method" "@target-uri" "content-digest");created="1"',
            "created is not an integer",
        ),
        (
            "Signature-Input",
            'sig1=("@method" "@target-uri" "content-digest";sf);created=1',
            "component parameters",
        ),
        ("Signature-Input", 'sig1=("@method" "@target-uri");created=1', "does not cover"),
        ("Signature-Input", "sig1=(method);created=1", "is a string"),
        ("Signature", "sig1=:not base64!:", "not a structured dictionary"),
        ("Signature", 'sig1="abc"', "not a byte sequence"),
        ("Signature", "sig1=(:AAAA:)", "not a byte sequence"),
    ],
)
def test_malformed_headers(key: SigningKey, field: str, value: str, message: str) -> None:
    headers = signed(key) | {field: value}
    with pytest.raises(MalformedSignature, match=message):
        verify(headers)


def resigned(key: SigningKey, headers: dict[str, str], **params: object) -> dict[str, str]:
    """The request re-signed by ``key`` with the Rakuichi params replaced by ``params``."""
    given = {"created": NOW, "keyid": key.public_key.did, "alg": "ed25519"} | params
    sp = SignatureParams.make(("@method", "@target-uri", "content-digest"), **given)
    base = signature_base(method="POST", url=URL, headers=headers, params=sp)
    sig = sf.serialize_dictionary({"sig1": sf.Item(key.sign(base.encode()))})
    return headers | {"Signature-Input": f"sig1={sp.serialize()}", "Signature": sig}


@pytest.mark.parametrize(
    ("keyid", "error", "message"),
    [
        ("test-key-ed25519", MalformedSignature, "not a usable Ed25519 did:key"),
        # a secp256k1 did:key (multicodec 0xe7 0x01, 33-byte compressed point)
        (
            "did:key:z" + b58encode(b"\xe7\x01\x02" + bytes(range(32))),
            MalformedSignature,
            "not a usable Ed25519 did:key",
        ),
        # a small-order Ed25519 point
        ("did:key:z" + b58encode(b"\xed\x01" + bytes(32)), MalformedSignature, "small-order"),
        (SigningKey.from_seed(bytes(32)).public_key.did, InvalidSignature, "does not verify"),
    ],
)
def test_wrong_keyid(key: SigningKey, keyid: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        verify(resigned(key, signed(key), keyid=keyid))


def test_profile_parameters(key: SigningKey) -> None:
    with pytest.raises(MalformedSignature, match="unsupported alg 'rsa-pss-sha512'"):
        verify(resigned(key, signed(key), alg="rsa-pss-sha512"))
    with pytest.raises(MalformedSignature, match="no created"):
        verify(resigned(key, signed(key), created=None))
    with pytest.raises(MalformedSignature, match="no keyid"):
        verify(resigned(key, signed(key), keyid=None))
    verify(resigned(key, signed(key), alg=None))  # alg is optional; the key type fixes it


def test_alternative_target_coverage(key: SigningKey) -> None:
    headers = signed(key)
    sp = SignatureParams.make(
        ["@method", "@authority", "@path", "@query", "content-digest"],
        created=NOW,
        keyid=key.public_key.did,
    )
    base = signature_base(method="POST", url=URL, headers=headers, params=sp)
    headers |= {
        "Signature-Input": f"sig1={sp.serialize()}",
        "Signature": sf.serialize_dictionary({"sig1": sf.Item(key.sign(base.encode()))}),
    }
    verify(headers)
    with pytest.raises(InvalidSignature):
        verify(headers, url=URL.replace("42", "43"))


def test_several_signatures_and_header_lines(key: SigningKey) -> None:
    other = SigningKey.from_seed(bytes(range(1, 33)))
    first, second = signed(key), signed(other, label="proxy")
    pairs = [
        *first.items(),
        ("Signature-Input", second["Signature-Input"]),
        ("Signature", second["Signature"]),
    ]
    assert verify(pairs) == key.public_key
    assert (
        verify_request(
            method="POST",
            url=URL,
            headers=pairs,
            body=BODY,
            now=NOW,
            replay_cache=None,
            label="proxy",
        )
        == other.public_key
    )


# --- Replay cache -------------------------------------------------------------------------------


def test_replay_cache_expiry_and_bound() -> None:
    cache = ReplayCache(max_entries=3)
    assert not cache.seen(b"a", expires=10, now=0)
    assert cache.seen(b"a", expires=10, now=10)
    assert not cache.seen(b"a", expires=20, now=11)  # expired entries count as absent
    for k in (b"b", b"c"):
        assert not cache.seen(k, expires=30, now=12)
    assert len(cache) == 3
    with pytest.raises(ReplayCacheFull):  # full of live entries: none is forgotten
        cache.seen(b"d", expires=30, now=12)
    assert cache.seen(b"a", expires=40, now=12)  # the oldest live one is still known
    assert not cache.seen(b"e", expires=50, now=31)  # a, b and c expired and were swept
    assert len(cache) == 1
    with pytest.raises(ValueError):
        ReplayCache(max_entries=0)


def test_replay_cache_sweeps_in_bulk() -> None:
    cache = ReplayCache()
    for i in range(1000):
        cache.seen(i.to_bytes(4, "big"), expires=100 + i, now=0)
    cache.seen(b"late", expires=5000, now=600)
    assert len(cache) == 501  # entries that expired before 600 were swept


# --- Structured fields and fuzzing ------------------------------------------------------------


def test_structured_field_round_trip() -> None:
    text = 'a=(1 "x\\"y" tok:/en ?0);p=-5, b, c=:AQID:;q;r="s", d=?0'
    parsed = sf.parse_dictionary(text)
    assert parsed["c"] == sf.Item(b"\x01\x02\x03", {"q": True, "r": "s"})
    assert isinstance(parsed["a"], sf.InnerList)
    assert [i.value for i in parsed["a"].items] == [1, 'x"y', "tok:/en", False]
    assert sf.serialize_dictionary(parsed) == text
    for bad in (
        "a=1,",
        "a=1.5",
        "a=1234567890123456",
        'a="\\x"',
        "a=?2",
        "A=1",
        "a=(1",
        "a=:AA=A:",
    ):
        with pytest.raises(sf.StructuredFieldError):
            sf.parse_dictionary(bad)


_SF_CHARS = ' \t()";=:,?*-_./+\\@0123456789abcdefsigABCZ\u00e9'


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(st.none(), st.text(), st.text(alphabet=_SF_CHARS)),
    st.one_of(st.none(), st.text(), st.text(alphabet=_SF_CHARS)),
    st.one_of(st.none(), st.text(), st.text(alphabet=_SF_CHARS)),
)
def test_random_headers_raise_only_crypto_errors(
    sig_input: str | None, signature: str | None, digest: str | None
) -> None:
    headers = {
        name: value
        for name, value in (
            ("Signature-Input", sig_input),
            ("Signature", signature),
            ("Content-Digest", digest),
        )
        if value is not None
    }
    with pytest.raises(CryptoError):
        verify(headers, cache=ReplayCache())


_KEY = SigningKey.from_seed(bytes(range(32)))
_SIGNED = signed(_KEY)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(sorted(_SIGNED)), st.data())
def test_mutated_headers_raise_only_crypto_errors(field: str, data: st.DataObject) -> None:
    value = _SIGNED[field]
    i = data.draw(st.integers(0, len(value) - 1))
    j = data.draw(st.integers(i, min(len(value), i + 4)))
    value = value[:i] + data.draw(st.text(alphabet=_SF_CHARS, max_size=4)) + value[j:]
    headers = _SIGNED | {field: value}
    try:
        verify(headers, cache=ReplayCache())
    except HttpSignatureError:
        pass
    except CryptoError as e:
        assert isinstance(e, InvalidSignature), e
