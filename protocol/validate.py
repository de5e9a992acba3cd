"""Validation: PROTOCOL-v1 section 4, in order, first failure wins.

The order is written once, here, in three stages that every caller uses:

1. ``check_before_signatures``: size, canonical encoding, schema, and the signer set (cheap);
2. ``verify_each``: every signature verifies (the costly step; a node runs it in workers);
3. ``check_after_signatures``: time, then the operator's policy.

``validate`` runs the three in a row, for one record.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from crypto import CryptoError, did_from_raw
from crypto.verifiers import SignatureVerifier, fastest
from protocol.encoding import MAX_RECORD_BYTES, decode
from protocol.errors import PolicyError, SignatureError, SizeError, TimeError
from protocol.keyschema import KEY_EVENT_KINDS, consent_problem
from protocol.kinds import required_signers
from protocol.record import Record, record_from_value

EARLIEST_CREATED_MS = 1_577_836_800_000  # 2020-01-01T00:00:00Z
MAX_CLOCK_SKEW_MS = 600_000  # ten minutes ahead of the node's clock


@dataclass(frozen=True)
class Policy:
    """What a node's operator refuses (step 6): authors (raw keys) and kinds."""

    denied_authors: frozenset[bytes] = field(default_factory=frozenset)
    denied_kinds: frozenset[str] = field(default_factory=frozenset)

    def check(self, record: Record) -> None:
        if record.author in self.denied_authors:
            raise PolicyError(f"author {did_from_raw(record.author)} is denied by this node")
        if record.kind in self.denied_kinds:
            raise PolicyError(f"kind {record.kind} is not accepted by this node")


ALLOW_ALL = Policy()


def validate(
    data: bytes,
    now_ms: int,
    policy: Policy = ALLOW_ALL,
    verifier: SignatureVerifier | None = None,
) -> Record:
    """Decide whether ``data`` is a valid record at time ``now_ms``; return it or raise.

    ``verifier`` checks signatures (default: the fastest installed; every one gives the same
    verdict). Raises a ``protocol.errors.Rejected`` subclass whose ``klass`` is the failed step:
    ``size``, ``encoding``, ``schema``, ``signature``, ``time`` or ``policy``.
    """
    record = check_before_signatures(data)
    verify_each(record.signing_input, record.sigs, verifier)
    return check_after_signatures(record, now_ms, policy)


def check_before_signatures(data: bytes) -> Record:
    """Stage 1 (steps 1-4, without verifying): size, encoding, schema, signer set."""
    record = parse(data)
    check_signer_set(record)
    return record


def check_after_signatures(record: Record, now_ms: int, policy: Policy = ALLOW_ALL) -> Record:
    """Stage 3 (steps 5-6), for a record whose signatures verified: time, then policy."""
    check_time(record, now_ms)
    policy.check(record)
    return record


def parse(data: bytes) -> Record:
    """Steps 1-3: size, canonical encoding, schema. Signatures are not verified."""
    if len(data) > MAX_RECORD_BYTES:
        raise SizeError(f"record is {len(data)} bytes, over the limit of {MAX_RECORD_BYTES}")
    return record_from_value(decode(bytes(data)), bytes(data))


def verify_signatures(record: Record, verifier: SignatureVerifier | None = None) -> None:
    """Step 4: the signer set is exactly the required one, sorted, and every signature verifies."""
    check_signer_set(record)
    verify_each(record.signing_input, record.sigs, verifier)


def check_signer_set(record: Record) -> None:
    """Step 4, first half: the signer set is exactly the required one, sorted (cheap), and a
    key event's consent verifies (one Ed25519 check, key events only: revision 3 proposal)."""
    signers = record.signers
    if not signers:
        raise SignatureError("record carries no signatures")
    for earlier, later in itertools.pairwise(signers):
        if later <= earlier:
            raise SignatureError("sigs must be sorted by signer key with no repeats")
    required = required_signers(record.kind, record.author, record.body)
    if set(signers) != required:
        missing = required - set(signers)
        extra = set(signers) - required
        parts = [f"missing {did_from_raw(k)}" for k in sorted(missing)]
        parts += [f"unexpected {did_from_raw(k)}" for k in sorted(extra)]
        raise SignatureError("signer set is wrong: " + "; ".join(parts))
    if record.kind in KEY_EVENT_KINDS:
        problem = consent_problem(record.kind, record.author, record.body)
        if problem is not None:
            raise SignatureError(problem)


def verify_each(
    message: bytes,
    sigs: tuple[tuple[bytes, bytes], ...],
    verifier: SignatureVerifier | None = None,
) -> None:
    """Step 4, second half (the costly one): every signature verifies over ``message``."""
    check = (verifier or fastest()).verify
    for signer, signature in sigs:
        try:
            check(signer, signature, message)
        except CryptoError as exc:
            raise SignatureError(f"signature by {did_from_raw(signer)}: {exc}") from None


def check_time(record: Record, now_ms: int) -> None:
    """Step 5: not before 2020, not more than ten minutes ahead of ``now_ms``."""
    if record.created < EARLIEST_CREATED_MS:
        raise TimeError(f"created {record.created} is before 2020-01-01")
    if record.created > now_ms + MAX_CLOCK_SKEW_MS:
        ahead = (record.created - now_ms) // 1000
        raise TimeError(f"created is {ahead} s ahead of this node's clock (limit 600 s)")
