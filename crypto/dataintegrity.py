"""Data Integrity proofs with the ``eddsa-jcs-2022`` cryptosuite (W3C Data Integrity EdDSA
Cryptosuites v1.0, section 3.3): JCS (RFC 8785) canonical JSON, SHA-256, Ed25519.

The signed bytes are ``sha256(JCS(proof config)) || sha256(JCS(document))``: proof config hash
first. A proof's key is the ``did:key`` in its ``verificationMethod``, resolved locally (no
network), and the method's fragment must be that key's own Multikey text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import rfc8785

from crypto.didkey import raw_from_did
from crypto.digest import sha256
from crypto.errors import CryptoError, InvalidProof
from crypto.keys import PublicKey, SigningKey
from crypto.multibase import decode_base58btc, encode_base58btc, public_key_multibase

PROOF_TYPE = "DataIntegrityProof"
CRYPTOSUITE = "eddsa-jcs-2022"
ASSERTION = "assertionMethod"
# XML Schema 1.1 dateTimeStamp as VC Data Model 2.0 uses it (a time zone is required).
DATE_TIME = re.compile(
    r"-?[0-9]{4,}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:"
    r"([0-5][0-9]|60)(\.[0-9]+)?(Z|[+-]((0[0-9]|1[0-3]):[0-5][0-9]|14:00))"
)


def canonicalize(value: Any) -> bytes:
    """RFC 8785 (JCS) canonical JSON bytes of ``value``; raises ``InvalidProof`` when the value
    has no JCS form (a float out of range, an integer beyond 2^53, a non-JSON type)."""
    try:
        return bytes(rfc8785.dumps(value))
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise InvalidProof(f"not canonicalizable JSON: {exc}") from None


def verification_method_of(key: PublicKey) -> str:
    """``did:key:z6Mk...#z6Mk...``: the did:key verification method of an Ed25519 key."""
    return f"{key.did}#{public_key_multibase(key.raw)}"


def proof_options(
    document: dict[str, Any],
    key: PublicKey,
    created: str,
    proof_purpose: str = ASSERTION,
) -> dict[str, Any]:
    """The proof configuration (everything of the proof but ``proofValue``); it carries the
    document's ``@context`` when the document has one, as the cryptosuite requires."""
    config: dict[str, Any] = {
        "type": PROOF_TYPE,
        "cryptosuite": CRYPTOSUITE,
        "created": created,
        "verificationMethod": verification_method_of(key),
        "proofPurpose": proof_purpose,
    }
    if "@context" in document:
        config["@context"] = document["@context"]
    return config


@dataclass(frozen=True, slots=True)
class HashData:
    """Every intermediate value of the cryptosuite for one document and proof config."""

    canonical_document: bytes
    canonical_proof_config: bytes
    document_hash: bytes
    proof_config_hash: bytes

    @property
    def combined(self) -> bytes:
        """The bytes signed: proof config hash, then document hash."""
        return self.proof_config_hash + self.document_hash


def hash_data(document: dict[str, Any], config: dict[str, Any]) -> HashData:
    """Canonicalise and hash an unsecured document and its proof configuration."""
    _check_config(config)
    doc = canonicalize(document)
    conf = canonicalize(config)
    return HashData(doc, conf, sha256(doc), sha256(conf))


def add_proof(
    document: dict[str, Any],
    key: SigningKey,
    created: str,
    proof_purpose: str = ASSERTION,
) -> dict[str, Any]:
    """A copy of ``document`` secured with an eddsa-jcs-2022 proof. Ed25519 is deterministic,
    so the same document, key and ``created`` always give the same proof."""
    if "proof" in document:
        raise InvalidProof("the document already carries a proof")
    config = proof_options(document, key.public_key, created, proof_purpose)
    signature = key.sign(hash_data(document, config).combined)
    return {**document, "proof": {**config, "proofValue": encode_base58btc(signature)}}


def key_of_method(method: Any) -> PublicKey:
    """The key of a ``did:key:X#X`` verification method, resolved locally."""
    if not isinstance(method, str) or method.count("#") != 1:
        raise InvalidProof(f"verificationMethod is not a did:key URL: {str(method)[:120]!r}")
    did, fragment = method.split("#")
    try:
        key = PublicKey(raw_from_did(did))
    except CryptoError as exc:
        raise InvalidProof(f"verificationMethod: {exc}") from None
    if fragment != public_key_multibase(key.raw):
        raise InvalidProof("verificationMethod fragment is not the did:key's own key")
    return key


def verify_proof(secured: dict[str, Any], proof_purpose: str = ASSERTION) -> PublicKey:
    """Check the eddsa-jcs-2022 proof of ``secured``; return the key that made it.

    Raises ``InvalidProof`` naming what is wrong: a malformed proof, a context the proof does
    not share, a purpose other than ``proof_purpose``, or a signature that does not verify.
    """
    if not isinstance(secured, dict):
        raise InvalidProof("a secured document is a JSON object")
    proof = secured.get("proof")
    if not isinstance(proof, dict):
        raise InvalidProof("the document carries no single proof object")
    options = {k: v for k, v in proof.items() if k != "proofValue"}
    document = {k: v for k, v in secured.items() if k != "proof"}
    if "@context" in options:
        own = document.get("@context")
        ctx = options["@context"]
        # The cryptosuite accepts a document whose @context merely starts with the proof's
        # (and then signs the proof's); that lets anyone append a context that changes
        # what the terms mean without breaking the proof, so this verifier wants them equal.
        if own != ctx:
            raise InvalidProof("the document's @context is not the one the proof signed")
    if options.get("proofPurpose") != proof_purpose:
        raise InvalidProof(f"proofPurpose is {options.get('proofPurpose')!r}, not {proof_purpose}")
    key = key_of_method(options.get("verificationMethod"))
    value = proof.get("proofValue")
    if not isinstance(value, str):
        raise InvalidProof("the proof has no proofValue string")
    try:
        signature = decode_base58btc(value)
    except CryptoError as exc:
        raise InvalidProof(f"proofValue: {exc}") from None
    data = hash_data(document, options)
    try:
        key.verify(signature, data.combined)
    except CryptoError:
        raise InvalidProof("the proof's signature does not verify") from None
    return key


def _check_config(config: dict[str, Any]) -> None:
    if config.get("type") != PROOF_TYPE:
        raise InvalidProof(f"proof type is {config.get('type')!r}, not {PROOF_TYPE}")
    if config.get("cryptosuite") != CRYPTOSUITE:
        raise InvalidProof(f"cryptosuite is {config.get('cryptosuite')!r}, not {CRYPTOSUITE}")
    created = config.get("created")
    if created is not None and (not isinstance(created, str) or not DATE_TIME.fullmatch(created)):
        raise InvalidProof(f"proof created is not an XML Schema dateTimeStamp: {created!r:.80}")
