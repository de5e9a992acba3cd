"""Builds tests/vectors/keys.json: key-event vectors with expectations stated by hand.

Run ``python -m tests.support.keyvectors`` to rewrite the file (it is deterministic: fixed seeds,
fixed times, and Ed25519 signatures are deterministic). The expectations below are written out
case by case, not computed by ``protocol.keyhistory``, so the vector test checks the code
against them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from crypto import SigningKey, sha256
from crypto.dataintegrity import add_proof
from protocol.builder import sign_record
from protocol.credential import iso_utc, issue_credential, unsigned_credential
from protocol.keyevents import CONSENT_PREFIX, KEY_ROTATION, consent_message, next_digest
from protocol.keyevents import inception as make_inception
from protocol.keyevents import rotation as make_rotation
from protocol.record import Record, signing_input

OUT = Path(__file__).resolve().parent.parent / "vectors" / "keys.json"
T = 1_760_000_000_000  # 2025-10-09T08:53:20Z; every vector record is created at T + n seconds
S = 1_000

LABELS = ["I", "S0", "R1", "S1", "R2", "S2", "R3", "X", "XS", "TI", "TS"]
KEYS = {
    label: SigningKey.from_seed(sha256(f"rakuichi-key-vector:{label}".encode())) for label in LABELS
}
# I: the identity's first key.  S0, S1, S2: its signing keys.  R1, R2, R3: its rotation keys.
# X, XS: a thief's keys.  TI, TS: the first key and signing key of another identity T.


def pub(label: str) -> bytes:
    return KEYS[label].public_key.raw


def opp(label: str, t: int, slug: str = "dev") -> Record:
    body = {"slug": slug, "title": "Developer", "tour": "rotational", "status": "open"}
    return sign_record(KEYS[label], "opportunity", t, body)


def build_records() -> dict[str, Record]:
    k, r = KEYS, {}
    r["icp"] = make_inception(k["I"], k["S0"], k["R1"].public_key, T + 10 * S)
    r["rot1"] = make_rotation(
        k["R1"], k["S1"], pub("I"), 1, r["icp"].id, k["R2"].public_key, T + 20 * S
    )
    r["rot2"] = make_rotation(
        k["R2"], k["S2"], pub("I"), 2, r["rot1"].id, k["R3"].public_key, T + 30 * S
    )
    # legacy: the first key signed before the inception; after it, it speaks for nobody
    r["i_before"] = opp("I", T + 5 * S, "legacy")
    r["i_after"] = opp("I", T + 15 * S, "legacy")
    r["s0_in"] = opp("S0", T + 12 * S)
    r["s0_late"] = opp("S0", T + 25 * S)  # signed with S0 after rotation 1: not attributed
    r["s0_at"] = opp("S0", T + 20 * S)  # exactly at rotation 1: the window is half-open
    r["s0_early"] = opp("S0", T + 9 * S)  # before the inception introduced S0
    r["s1_in"] = opp("S1", T + 21 * S)
    r["s2_in"] = opp("S2", T + 31 * S)
    # an attacker holding the current signing key S0 (not R1) tries to rotate
    r["rot1_by_s0"] = make_rotation(
        k["S0"], k["XS"], pub("I"), 1, r["icp"].id, k["X"].public_key, T + 22 * S
    )
    r["rot1_by_x"] = make_rotation(
        k["X"], k["XS"], pub("I"), 1, r["icp"].id, k["R3"].public_key, T + 23 * S
    )
    # a thief holding the committed key R1 forks step 1
    r["rot1_fork"] = make_rotation(
        k["R1"], k["XS"], pub("I"), 1, r["icp"].id, k["X"].public_key, T + 18 * S
    )
    r["xs_in"] = opp("XS", T + 19 * S)
    r["rot2_on_fork"] = make_rotation(
        k["X"], k["TS"], pub("I"), 2, r["rot1_fork"].id, k["R3"].public_key, T + 40 * S
    )
    # recovery with a cutoff: the owner found S1 stolen since T+24s and disowns it from then on
    r["rot2_cutoff"] = make_rotation(
        k["R2"],
        k["S2"],
        pub("I"),
        2,
        r["rot1"].id,
        k["R3"].public_key,
        T + 30 * S,
        cutoff=T + 24 * S,
    )
    r["s1_stolen"] = opp("S1", T + 26 * S, "stolen")
    # broken chains
    r["rot2_seq3"] = make_rotation(
        k["R2"], k["S2"], pub("I"), 3, r["rot1"].id, k["R3"].public_key, T + 30 * S
    )
    r["rot2_early"] = make_rotation(
        k["R2"], k["S2"], pub("I"), 2, r["rot1"].id, k["R3"].public_key, T + 20 * S
    )
    r["rot2_reuse"] = make_rotation(
        k["R2"], k["S0"], pub("I"), 2, r["rot1"].id, k["R3"].public_key, T + 30 * S
    )
    r["rot_no_icp"] = make_rotation(
        k["R1"], k["S1"], pub("TI"), 1, r["s0_in"].id, k["R2"].public_key, T + 20 * S
    )
    # a second inception by I: duplicity at step 0
    r["icp_fork"] = make_inception(k["I"], k["XS"], k["X"].public_key, T + 11 * S)
    # another identity T whose inception claims S1 (its holder consented): S1 is contested
    r["t_icp"] = make_inception(k["TI"], k["S1"], k["X"].public_key, T + 1 * S)
    # an attestation signed with S0 inside its window (credential vectors)
    r["att_s0"] = sign_record(
        k["S0"], "attestation", T + 14 * S, {"subject": pub("TS"), "claim": "recommendation"}
    )
    # malformed events
    r["bad_consent"] = _bad_consent()
    r["bad_next"] = _bad_next()
    return r


def _bad_consent() -> Record:
    """A rotation whose key_sig is the consent of S1 for another step (seq 2, not 1)."""
    icp = make_inception(KEYS["I"], KEYS["S0"], KEYS["R1"].public_key, T + 10 * S)
    body = {
        "identity": pub("I"),
        "seq": 1,
        "prior": icp.id,
        "key": pub("S1"),
        "key_sig": KEYS["S1"].sign(consent_message(pub("I"), 2)),
        "next": next_digest(pub("R2")),
    }
    return sign_record(KEYS["R1"], KEY_ROTATION, T + 20 * S, body)


def _bad_next() -> Record:
    """A rotation that commits to its own signing key as the next rotation key."""
    icp = make_inception(KEYS["I"], KEYS["S0"], KEYS["R1"].public_key, T + 10 * S)
    body = {
        "identity": pub("I"),
        "seq": 1,
        "prior": icp.id,
        "key": pub("S1"),
        "key_sig": KEYS["S1"].sign(consent_message(pub("I"), 1)),
        "next": next_digest(pub("S1")),
    }
    return signed_unchecked(KEYS["R1"], KEY_ROTATION, T + 20 * S, body)


def signed_unchecked(key: SigningKey, kind: str, created: int, body: dict[str, Any]) -> Record:
    """A record signed by ``key`` whose body the kind table would refuse (built by hand)."""
    author = key.public_key.raw
    signature = key.sign(signing_input(kind, author, created, body))
    return Record.build(kind, author, created, body, ((author, signature),))


# Records a revision-3 node refuses at ingest, with the validation step that refuses them (they
# stay in the vectors for histories computed over records read without validation).
REFUSED = {"bad_consent": "signature", "bad_next": "schema"}


def window(
    key: str, seq: int | None, start: int, end: int | None, event: str | None
) -> dict[str, Any]:
    return {"key": key, "seq": seq, "from": start, "until": end, "event": event}


LEGACY = window("I", None, 0, T + 10 * S, None)
W_S0 = window("S0", 0, T + 10 * S, T + 20 * S, "icp")
W_S1 = window("S1", 1, T + 20 * S, T + 30 * S, "rot1")
W_S2 = window("S2", 2, T + 30 * S, None, "rot2")


def identity(
    state: str, current: str | None, events: list[str], keys: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    entry: dict[str, Any] = {"state": state, "current": current, "events": events, "keys": keys}
    entry.update({"duplicity": None, "contested": {}, "rejected": {}}, **extra)
    return entry


CASES: list[dict[str, Any]] = [
    {
        "name": "valid chain: inception and two rotations; each key counts in its own window",
        "records": [
            "icp",
            "rot1",
            "rot2",
            "i_before",
            "i_after",
            "s0_in",
            "s0_early",
            "s1_in",
            "s2_in",
        ],
        "identities": {
            "I": identity("established", "S2", ["icp", "rot1", "rot2"], [LEGACY, W_S0, W_S1, W_S2])
        },
        "attribution": {
            "i_before": "I",
            "i_after": None,
            "s0_in": "I",
            "s0_early": None,
            "s1_in": "I",
            "s2_in": "I",
        },
        "resolve": {"I": "I", "S0": "I", "S1": "I", "S2": "I", "R1": "R1", "X": "X"},
    },
    {
        "name": "the same chain arriving in reverse: rotations after the records of their keys",
        "records": ["s2_in", "s1_in", "s0_in", "rot2", "rot1", "icp"],
        "identities": {
            "I": identity("established", "S2", ["icp", "rot1", "rot2"], [LEGACY, W_S0, W_S1, W_S2])
        },
        "attribution": {"s0_in": "I", "s1_in": "I", "s2_in": "I"},
    },
    {
        "name": "a new key's records before its rotation is held: the key is a plain identity",
        "records": ["icp", "s1_in", "s0_in"],
        "identities": {
            "I": identity(
                "established", "S0", ["icp"], [LEGACY, window("S0", 0, T + 10 * S, None, "icp")]
            )
        },
        "attribution": {"s0_in": "I", "s1_in": "S1"},
    },
    {
        "name": "old-key records after a rotation are not attributed (the window is half-open)",
        "records": ["icp", "rot1", "s0_in", "s0_at", "s0_late", "s1_in"],
        "identities": {
            "I": identity(
                "established",
                "S1",
                ["icp", "rot1"],
                [LEGACY, W_S0, window("S1", 1, T + 20 * S, None, "rot1")],
            )
        },
        "attribution": {"s0_in": "I", "s0_at": None, "s0_late": None, "s1_in": "I"},
    },
    {
        "name": "not committed: neither the current signing key nor a stranger can rotate",
        "records": ["icp", "rot1_by_s0", "rot1_by_x", "s0_in"],
        "identities": {
            "I": identity(
                "established",
                "S0",
                ["icp"],
                [LEGACY, window("S0", 0, T + 10 * S, None, "icp")],
                rejected={"rot1_by_s0": "not-committed", "rot1_by_x": "not-committed"},
            )
        },
        "attribution": {"s0_in": "I"},
        "rejected": {"rot1_by_s0": "not-committed", "rot1_by_x": "not-committed"},
    },
    {
        "name": "gap in the chain: rotation 2 without rotation 1 waits for it",
        "records": ["icp", "rot2", "s2_in", "s0_in"],
        "identities": {
            "I": identity(
                "established", "S0", ["icp"], [LEGACY, window("S0", 0, T + 10 * S, None, "icp")]
            )
        },
        "pending": {"rot1": ["rot2"]},
        "attribution": {"s0_in": "I", "s2_in": "S2"},
    },
    {
        "name": "fork: two valid rotations at step 1; duplicitous, nothing after the fork counts",
        "records": [
            "icp",
            "rot1",
            "rot1_fork",
            "rot2",
            "rot2_on_fork",
            "s0_in",
            "s1_in",
            "xs_in",
            "s2_in",
        ],
        "identities": {
            "I": identity(
                "duplicitous",
                None,
                ["icp"],
                [LEGACY, window("S0", 0, T + 10 * S, T + 18 * S, "icp")],
                duplicity={"seq": 1, "evidence": ["rot1", "rot1_fork"]},
                rejected={"rot2": "not-in-chain", "rot2_on_fork": "not-in-chain"},
            )
        },
        "attribution": {"s0_in": "I", "s1_in": None, "xs_in": None, "s2_in": "S2"},
        "rejected": {"rot2": "not-in-chain", "rot2_on_fork": "not-in-chain"},
    },
    {
        "name": "fork at the inception: two inceptions by the first key",
        "records": ["icp", "icp_fork", "i_before", "s0_in"],
        "identities": {
            "I": identity(
                "duplicitous",
                None,
                [],
                [window("I", None, 0, T + 10 * S, None)],
                duplicity={"seq": 0, "evidence": ["icp", "icp_fork"]},
            )
        },
        "attribution": {"i_before": "I", "s0_in": None},
    },
    {
        "name": "recovery with a cutoff: the owner disowns what stolen S1 signed since the theft",
        "records": ["icp", "rot1", "rot2_cutoff", "s1_in", "s1_stolen", "s2_in"],
        "identities": {
            "I": identity(
                "established",
                "S2",
                ["icp", "rot1", "rot2_cutoff"],
                [
                    LEGACY,
                    W_S0,
                    window("S1", 1, T + 20 * S, T + 24 * S, "rot1"),
                    window("S2", 2, T + 30 * S, None, "rot2_cutoff"),
                ],
            )
        },
        "attribution": {"s1_in": "I", "s1_stolen": None, "s2_in": "I"},
    },
    {
        "name": "broken links: wrong seq, not after prior, reused key, identity without inception",
        "records": ["icp", "rot1", "rot2_seq3", "rot2_early", "rot2_reuse", "rot_no_icp", "s0_in"],
        "identities": {
            "I": identity(
                "established",
                "S1",
                ["icp", "rot1"],
                [LEGACY, W_S0, window("S1", 1, T + 20 * S, None, "rot1")],
                rejected={
                    "rot2_seq3": "seq-mismatch",
                    "rot2_early": "not-after-prior",
                    "rot2_reuse": "key-reused",
                },
            )
        },
        "rejected": {
            "rot2_seq3": "seq-mismatch",
            "rot2_early": "not-after-prior",
            "rot2_reuse": "key-reused",
            "rot_no_icp": "no-inception",
        },
        "attribution": {"s0_in": "I"},
    },
    {
        "name": "contested key: another identity's inception claims S1 too; S1 speaks for neither",
        "records": ["icp", "rot1", "t_icp", "s1_in", "s0_in"],
        "identities": {
            "I": identity(
                "established",
                "S1",
                ["icp", "rot1"],
                [LEGACY, W_S0, window("S1", 1, T + 20 * S, None, "rot1")],
                contested={"S1": ["TI"]},
            ),
            "TI": identity(
                "established",
                "S1",
                ["t_icp"],
                [window("TI", None, 0, T + 1 * S, None), window("S1", 0, T + 1 * S, None, "t_icp")],
                contested={"S1": ["I"]},
            ),
        },
        "attribution": {"s1_in": None, "s0_in": "I"},
        "resolve": {"S1": "S1", "TI": "TI", "S0": "I"},
    },
    {
        "name": "malformed events: a consent for the wrong step, a commitment to the signing key",
        "records": ["icp", "bad_consent", "bad_next", "s0_in"],
        "identities": {
            "I": identity(
                "established",
                "S0",
                ["icp"],
                [LEGACY, window("S0", 0, T + 10 * S, None, "icp")],
                rejected={"bad_consent": "malformed", "bad_next": "malformed"},
            )
        },
        "rejected": {"bad_consent": "malformed", "bad_next": "malformed"},
        "attribution": {"s0_in": "I"},
    },
]


CONTEXT = "https://node.example/v1/contexts/rakuichi-v1.jsonld"


def build_credentials(records: dict[str, Record]) -> list[dict[str, Any]]:
    """Credentials of ``att_s0`` (section 15.9): issued before and after the rotations, and one
    whose proof is dated before its key began to speak (refused)."""
    chain = [records[label] for label in ("icp", "rot1", "rot2")]
    made = []
    for name, signer, events in (
        ("issued with S0 before any rotation (the inception carried)", "S0", chain[:1]),
        ("issued with S2 after two rotations: proof dated when S2 began", "S2", chain),
    ):
        document = issue_credential(records["att_s0"], KEYS[signer], CONTEXT, events)
        made.append(
            {"name": name, "signer": signer, "valid": True, "issuer": "I", "credential": document}
        )
    early = add_proof(
        unsigned_credential(records["att_s0"], CONTEXT, chain),
        KEYS["S2"],
        iso_utc(records["att_s0"].created),
    )
    made.append(
        {
            "name": "a proof by S2 dated before S2 began to speak: refused",
            "signer": "S2",
            "valid": False,
            "issuer": "I",
            "credential": early,
        }
    )
    return made


def build() -> dict[str, Any]:
    records = build_records()
    return {
        "description": (
            "Rakuichi revision 3 proposal: key events. Records are hex wire bytes (each passes "
            "revision-2 validation, as an unknown kind there). Key events are known kinds in "
            "revision 3: a record whose 'refused' is not null is refused at ingest with that "
            "validation step (schema: the body rules; signature: the consent key_sig), and "
            "counts as 'malformed' in a history computed over unvalidated records. A case lists "
            "record labels; the "
            "result must not depend on their order. Expectations name keys and records by label; "
            "times are ms. See docs/protocol.md, 'Revision 3 proposal: key events'."
        ),
        "consent_prefix": CONSENT_PREFIX.hex(),
        "keys": {
            label: {
                "seed": key.seed.hex(),
                "public": key.public_key.raw.hex(),
                "did": key.public_key.did,
                "next_digest": next_digest(key.public_key.raw).hex(),
            }
            for label, key in KEYS.items()
        },
        "records": {
            label: {
                "id": rec.id.hex(),
                "kind": rec.kind,
                "created": rec.created,
                "hex": rec.wire.hex(),
                "refused": REFUSED.get(label),
            }
            for label, rec in records.items()
        },
        "cases": [{"pending": {}, "rejected": {}, "resolve": {}, **case} for case in CASES],
        "credentials": build_credentials(records),
    }


def main() -> int:
    OUT.write_text(json.dumps(build(), indent=1) + "\n")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
