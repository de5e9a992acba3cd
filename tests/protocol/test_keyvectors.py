"""tests/vectors/keys.json: every key-event vector, checked in several arrival orders."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from crypto import SigningKey, did_from_raw, sha256
from crypto.dataintegrity import canonicalize
from protocol.credential import issue_credential
from protocol.credential_check import CredentialError, check_credential
from protocol.encoding import decode
from protocol.errors import Rejected
from protocol.keyevents import CONSENT_PREFIX
from protocol.keyhistory import KeyHistories, key_histories
from protocol.record import Record, record_from_trusted, signing_input
from protocol.validate import validate

VECTORS = json.loads((Path(__file__).parent.parent / "vectors" / "keys.json").read_text())
KEYS = {label: bytes.fromhex(k["public"]) for label, k in VECTORS["keys"].items()}
RECORDS = {label: r for label, r in VECTORS["records"].items()}
KEY_LABEL = {did_from_raw(raw): label for label, raw in KEYS.items()}
ID_LABEL = {r["id"]: label for label, r in RECORDS.items()}
NOW = max(r["created"] for r in RECORDS.values()) + 86_400_000


def record(label: str) -> Record:
    """The record as a revision-3 node would hold it; a refused one read without validation."""
    wire = bytes.fromhex(RECORDS[label]["hex"])
    if RECORDS[label]["refused"] is None:
        return validate(wire, NOW)
    value = decode(wire)
    return record_from_trusted(value, wire, sha256(signing_input(*_core(value))))


def _core(value: dict[str, Any]) -> tuple[Any, ...]:
    return value["kind"], value["author"], value["created"], value["body"]


def labelled(value: Any) -> Any:
    """A history's JSON with every did and id replaced by its label (others kept as is)."""
    if isinstance(value, dict):
        return {labelled(k): labelled(v) for k, v in value.items()}
    if isinstance(value, list):
        return [labelled(v) for v in value]
    if isinstance(value, str):
        return KEY_LABEL.get(value, ID_LABEL.get(value, value))
    return value


def projection(history: dict[str, Any]) -> dict[str, Any]:
    fields = ("state", "current", "events", "keys", "duplicity", "contested", "rejected")
    return {f: labelled(history[f]) for f in fields}


def test_keys_and_records_are_what_they_say() -> None:
    assert bytes.fromhex(VECTORS["consent_prefix"]) == CONSENT_PREFIX
    for label, k in VECTORS["keys"].items():
        key = SigningKey.from_seed(bytes.fromhex(k["seed"]))
        assert key.public_key.raw == KEYS[label]
        assert key.public_key.did == k["did"]
        assert sha256(KEYS[label]).hex() == k["next_digest"]
    for label, r in RECORDS.items():
        rec = record(label)
        assert (rec.id.hex(), rec.kind, rec.created) == (r["id"], r["kind"], r["created"])


@pytest.mark.parametrize("label", sorted(RECORDS))
def test_revision_3_refuses_exactly_the_records_marked_refused(label: str) -> None:
    wire = bytes.fromhex(RECORDS[label]["hex"])
    refused = RECORDS[label]["refused"]
    if refused is None:
        validate(wire, NOW)
        return
    with pytest.raises(Rejected) as caught:
        validate(wire, NOW)
    assert caught.value.klass == refused


def check_case(case: dict[str, Any], histories: KeyHistories) -> None:
    got = {KEY_LABEL[i]: projection(h) for i, h in histories.to_json()["identities"].items()}
    assert got == case["identities"]
    assert labelled(histories.to_json()["pending"]) == case["pending"]
    assert labelled(histories.to_json()["rejected"]) == case["rejected"]
    for label, expected in case["attribution"].items():
        identity = histories.attribute(record(label))
        assert (None if identity is None else KEY_LABEL[did_from_raw(identity)]) == expected, label
    for label, expected in case["resolve"].items():
        assert KEY_LABEL[did_from_raw(histories.resolve(KEYS[label]))] == expected, label


@pytest.mark.parametrize("case", VECTORS["cases"], ids=[c["name"] for c in VECTORS["cases"]])
def test_case_in_every_order_tried(case: dict[str, Any]) -> None:
    records = [record(label) for label in case["records"]]
    orders = [records, records[::-1], records + records]
    rng = random.Random(case["name"])
    for _ in range(8):
        orders.append(rng.sample(records, len(records)))
    results = [key_histories(order) for order in orders]
    for histories in results:
        check_case(case, histories)
        assert histories.to_json() == results[0].to_json()


def test_vector_file_is_what_the_generator_writes() -> None:
    from tests.support.keyvectors import build

    assert json.loads(json.dumps(build())) == VECTORS


@pytest.mark.parametrize(
    "vector", VECTORS["credentials"], ids=[c["name"] for c in VECTORS["credentials"]]
)
def test_credential_vectors(vector: dict[str, Any]) -> None:
    """Credentials carrying key events (section 15.9): checked offline; the valid ones are
    reproduced byte for byte from the record, the signing key and the events they carry."""
    document = vector["credential"]
    if not vector["valid"]:
        with pytest.raises(CredentialError):
            check_credential(document, NOW)
        return
    report = check_credential(document, NOW)
    assert report.ok and KEY_LABEL[report.issuer] == vector["issuer"]
    assert KEY_LABEL[report.signed_by] == vector["signer"]
    assert report.record is not None and report.record.id.hex() == RECORDS["att_s0"]["id"]
    context = document["@context"][-1]
    signer = SigningKey.from_seed(bytes.fromhex(VECTORS["keys"][vector["signer"]]["seed"]))
    again = issue_credential(report.record, signer, context, list(report.key_events))
    assert canonicalize(again) == canonicalize(document)
