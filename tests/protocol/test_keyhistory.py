"""protocol.keyevents and protocol.keyhistory: single-event rules, and order independence."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import SigningKey, sha256
from protocol.builder import sign_record
from protocol.errors import Rejected, SchemaError
from protocol.keyevents import (
    KEY_INCEPTION,
    KEY_ROTATION,
    consent_message,
    inception,
    next_digest,
    parse_event,
    rotation,
)
from protocol.keyhistory import DUPLICITOUS, ESTABLISHED, PLAIN, key_histories
from protocol.record import Record
from protocol.validate import validate
from tests.protocol.test_keyvectors import RECORDS, record
from tests.support.keyvectors import signed_unchecked

T = 1_760_000_000_000


def key(label: str) -> SigningKey:
    return SigningKey.from_seed(sha256(f"keyhistory-test:{label}".encode()))


FIRST, S0, R1, S1, R2, S2, R3 = (key(x) for x in ("I", "S0", "R1", "S1", "R2", "S2", "R3"))


def raw(k: SigningKey) -> bytes:
    return k.public_key.raw


def opp(k: SigningKey, t: int) -> Record:
    body = {"slug": "dev", "title": "Dev", "tour": "rotational", "status": "open"}
    return sign_record(k, "opportunity", t, body)


def inception_body(**changes: Any) -> dict[str, Any]:
    body = {
        "key": raw(S0),
        "key_sig": S0.sign(consent_message(raw(FIRST), 0)),
        "next": next_digest(raw(R1)),
    }
    body.update(changes)
    return body


# --- one event on its own -------------------------------------------------------------------


def test_parse_inception_and_rotation() -> None:
    icp = inception(FIRST, S0, R1.public_key, T, cutoff=0)
    event = parse_event(icp)
    assert (event.identity, event.seq, event.prior, event.key) == (raw(FIRST), 0, None, raw(S0))
    assert event.next == sha256(raw(R1)) and event.previous_key_end == 0
    rot = parse_event(rotation(R1, S1, raw(FIRST), 1, icp.id, R2.public_key, T + 5))
    assert (rot.identity, rot.seq, rot.prior, rot.key) == (raw(FIRST), 1, icp.id, raw(S1))
    assert rot.previous_key_end == T + 5


@pytest.mark.parametrize(
    ("changes", "message", "step"),
    [
        ({"key": raw(FIRST)}, "new signing key", "schema"),
        ({"next": next_digest(raw(S0))}, "new rotation key", "schema"),
        ({"next": next_digest(raw(FIRST))}, "new rotation key", "schema"),
        ({"key_sig": S0.sign(consent_message(raw(FIRST), 1))}, "did not consent", "signature"),
        ({"key_sig": S1.sign(consent_message(raw(FIRST), 0))}, "did not consent", "signature"),
        ({"key_sig": b"\x00" * 63}, "64 bytes", "schema"),
        ({"next": b"\x00" * 31}, "32 bytes", "schema"),
        ({"extra": 1}, "unknown key", "schema"),
        ({"cutoff": -1}, "cutoff", "schema"),
    ],
)
def test_malformed_inception_is_refused(changes: dict[str, Any], message: str, step: str) -> None:
    """Refused at ingest (key events are known kinds) with the step named, and malformed for
    ``parse_event`` when read without validation."""
    bad = signed_unchecked(FIRST, KEY_INCEPTION, T, inception_body(**changes))
    with pytest.raises(Rejected, match=message) as caught:
        validate(bad.wire, T + 1)
    assert caught.value.klass == step
    with pytest.raises(SchemaError, match=message):
        parse_event(bad)
    if step == "schema":  # nor can one be built
        with pytest.raises(SchemaError, match=message):
            sign_record(FIRST, KEY_INCEPTION, T, bad.body)


def test_rotation_by_the_first_key_is_refused() -> None:
    body = {
        "identity": raw(FIRST),
        "seq": 1,
        "prior": b"\x01" * 32,
        "key": raw(S1),
        "key_sig": S1.sign(consent_message(raw(FIRST), 1)),
        "next": next_digest(raw(R2)),
    }
    with pytest.raises(SchemaError, match="first key"):
        parse_event(signed_unchecked(FIRST, KEY_ROTATION, T, body))
    with pytest.raises(SchemaError, match="first key"):
        sign_record(FIRST, KEY_ROTATION, T, body)
    with pytest.raises(SchemaError, match="seq"):
        parse_event(signed_unchecked(R1, KEY_ROTATION, T, {**body, "seq": 0}))


# --- histories --------------------------------------------------------------------------------


def test_a_key_without_events_is_a_plain_identity() -> None:
    record = opp(S2, T)
    histories = key_histories([record])
    assert histories.attribute(record) == raw(S2)
    history = histories.history(raw(S2))
    assert history is not None and history.state == PLAIN and history.current == raw(S2)
    assert histories.resolve(raw(S2)) == raw(S2)


def test_recovery_with_the_committed_key_after_losing_the_current_one() -> None:
    icp = inception(FIRST, S0, R1.public_key, T, cutoff=0)
    rot1 = rotation(R1, S1, raw(FIRST), 1, icp.id, R2.public_key, T + 10)
    # S1 is lost; the owner still holds R2 (kept offline) and rotates to S2
    rot2 = rotation(R2, S2, raw(FIRST), 2, rot1.id, R3.public_key, T + 20)
    after = opp(S2, T + 21)
    histories = key_histories([icp, rot1, rot2, after])
    history = histories.history(raw(FIRST))
    assert history is not None and history.state == ESTABLISHED
    assert history.current == raw(S2) and history.next == sha256(raw(R3))
    assert histories.attribute(after) == raw(FIRST)
    assert histories.attribute(opp(FIRST, T - 1)) is None  # cutoff 0: the first key never speaks
    assert histories.history(raw(S1)) is None  # a signing key is not an identity


def test_key_events_are_not_attributed_as_records() -> None:
    icp = inception(FIRST, S0, R1.public_key, T)
    assert key_histories([icp]).attribute(icp) is None


# --- order independence -----------------------------------------------------------------------

POOL = [record(label) for label in RECORDS]  # chains, forks, cutoffs, contests, strays


def summary(records: list[Record]) -> Any:
    histories = key_histories(records)
    attributed = {r.id: histories.attribute(r) for r in records}
    resolved = {r.author: histories.resolve(r.author) for r in records}
    return histories.to_json(), attributed, resolved


@settings(max_examples=150, deadline=None)
@given(st.permutations(POOL), st.lists(st.sampled_from(POOL), max_size=6))
def test_every_order_and_duplication_gives_the_same_histories(
    order: list[Record], copies: list[Record]
) -> None:
    assert summary(order + copies) == summary(POOL)


@settings(max_examples=150, deadline=None)
@given(st.data(), st.lists(st.booleans(), min_size=len(POOL), max_size=len(POOL)))
def test_any_subset_is_order_independent(data: st.DataObject, keep: list[bool]) -> None:
    subset = [r for r, k in zip(POOL, keep, strict=True) if k]
    shuffled = data.draw(st.permutations(subset))
    assert summary(shuffled) == summary(subset)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.booleans(), min_size=len(POOL), max_size=len(POOL)))
def test_safety_in_any_subset(keep: list[bool]) -> None:
    """Whatever subset a node holds: a rotation not made by the committed key is never in a
    chain, nothing by a key outside its windows is attributed, and a fork stops everything."""
    subset = [r for r, k in zip(POOL, keep, strict=True) if k]
    histories = key_histories(subset)
    for identity, history in histories.histories.items():
        for prior, event in zip(history.chain, history.chain[1:], strict=False):
            assert sha256(event.author) == prior.next and event.created > prior.created
        if history.state == DUPLICITOUS:
            assert history.current is None and history.duplicity is not None
            assert len(history.duplicity.evidence) >= 2
        for r in subset:
            if histories.attribute(r) == identity:
                assert any(w.key == r.author and w.contains(r.created) for w in history.windows)
                assert r.author not in history.contested
