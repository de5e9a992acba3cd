"""docs/sync.md's worked example, replayed: the document and the code say the same bytes.

The test reads the example's messages from the document itself, so the document cannot drift
from the code. It also plays the responder from the document's bytes alone (decoding each
request and checking the answer range by range), as an implementation written from the
document would.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from protocol.itemset import MAX_BOUND, MemoryItemSet
from protocol.reconcile import (
    DEFAULT_LIMITS,
    REPLY_MODES,
    REQUEST_MODES,
    Initiator,
    Mode,
    decode_message,
    respond,
    unpack_ids,
)

SYNC_MD = Path(__file__).resolve().parents[2] / "docs" / "sync.md"
MESSAGE = re.compile(r"^(request|reply) (\d+), (\d+) bytes:\n((?:[0-9a-f]+\n)+)", re.MULTILINE)


def example_id(n: int) -> bytes:
    return hashlib.sha256(f"sync-example-{n}".encode()).digest()


def example_sets() -> tuple[MemoryItemSet, MemoryItemSet]:
    shared = [(1000 + 10 * n, example_id(n)) for n in range(24)]
    a = MemoryItemSet([*shared, (1055, example_id(100))])
    b = MemoryItemSet([*shared, (1300, example_id(200)), (1310, example_id(201))])
    return a, b


def documented_messages() -> list[tuple[str, int, bytes]]:
    section = SYNC_MD.read_text(encoding="utf-8").split("## Worked example", 1)[1]
    section = section.split("\n## ", 1)[0]
    found = []
    for kind, number, size, hexlines in MESSAGE.findall(section):
        data = bytes.fromhex("".join(hexlines.split()))
        assert len(data) == int(size), f"{kind} {number}: the document says {size} bytes"
        found.append((kind, int(number), data))
    return found


def test_document_lists_alternating_requests_and_replies() -> None:
    messages = documented_messages()
    assert [(k, n) for k, n, _ in messages] == [
        ("request", 1),
        ("reply", 1),
        ("request", 2),
        ("reply", 2),
    ]


def test_code_sends_and_answers_the_documented_bytes() -> None:
    a, b = example_sets()
    initiator = Initiator(a)
    messages = iter(documented_messages())
    request: bytes | None = initiator.start()
    while request is not None:
        kind, number, documented_request = next(messages)
        assert kind == "request"
        assert request == documented_request, f"request {number} differs from docs/sync.md"
        kind, number, documented_reply = next(messages)
        assert kind == "reply"
        assert respond(b, request) == documented_reply, f"reply {number} differs"
        request = initiator.receive(documented_reply)
    assert next(messages, None) is None, "the document lists more messages than the session"
    assert initiator.rounds == 2
    assert initiator.have == {example_id(200), example_id(201)}
    assert initiator.need == {example_id(100)}


def test_a_peer_from_the_document_answers_each_range_as_documented() -> None:
    """Decode every documented request and check each documented answer range against what
    the document's rules say B must answer, using only B's items and the message bytes."""
    _, b = example_sets()
    pairs = documented_messages()
    for (_, _, request), (_, _, reply) in zip(pairs[::2], pairs[1::2], strict=True):
        asked = decode_message(request, REQUEST_MODES, DEFAULT_LIMITS)
        answers = decode_message(reply, REPLY_MODES, DEFAULT_LIMITS)
        assert answers[-1].hi == MAX_BOUND, "the last range ends at the end mark"
        for answer in answers:
            if answer.mode == Mode.SKIP:
                continue
            home = next(r for r in asked if r.lo <= answer.lo and answer.hi <= r.hi)
            if answer.mode == Mode.FINGERPRINT:
                assert home.mode == Mode.FINGERPRINT
                assert b.fingerprint(answer.lo, answer.hi)[1] == answer.payload
            elif answer.mode == Mode.DIFF:
                assert home.mode == Mode.IDS and (home.lo, home.hi) == (answer.lo, answer.hi)
                theirs = unpack_ids(home.payload)
                width = (len(theirs) + 7) // 8
                mine = [i for _, i in b.items(answer.lo, answer.hi)]
                lacking = [i for k, i in enumerate(theirs) if answer.payload[k // 8] >> (k % 8) & 1]
                assert lacking == [i for i in theirs if i not in mine]
                extra = unpack_ids(answer.payload[width:])
                assert extra == sorted(i for i in mine if i not in theirs)
            else:
                pytest.fail(f"B answered {answer.mode.name}, which the example does not use")
