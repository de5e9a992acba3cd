"""reputation(): listing, states, and a summary that only grounded attestations feed."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import SigningKey, did_from_raw
from protocol.builder import Draft, sign_record
from protocol.kinds import ALLIANCE, ATTESTATION, RETRACT
from protocol.record import Record
from protocol.reputation import ClaimSummary, Reputation, reputation
from protocol.views import derive

T0 = 1_700_000_000_000
NOW = T0 + 1_000_000


def key(n: int) -> SigningKey:
    return SigningKey.from_seed(bytes([n]) * 32)


ORG, ORG2, MEM, MEM2, OTHER = (key(n) for n in range(11, 16))


def raw(k: SigningKey) -> bytes:
    return k.public_key.raw


def alliance(org: SigningKey, member: SigningKey, t: int = T0) -> Record:
    body = {
        "member": raw(member),
        "tour": "rotational",
        "mission": "m",
        "starts": t,
        "alumni": True,
    }
    return Draft.new(ALLIANCE, raw(org), t, body).sign(org).sign(member).finish()


def attest(
    k: SigningKey, subject: SigningKey, t: int, claim: str = "tour.completed", **extra: Any
) -> Record:
    return sign_record(k, ATTESTATION, t, {"subject": raw(subject), "claim": claim, **extra})


def retract(k: SigningKey, target: Record, t: int) -> Record:
    return sign_record(k, RETRACT, t, {"target": target.id})


PACT = alliance(ORG, MEM)  # ORG <-> MEM
PACT2 = alliance(ORG2, MEM)  # ORG2 <-> MEM
# tour.completed is grounded only once its alliance ended with outcome completed
COMPLETED = sign_record(MEM, "alliance.end", T0 + 1, {"alliance": PACT.id, "outcome": "completed"})


def rep_of(records: list[Record], subject: SigningKey = MEM, now: int = NOW) -> Reputation:
    return reputation(derive(records, now), raw(subject))


def test_lists_every_attestation_about_the_subject_with_its_state() -> None:
    grounded = attest(ORG, MEM, T0 + 1, alliance=PACT.id)
    ungrounded = attest(OTHER, MEM, T0 + 2)
    expired = attest(ORG2, MEM, T0 + 3, alliance=PACT2.id, expires=NOW)
    gone = attest(ORG, MEM, T0 + 4, "recommendation", alliance=PACT.id, text="great")
    about_org = attest(MEM, ORG, T0 + 5, alliance=PACT.id)
    undo = retract(ORG, gone, T0 + 6)
    held = [PACT, PACT2, grounded, ungrounded, expired, gone, undo, about_org, COMPLETED]
    rep = rep_of(held)
    assert [(e.id, e.state) for e in rep.attestations] == [
        (grounded.id, "grounded"),
        (ungrounded.id, "ungrounded"),
        (expired.id, "expired"),
        (gone.id, "retracted"),
    ]
    retracted = rep.attestations[-1]
    assert retracted.record is None and retracted.claim is None
    assert (retracted.issuer, retracted.created) == (raw(ORG), T0 + 4)
    assert [e.id for e in rep.ungrounded] == [ungrounded.id]
    assert rep.summary == {
        ("tour.completed", None): ClaimSummary("tour.completed", None, count=1, issuers=1)
    }


def test_a_crowd_of_fresh_keys_buys_no_reputation() -> None:
    crowd = [SigningKey.generate() for _ in range(20)]
    ratings = [attest(k, MEM, T0, "rating", score=5) for k in crowd]
    # even naming a real alliance they are not party to does not ground them
    ratings += [attest(k, MEM, T0, "rating", score=5, alliance=PACT.id) for k in crowd]
    rep = rep_of([PACT, *ratings])
    assert rep.summary == {}
    assert len(rep.ungrounded) == 40 and len(rep.attestations) == 40


def test_expired_and_retracted_are_not_counted() -> None:
    old = attest(ORG, MEM, T0, "rating", alliance=PACT.id, score=5, expires=NOW - 1)
    gone = attest(ORG2, MEM, T0, "rating", alliance=PACT2.id, score=1)
    rep = rep_of([PACT, PACT2, old, gone, retract(ORG2, gone, T0 + 1)])
    assert rep.summary == {}
    assert rep_of([PACT, old], now=NOW - 2).summary[("rating", None)].score_sum == 5


def test_ratings_count_once_per_issuer_newest_wins() -> None:
    first = attest(ORG, MEM, T0, "rating", alliance=PACT.id, score=2)
    second = attest(ORG, MEM, T0 + 1, "rating", alliance=PACT.id, score=5)
    other = attest(ORG2, MEM, T0, "rating", alliance=PACT2.id, score=4)
    summary = rep_of([PACT, PACT2, second, first, other]).summary[("rating", None)]
    assert (summary.count, summary.issuers) == (2, 2)
    assert (summary.score_sum, summary.score_count, summary.mean_score) == (9, 2, 4.5)
    # retracting the newest lets the issuer's previous attestation count again
    back = rep_of([PACT, PACT2, second, first, other, retract(ORG, second, T0 + 2)])
    assert back.summary[("rating", None)].score_sum == 6


def test_equal_created_newest_is_greater_id() -> None:
    a = attest(ORG, MEM, T0, "rating", alliance=PACT.id, score=1)
    b = attest(ORG, MEM, T0, "rating", alliance=PACT.id, score=3)
    expected = max(a, b, key=lambda r: r.id).body["score"]
    assert rep_of([PACT, a, b]).summary[("rating", None)].score_sum == expected
    assert rep_of([b, a, PACT]).summary[("rating", None)].score_sum == expected


def test_skills_are_summarised_per_skill_with_levels() -> None:
    go1 = attest(ORG, MEM, T0, "skill", alliance=PACT.id, skill="go", level=2)
    go2 = attest(ORG2, MEM, T0, "skill", alliance=PACT2.id, skill="go", level=5)
    rust = attest(ORG, MEM, T0, "skill", alliance=PACT.id, skill="rust")
    tour = attest(ORG, MEM, T0, alliance=PACT.id)
    summary = rep_of([PACT, PACT2, go1, go2, rust, tour, COMPLETED]).summary
    assert set(summary) == {("skill", "go"), ("skill", "rust"), ("tour.completed", None)}
    go = summary[("skill", "go")]
    assert (go.count, go.issuers, go.level_max, go.level_sum, go.level_count) == (2, 2, 5, 7, 2)
    assert go.mean_level == 3.5 and go.mean_score is None
    assert summary[("skill", "rust")].level_max is None
    assert summary[("skill", "rust")].mean_level is None


def test_subject_can_be_an_organisation() -> None:
    note = attest(MEM, ORG, T0, "rating", alliance=PACT.id, score=3)
    rep = rep_of([PACT, note], subject=ORG)
    assert rep.summary[("rating", None)].mean_score == 3.0
    assert rep_of([PACT, note], subject=MEM).attestations == ()


def test_to_json_is_json_ready() -> None:
    rating = attest(ORG, MEM, T0, "rating", alliance=PACT.id, score=4)
    skill = attest(ORG, MEM, T0, "skill", alliance=PACT.id, skill="go", level=4)
    gone = attest(OTHER, MEM, T0, "recommendation", text="meh")
    loose = attest(OTHER, MEM, T0 + 1, "rating", score=1)
    view = rep_of([PACT, rating, skill, gone, loose, retract(OTHER, gone, T0 + 2)]).to_json()
    assert json.loads(json.dumps(view)) == view
    assert view["subject"] == did_from_raw(raw(MEM))
    retracted = next(e for e in view["attestations"] if e["state"] == "retracted")
    assert "record" not in retracted and retracted["issuer"] == did_from_raw(raw(OTHER))
    assert [e["id"] for e in view["ungrounded"]] == [loose.id.hex()]
    assert view["summary"] == [
        {
            "claim": "rating",
            "skill": None,
            "count": 1,
            "issuers": 1,
            "score_sum": 4,
            "score_count": 1,
            "mean_score": 4.0,
        },
        {
            "claim": "skill",
            "skill": "go",
            "count": 1,
            "issuers": 1,
            "level_max": 4,
            "level_sum": 4,
            "level_count": 1,
            "mean_level": 4.0,
        },
    ]


POOL = [
    PACT,
    PACT2,
    attest(ORG, MEM, T0, "rating", alliance=PACT.id, score=2),
    attest(ORG, MEM, T0 + 1, "rating", alliance=PACT.id, score=4),
    attest(ORG, MEM, T0 + 1, "rating", alliance=PACT.id, score=5),
    attest(ORG2, MEM, T0, "rating", alliance=PACT2.id, score=3, expires=NOW),
    attest(ORG2, MEM, T0 + 2, "skill", alliance=PACT2.id, skill="go", level=4),
    attest(OTHER, MEM, T0, "rating", score=5),
    attest(OTHER, MEM, T0, "rating", alliance=PACT.id, score=5),
    attest(MEM2, MEM, T0, "skill", skill="go", level=5),
]
POOL += [
    retract(ORG, POOL[4], T0 + 9),
    retract(OTHER, POOL[7], T0 + 9),
    retract(MEM2, POOL[2], T0 + 9),
]


@settings(max_examples=100, deadline=None)
@given(
    st.data(),
    st.lists(st.booleans(), min_size=len(POOL), max_size=len(POOL)),
    st.sampled_from([NOW - 1, NOW]),
)
def test_reputation_is_order_independent_and_counts_only_grounded(
    data: st.DataObject, keep: list[bool], now: int
) -> None:
    subset = [r for r, k in zip(POOL, keep, strict=True) if k]
    expected = rep_of(subset, now=now)
    assert rep_of(data.draw(st.permutations(subset * 2)), now=now) == expected
    grounded_issuers: dict[tuple[str, str | None], set[bytes]] = {}
    for entry in expected.attestations:
        if entry.state == "grounded" and entry.record is not None:
            slot = (entry.record.body["claim"], entry.record.body.get("skill"))
            grounded_issuers.setdefault(slot, set()).add(entry.issuer)
    assert {k: s.issuers for k, s in expected.summary.items()} == {
        k: len(v) for k, v in grounded_issuers.items()
    }
    assert all(s.count == s.issuers for s in expected.summary.values())
