"""eddsa-jcs-2022 against the W3C's own test vectors: every intermediate value, then tampering."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from crypto import SigningKey
from crypto.dataintegrity import (
    add_proof,
    canonicalize,
    hash_data,
    key_of_method,
    proof_options,
    verify_proof,
)
from crypto.errors import InvalidProof
from crypto.multibase import (
    decode_base58btc,
    encode_base58btc,
    public_key_from_multibase,
    public_key_multibase,
    seed_from_multibase,
)

VECTORS = json.loads(
    (Path(__file__).parent.parent / "vectors" / "w3c-vc-di-eddsa-jcs-2022.json").read_text()
)


def _key() -> SigningKey:
    return SigningKey.from_seed(seed_from_multibase(VECTORS["keyPair"]["privateKeyMultibase"]))


def test_key_pair_decodes_to_one_another() -> None:
    key = _key()
    public = VECTORS["keyPair"]["publicKeyMultibase"]
    assert public_key_multibase(key.public_key.raw) == public
    assert public_key_from_multibase(public) == key.public_key.raw
    derived = VECTORS["_derived_by_researcher_not_in_source"]
    assert key.public_key.raw.hex() == derived["publicKeyHex_after_stripping_multicodec_0xed01"]
    assert key.seed.hex() == derived["privateKeySeedHex_after_stripping_multicodec_0x8026"]


def test_raw_files_are_the_parsed_values() -> None:
    raw = VECTORS["rawFiles"]
    assert json.loads(raw["TestVectors/keyPair.json"]) == VECTORS["keyPair"]
    assert json.loads(raw["TestVectors/unsigned.json"]) == VECTORS["unsignedCredential"]
    files = "TestVectors/eddsa-jcs-2022/"
    assert json.loads(raw[files + "proofConfigJCS.json"]) == VECTORS["proofConfig"]
    assert json.loads(raw[files + "signedJCS.json"]) == VECTORS["signedCredential"]


def test_every_intermediate_value() -> None:
    key = _key()
    unsigned = VECTORS["unsignedCredential"]
    config = proof_options(unsigned, key.public_key, VECTORS["proofConfig"]["created"])
    assert config == VECTORS["proofConfig"]
    raw = VECTORS["rawFiles"]
    files = "TestVectors/eddsa-jcs-2022/"

    data = hash_data(unsigned, config)
    assert data.canonical_document.decode() == VECTORS["canonicalDocument"]
    assert data.canonical_document.decode() == raw[files + "canonDocJCS.txt"]
    assert data.document_hash.hex() == VECTORS["documentHashHex"] == raw[files + "docHashJCS.txt"]
    assert data.canonical_proof_config.decode() == VECTORS["canonicalProofConfig"]
    assert data.canonical_proof_config.decode() == raw[files + "proofCanonJCS.txt"]
    assert data.proof_config_hash.hex() == VECTORS["proofConfigHashHex"]
    assert data.proof_config_hash.hex() == raw[files + "proofHashJCS.txt"]
    assert data.combined.hex() == VECTORS["combinedHashHex"] == raw[files + "combinedHashJCS.txt"]

    signature = key.sign(data.combined)
    assert signature.hex() == VECTORS["signatureHex"] == raw[files + "sigHexJCS.txt"]
    assert encode_base58btc(signature) == VECTORS["proofValue"] == raw[files + "sigBTC58JCS.txt"]
    assert decode_base58btc(VECTORS["proofValue"]) == signature

    signed = add_proof(unsigned, key, VECTORS["proofConfig"]["created"])
    assert signed == VECTORS["signedCredential"]
    assert canonicalize(signed) == canonicalize(json.loads(raw[files + "signedJCS.json"]))


def test_the_w3c_signed_credential_verifies() -> None:
    key = verify_proof(copy.deepcopy(VECTORS["signedCredential"]))
    assert key.raw == _key().public_key.raw


def _flip(text: str) -> str:
    last = "2" if text[-1] != "2" else "3"
    return text[:-1] + last


TAMPERINGS: list[tuple[str, Any]] = [
    ("a changed claim", lambda d: d["credentialSubject"].update(alumniOf="Another School")),
    ("an added field", lambda d: d.update(extra="x")),
    ("a dropped field", lambda d: d.pop("description")),
    ("a changed date", lambda d: d.update(validFrom="2023-01-01T00:00:01Z")),
    ("a changed proof date", lambda d: d["proof"].update(created="2023-02-24T23:36:39Z")),
    (
        "a changed signature",
        lambda d: d["proof"].update(proofValue=_flip(d["proof"]["proofValue"])),
    ),
    ("another context", lambda d: d.update({"@context": [*d["@context"], "https://x.example/"]})),
    ("a proof purpose", lambda d: d["proof"].update(proofPurpose="authentication")),
    ("a cryptosuite", lambda d: d["proof"].update(cryptosuite="eddsa-rdfc-2022")),
    ("no proof value", lambda d: d["proof"].pop("proofValue")),
    ("no proof", lambda d: d.pop("proof")),
    (
        "another key",
        lambda d: d["proof"].update(
            verificationMethod="did:key:z6MktwupdmLXVVqTzCw4i46r4uGyosGXRnR3XjN4Zq7oMMsw"
            "#z6MktwupdmLXVVqTzCw4i46r4uGyosGXRnR3XjN4Zq7oMMsw"
        ),
    ),
    (
        "a fragment of another key",
        lambda d: d["proof"].update(
            verificationMethod=d["proof"]["verificationMethod"].split("#")[0]
            + "#z6MktwupdmLXVVqTzCw4i46r4uGyosGXRnR3XjN4Zq7oMMsw"
        ),
    ),
]


@pytest.mark.parametrize(("what", "change"), TAMPERINGS, ids=[t[0] for t in TAMPERINGS])
def test_any_change_fails(what: str, change: Any) -> None:
    document = copy.deepcopy(VECTORS["signedCredential"])
    change(document)
    with pytest.raises(InvalidProof):
        verify_proof(document)


def test_a_proof_is_deterministic_and_refuses_a_second_proof() -> None:
    key = _key()
    unsigned = VECTORS["unsignedCredential"]
    once = add_proof(unsigned, key, "2024-01-01T00:00:00Z")
    assert once == add_proof(unsigned, key, "2024-01-01T00:00:00Z")
    with pytest.raises(InvalidProof, match="already"):
        add_proof(once, key, "2024-01-01T00:00:00Z")


def test_bad_created_and_bad_method_are_named() -> None:
    key = _key()
    with pytest.raises(InvalidProof, match="dateTimeStamp"):
        add_proof({"a": 1}, key, "2024-01-01 00:00:00")
    with pytest.raises(InvalidProof, match="did:key URL"):
        key_of_method("https://example.com/key")
    with pytest.raises(InvalidProof, match="canonicalizable"):
        canonicalize({"a": 2**60})
