"""derive(): every rule of protocol.views, and order/duplication independence over a pool."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import SigningKey, did_from_raw
from protocol.builder import Draft, sign_record
from protocol.kinds import (
    ALLIANCE,
    ALLIANCE_END,
    ATTESTATION,
    MEMBER_PROFILE,
    OPPORTUNITY,
    ORG_PROFILE,
    REPLY,
    RETRACT,
)
from protocol.record import Record
from protocol.views import Tombstone, Views, derive

T0 = 1_700_000_000_000
NOW = T0 + 1_000_000


def key(n: int) -> SigningKey:
    return SigningKey.from_seed(bytes([n]) * 32)


ORG, ORG2, MEM, MEM2, OTHER = (key(n) for n in range(1, 6))


def raw(k: SigningKey) -> bytes:
    return k.public_key.raw


def org_profile(k: SigningKey, t: int, name: str = "Org") -> Record:
    return sign_record(k, ORG_PROFILE, t, {"name": name})


def member_profile(k: SigningKey, t: int, name: str = "Member") -> Record:
    return sign_record(k, MEMBER_PROFILE, t, {"name": name})


def opportunity(
    k: SigningKey, t: int, slug: str = "dev", title: str = "Dev", status: str = "open"
) -> Record:
    return sign_record(
        k, OPPORTUNITY, t, {"slug": slug, "title": title, "tour": "rotational", "status": status}
    )


def alliance(
    org: SigningKey, member: SigningKey, t: int, alumni: bool = True, mission: str = "Ship it"
) -> Record:
    body = {
        "member": raw(member),
        "tour": "rotational",
        "mission": mission,
        "starts": t,
        "alumni": alumni,
    }
    return Draft.new(ALLIANCE, raw(org), t, body).sign(org).sign(member).finish()


def end(k: SigningKey, target: Record | bytes, t: int, outcome: str = "completed") -> Record:
    aid = target.id if isinstance(target, Record) else target
    return sign_record(k, ALLIANCE_END, t, {"alliance": aid, "outcome": outcome})


def attest(
    k: SigningKey, subject: SigningKey, t: int, claim: str = "tour.completed", **extra: Any
) -> Record:
    return sign_record(k, ATTESTATION, t, {"subject": raw(subject), "claim": claim, **extra})


def retract(k: SigningKey, target: Record | bytes, t: int) -> Record:
    tid = target.id if isinstance(target, Record) else target
    return sign_record(k, RETRACT, t, {"target": tid})


def reply(k: SigningKey, target: Record | bytes, t: int, text: str = "My answer.") -> Record:
    tid = target.id if isinstance(target, Record) else target
    return sign_record(k, REPLY, t, {"target": tid, "text": text})


def unknown(k: SigningKey, t: int, note: str = "x") -> Record:
    return sign_record(k, "org.badge", t, {"note": note})


MISSING = b"\x42" * 32  # an id no record in these tests has


def only_tombstoned(views: Views, rid: bytes) -> None:
    """``rid`` is a tombstone and appears in no other view."""
    assert rid in views.tombstones
    records = [
        *views.org_profiles.values(),
        *views.member_profiles.values(),
        *views.opportunities.values(),
    ]
    records += [s.record for s in views.alliances.values()]
    records += [s.end for s in views.alliances.values() if s.end is not None]
    assert rid not in {r.id for r in records}
    assert rid not in views.attestations
    assert rid not in views.unknown
    assert rid not in views.pending
    assert all(rid not in waiting for waiting in views.pending.values())


# --- retract ------------------------------------------------------------------------------


def test_empty_set() -> None:
    views = derive([], NOW)
    assert views == Views({}, {}, {}, {}, {}, {}, {}, {}, frozenset(), {})


def test_retract_after_target_erases_it() -> None:
    profile = org_profile(ORG, T0)
    views = derive([profile, retract(ORG, profile, T0 + 1)], NOW)
    assert views.org_profiles == {}
    assert views.tombstones == {profile.id: Tombstone(profile.id, ORG_PROFILE, raw(ORG), T0, None)}
    only_tombstoned(views, profile.id)


def test_retract_before_target_is_pending_then_erases_it() -> None:
    profile = org_profile(ORG, T0)
    withdrawal = retract(ORG, profile, T0 + 1)
    before = derive([withdrawal], NOW)
    assert before.pending == {profile.id: frozenset({withdrawal.id})}
    assert before.tombstones == {}
    after = derive([withdrawal, profile], NOW)
    assert after.pending == {}
    only_tombstoned(after, profile.id)


def test_retract_by_someone_else_has_no_effect() -> None:
    profile = org_profile(ORG, T0)
    views = derive([profile, retract(OTHER, profile, T0 + 1)], NOW)
    assert views.org_profiles == {raw(ORG): profile}
    assert views.tombstones == {} and views.pending == {}


def test_retract_of_an_alliance_has_no_effect() -> None:
    pact = alliance(ORG, MEM, T0)
    views = derive([pact, retract(ORG, pact, T0 + 1), retract(MEM, pact, T0 + 2)], NOW)
    assert views.alliances[pact.id].in_force
    assert views.tombstones == {}


def test_retract_of_a_retract_has_no_effect() -> None:
    profile = org_profile(ORG, T0)
    first = retract(ORG, profile, T0 + 1)
    views = derive([profile, first, retract(ORG, first, T0 + 2)], NOW)
    assert set(views.tombstones) == {profile.id}
    assert views.org_profiles == {}


def test_retract_of_unknown_kind_by_its_author_only() -> None:
    mine, theirs = unknown(MEM, T0), unknown(MEM2, T0)
    views = derive([mine, theirs, retract(MEM, mine, T0 + 1), retract(MEM, theirs, T0 + 1)], NOW)
    assert views.unknown == frozenset({theirs.id})
    assert views.tombstones == {mine.id: Tombstone(mine.id, "org.badge", raw(MEM), T0, None)}


def test_retracted_record_waits_on_nothing() -> None:
    closing = end(ORG, MISSING, T0)
    views = derive([closing, retract(ORG, closing, T0 + 1)], NOW)
    assert views.pending == {}
    only_tombstoned(views, closing.id)


def test_retracted_attestation_tombstone_keeps_subject() -> None:
    note = attest(ORG, MEM, T0)
    views = derive([note, retract(ORG, note, T0 + 1)], NOW)
    assert views.attestations == {}
    assert views.tombstones[note.id].subject == raw(MEM)


# --- replaceable kinds ---------------------------------------------------------------------


def test_newest_profile_wins() -> None:
    old, new = org_profile(ORG, T0, "Old"), org_profile(ORG, T0 + 5, "New")
    other = org_profile(ORG2, T0)
    m_old, m_new = member_profile(MEM, T0 + 9, "Old"), member_profile(MEM, T0 + 10, "New")
    views = derive([new, old, other, m_new, m_old], NOW)
    assert views.org_profiles == {raw(ORG): new, raw(ORG2): other}
    assert views.member_profiles == {raw(MEM): m_new}


def test_equal_created_greater_id_wins() -> None:
    a, b = org_profile(ORG, T0, "A"), org_profile(ORG, T0, "B")
    winner = max(a, b, key=lambda r: r.id)
    assert derive([a, b], NOW).org_profiles[raw(ORG)] == winner
    assert derive([b, a], NOW).org_profiles[raw(ORG)] == winner


def test_retracted_newest_lets_previous_be_current() -> None:
    old, new = member_profile(MEM, T0, "Old"), member_profile(MEM, T0 + 5, "New")
    views = derive([old, new, retract(MEM, new, T0 + 6)], NOW)
    assert views.member_profiles == {raw(MEM): old}
    gone = derive([old, new, retract(MEM, new, T0 + 6), retract(MEM, old, T0 + 7)], NOW)
    assert gone.member_profiles == {}


def test_opportunity_per_author_and_slug_any_status() -> None:
    dev1 = opportunity(ORG, T0, "dev", "v1")
    dev2 = opportunity(ORG, T0 + 1, "dev", "v2", status="closed")
    ops = opportunity(ORG, T0, "ops")
    theirs = opportunity(ORG2, T0, "dev")
    tie_a, tie_b = opportunity(ORG2, T0, "qa", "A"), opportunity(ORG2, T0, "qa", "B")
    views = derive([dev2, dev1, ops, theirs, tie_a, tie_b], NOW)
    assert views.opportunities == {
        (raw(ORG), "dev"): dev2,
        (raw(ORG), "ops"): ops,
        (raw(ORG2), "dev"): theirs,
        (raw(ORG2), "qa"): max(tie_a, tie_b, key=lambda r: r.id),
    }


# --- alliances, ends, alumni --------------------------------------------------------------


def test_alliance_without_end_is_in_force() -> None:
    pact = alliance(ORG, MEM, T0)
    state = derive([pact], NOW).alliances[pact.id]
    assert state.in_force and state.end is None and state.outcome is None
    assert (state.org, state.member) == (raw(ORG), raw(MEM))


def test_end_by_third_party_has_no_effect() -> None:
    pact = alliance(ORG, MEM, T0)
    stranger = end(OTHER, pact, T0 + 1)
    assert derive([stranger], NOW).pending == {pact.id: frozenset({stranger.id})}
    views = derive([stranger, pact], NOW)
    assert views.alliances[pact.id].in_force
    assert views.pending == {} and views.alumni == {}
    later = end(MEM, pact, T0 + 2, "ended-early")
    assert derive([pact, stranger, later], NOW).alliances[pact.id].end == later


def test_two_ends_earliest_wins_then_smaller_id() -> None:
    pact = alliance(ORG, MEM, T0)
    by_org, by_member = end(ORG, pact, T0 + 9), end(MEM, pact, T0 + 5, "ended-early")
    state = derive([by_org, pact, by_member], NOW).alliances[pact.id]
    assert state.end == by_member and state.outcome == "ended-early" and not state.in_force
    tie_a, tie_b = end(ORG, pact, T0 + 5, "completed"), end(MEM, pact, T0 + 5, "completed")
    tied = derive([pact, tie_a, tie_b], NOW).alliances[pact.id]
    assert tied.end == min(tie_a, tie_b, key=lambda r: r.id)


def test_retracted_end_lets_the_next_end_win() -> None:
    pact = alliance(ORG, MEM, T0)
    first, second = end(MEM, pact, T0 + 1), end(ORG, pact, T0 + 2)
    views = derive([pact, first, second, retract(MEM, first, T0 + 3)], NOW)
    assert views.alliances[pact.id].end == second
    alone = derive([pact, first, retract(MEM, first, T0 + 3)], NOW)
    assert alone.alliances[pact.id].in_force


def test_end_before_alliance_is_pending_then_ends_it() -> None:
    pact = alliance(ORG, MEM, T0)
    closing = end(ORG, pact, T0 + 1)
    before = derive([closing], NOW)
    assert before.pending == {pact.id: frozenset({closing.id})}
    assert before.alliances == {} and before.alumni == {}
    after = derive([closing, pact], NOW)
    assert after.pending == {}
    assert after.alliances[pact.id].end == closing
    assert after.alumni == {raw(ORG): frozenset({raw(MEM)})}


def test_end_of_a_non_alliance_has_no_effect() -> None:
    profile = org_profile(ORG, T0)
    views = derive([profile, end(ORG, profile, T0 + 1)], NOW)
    assert views.pending == {} and views.alliances == {}
    assert views.org_profiles == {raw(ORG): profile}


def test_alumni_only_for_ended_alliances_with_alumni_true() -> None:
    kept = alliance(ORG, MEM, T0, alumni=True)
    parted = alliance(ORG, MEM2, T0, alumni=False)
    running = alliance(ORG2, MEM, T0, alumni=True)
    views = derive([kept, parted, running, end(MEM, kept, T0 + 1), end(ORG, parted, T0 + 1)], NOW)
    assert views.alumni == {raw(ORG): frozenset({raw(MEM)})}
    assert views.alliances[running.id].in_force


# --- attestations ---------------------------------------------------------------------------


def test_grounded_ungrounded_expired() -> None:
    pact = alliance(ORG, MEM, T0)
    other_pact = alliance(ORG, MEM2, T0)
    profile = org_profile(ORG, T0)
    cases = {
        "org about member": (attest(ORG, MEM, T0 + 1, alliance=pact.id), "grounded"),
        "member about org": (attest(MEM, ORG, T0 + 1, alliance=pact.id), "grounded"),
        "no alliance": (attest(ORG, MEM, T0 + 2), "ungrounded"),
        "third party": (attest(OTHER, MEM, T0 + 1, alliance=pact.id), "ungrounded"),
        "wrong alliance": (attest(ORG, MEM, T0 + 3, alliance=other_pact.id), "ungrounded"),
        "not an alliance": (attest(ORG, MEM, T0 + 4, alliance=profile.id), "ungrounded"),
        "expires now": (attest(ORG, MEM, T0 + 5, alliance=pact.id, expires=NOW), "expired"),
        "expires later": (attest(ORG, MEM, T0 + 6, alliance=pact.id, expires=NOW + 1), "grounded"),
        "expired ungrounded": (attest(OTHER, MEM, T0 + 7, expires=NOW - 1), "expired"),
    }
    done = end(MEM, pact, T0 + 1)  # tour.completed needs its alliance ended completed
    views = derive([pact, done, other_pact, profile, *(r for r, _ in cases.values())], NOW)
    for name, (record, state) in cases.items():
        assert views.attestations[record.id].state == state, name
    assert views.pending == {}
    expired_grounded = views.attestations[cases["expires now"][0].id]
    assert expired_grounded.grounded and expired_grounded.expired


def test_attestation_before_its_alliance_is_pending_and_ungrounded() -> None:
    pact = alliance(ORG, MEM, T0)
    note = attest(MEM, ORG, T0 + 1, "recommendation", alliance=pact.id)
    before = derive([note], NOW)
    assert before.pending == {pact.id: frozenset({note.id})}
    assert before.attestations[note.id].state == "ungrounded"
    after = derive([note, pact], NOW)
    assert after.pending == {} and after.attestations[note.id].state == "grounded"


def test_alliance_opportunity_is_not_a_pending_reference() -> None:
    body = {
        "member": raw(MEM),
        "tour": "rotational",
        "mission": "m",
        "starts": T0,
        "alumni": False,
        "opportunity": MISSING,
    }
    pact = Draft.new(ALLIANCE, raw(ORG), T0, body).sign(ORG).sign(MEM).finish()
    assert derive([pact], NOW).pending == {}


def test_pending_groups_waiters_by_reference() -> None:
    r1, r2 = retract(ORG, MISSING, T0), end(MEM, MISSING, T0)
    a1 = attest(ORG, MEM, T0, alliance=MISSING)
    assert derive([r1, r2, a1], NOW).pending == {MISSING: frozenset({r1.id, r2.id, a1.id})}


# --- unknown kinds, duplicates, JSON ---------------------------------------------------------


def test_unknown_kinds_are_kept_opaque() -> None:
    badge = unknown(ORG, T0)
    views = derive([badge, org_profile(ORG, T0)], NOW)
    assert views.unknown == frozenset({badge.id})
    assert len(views.org_profiles) == 1


def test_duplicates_are_one_record() -> None:
    pact = alliance(ORG, MEM, T0)
    records = [pact, end(ORG, pact, T0 + 1), attest(ORG, MEM, T0, alliance=pact.id)]
    assert derive(records * 3, NOW) == derive(records, NOW)


def test_to_json_is_json_ready() -> None:
    pact = alliance(ORG, MEM, T0)
    note = attest(ORG, MEM, T0, alliance=pact.id)
    records = [
        org_profile(ORG, T0),
        member_profile(MEM, T0),
        opportunity(ORG, T0),
        pact,
        end(MEM, pact, T0 + 1),
        note,
        retract(ORG, note, T0 + 2),
        retract(ORG, MISSING, T0),
        unknown(MEM, T0),
    ]
    view = derive(records, NOW).to_json()
    assert json.loads(json.dumps(view)) == view
    org, mem = did_from_raw(raw(ORG)), did_from_raw(raw(MEM))
    assert set(view["org_profiles"]) == {org}
    assert set(view["opportunities"][org]) == {"dev"}
    assert view["alliances"][pact.id.hex()]["outcome"] == "completed"
    assert view["alumni"] == {org: [mem]}
    assert view["tombstones"][note.id.hex()]["subject"] == mem
    assert view["pending"] == {MISSING.hex(): [records[7].id.hex()]}
    assert derive(reversed(records), NOW).to_json() == view


# --- order and duplication do not matter ------------------------------------------------------


def _pool() -> list[Record]:
    """A fixed scenario that touches every rule; signed once for all property tests."""
    pact = alliance(ORG, MEM, T0, alumni=True)
    pact2 = alliance(ORG, MEM2, T0 + 1, alumni=False)
    pact3 = alliance(ORG2, MEM, T0 + 2, alumni=True)
    ghost = alliance(ORG2, MEM2, T0 + 3)  # never in the pool: stays missing
    p_old, p_new, p_tie = (
        org_profile(ORG, T0, "a"),
        org_profile(ORG, T0 + 5, "b"),
        org_profile(ORG, T0 + 5, "c"),
    )
    m_old, m_new = member_profile(MEM, T0, "a"), member_profile(MEM, T0 + 5, "b")
    o1, o2, o3 = (
        opportunity(ORG, T0, "dev", "1"),
        opportunity(ORG, T0 + 1, "dev", "2"),
        opportunity(ORG, T0 + 1, "dev", "3", "filled"),
    )
    o4 = opportunity(ORG2, T0 + 1, "dev", "4")
    e_member, e_org, e_third = (
        end(MEM, pact, T0 + 20),
        end(ORG, pact, T0 + 20),
        end(OTHER, pact, T0 + 1),
    )
    e_early = end(ORG, pact, T0 + 10, "ended-early")
    e2 = end(MEM2, pact2, T0 + 30)
    e_ghost = end(ORG2, ghost, T0 + 30)
    a_good = attest(ORG, MEM, T0 + 40, "rating", alliance=pact.id, score=4)
    a_back = attest(MEM, ORG, T0 + 40, "rating", alliance=pact.id, score=5)
    a_third = attest(OTHER, MEM, T0 + 40, "rating", alliance=pact.id, score=1)
    a_bare = attest(ORG2, MEM, T0 + 40, "skill", skill="go", level=3)
    a_exp = attest(ORG, MEM2, T0 + 41, alliance=pact2.id, expires=NOW)
    a_live = attest(ORG, MEM2, T0 + 42, alliance=pact2.id, expires=NOW + 5)
    a_ghost = attest(MEM2, ORG2, T0 + 43, alliance=ghost.id)
    a_pact3 = attest(ORG2, MEM, T0 + 44, "skill", alliance=pact3.id, skill="go", level=5)
    badge, badge2 = unknown(MEM, T0), unknown(MEM2, T0)
    r_new = retract(ORG, p_tie, T0 + 50)
    r_member = retract(MEM, m_new, T0 + 50)
    r_opp = retract(ORG, o2, T0 + 50)
    r_end = retract(ORG, e_early, T0 + 51)
    r_pact = retract(ORG, pact, T0 + 51)
    r_other = retract(OTHER, p_new, T0 + 52)
    r_retract = retract(ORG, r_opp, T0 + 53)
    r_att = retract(ORG, a_good, T0 + 54)
    r_missing = retract(MEM2, MISSING, T0 + 55)
    r_badge = retract(MEM, badge, T0 + 56)
    r_badge2 = retract(MEM, badge2, T0 + 56)
    r_ghost_end = retract(ORG2, e_ghost, T0 + 57)
    # revision 2: a supplier alliance between two organisations, an end dated before it,
    # tour.completed claims, and replies (in effect, replaced, retracted, by others, waiting)
    supplier_body = {
        "member": raw(ORG2),
        "relation": "supplier",
        "tour": "rotational",
        "mission": "Supply",
        "starts": T0,
        "alumni": True,
    }
    supplier = Draft.new(ALLIANCE, raw(ORG), T0 + 2, supplier_body).sign(ORG).sign(ORG2).finish()
    e_before = end(ORG2, supplier, T0 + 1)  # dated before its alliance: no effect
    e_supplier = end(ORG2, supplier, T0 + 60, "ended-early")
    a_tour = attest(ORG, MEM, T0 + 45, alliance=pact.id)  # tour.completed: pact's end decides
    a_tour2 = attest(ORG, ORG2, T0 + 46, alliance=supplier.id)  # ended early: ungrounded
    rp_sub = reply(MEM, a_third, T0 + 61, "Not my view.")
    rp_sub2 = reply(MEM, a_third, T0 + 62, "Not my view, on reflection.")
    rp_other = reply(OTHER, a_bare, T0 + 63)  # not the subject: no effect
    rp_end = reply(ORG, e_supplier, T0 + 64, "Agreed.")  # the other party of the end
    rp_wait = reply(MEM, MISSING, T0 + 65)
    r_rp = retract(MEM, rp_sub2, T0 + 66)
    return [
        supplier,
        e_before,
        e_supplier,
        a_tour,
        a_tour2,
        rp_sub,
        rp_sub2,
        rp_other,
        rp_end,
        rp_wait,
        r_rp,
        pact,
        pact2,
        pact3,
        p_old,
        p_new,
        p_tie,
        m_old,
        m_new,
        o1,
        o2,
        o3,
        o4,
        e_member,
        e_org,
        e_third,
        e_early,
        e2,
        e_ghost,
        a_good,
        a_back,
        a_third,
        a_bare,
        a_exp,
        a_live,
        a_ghost,
        a_pact3,
        badge,
        badge2,
        r_new,
        r_member,
        r_opp,
        r_end,
        r_pact,
        r_other,
        r_retract,
        r_att,
        r_missing,
        r_badge,
        r_badge2,
        r_ghost_end,
    ]


POOL = _pool()
FULL = derive(POOL, NOW)
TIMES = st.sampled_from([T0, NOW - 1, NOW, NOW + 5, NOW + 6])


def test_pool_exercises_every_view() -> None:
    assert all(
        [
            FULL.org_profiles,
            FULL.member_profiles,
            FULL.opportunities,
            FULL.alliances,
            FULL.alumni,
            FULL.attestations,
            FULL.tombstones,
            FULL.pending,
            FULL.unknown,
            FULL.replies,
        ]
    )
    assert {s.relation for s in FULL.alliances.values()} == {"member", "supplier"}
    assert len(FULL.replies) == 2
    assert {s.state for s in FULL.attestations.values()} == {"grounded", "ungrounded", "expired"}
    assert len(FULL.tombstones) == 8


def shuffled_with_duplicates(data: st.DataObject, records: list[Record]) -> list[Record]:
    extra = data.draw(st.lists(st.sampled_from(records), max_size=10)) if records else []
    return data.draw(st.permutations(records + extra))


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_every_permutation_and_duplication_gives_the_same_views(data: st.DataObject) -> None:
    assert derive(shuffled_with_duplicates(data, POOL), NOW) == FULL


@settings(max_examples=150, deadline=None)
@given(st.data(), st.lists(st.booleans(), min_size=len(POOL), max_size=len(POOL)), TIMES)
def test_any_subset_is_order_independent(data: st.DataObject, keep: list[bool], now: int) -> None:
    subset = [r for r, k in zip(POOL, keep, strict=True) if k]
    views = derive(subset, now)
    assert derive(shuffled_with_duplicates(data, subset), now) == views
    assert views.to_json() == derive(reversed(subset), now).to_json()
    check_invariants(views, subset)


@settings(max_examples=100, deadline=None)
@given(st.data(), st.lists(st.booleans(), min_size=len(POOL), max_size=len(POOL)))
def test_subset_then_rest_equals_all(data: st.DataObject, keep: list[bool]) -> None:
    first = [r for r, k in zip(POOL, keep, strict=True) if k]
    rest = [r for r, k in zip(POOL, keep, strict=True) if not k]
    derive(first, NOW)  # a node that held only `first` derives this, then the rest arrives
    arrived = shuffled_with_duplicates(data, first) + shuffled_with_duplicates(data, rest)
    assert derive(arrived, NOW) == FULL


def check_invariants(views: Views, records: list[Record]) -> None:
    held = {r.id for r in records}
    for rid in views.tombstones:
        only_tombstoned(views, rid)
    assert not set(views.pending) & held
    for state in views.alliances.values():
        if state.end is not None:
            assert state.end.author in (state.org, state.member)
            assert state.end.body["alliance"] == state.record.id
            assert state.end.created >= state.record.created  # earlier ends have no effect
    for target, answer in views.replies.items():  # only the subject or the other party
        assert target in held and target not in views.tombstones
        assert answer.id not in views.tombstones and answer.body["target"] == target
        if target in views.attestations:
            assert views.attestations[target].record.body["subject"] == answer.author
    for state in views.attestations.values():
        if state.grounded:
            assert state.record.body["alliance"] in views.alliances


# --- revision 2: grounding, ends before their alliance, relations, replies -------------------


def test_tour_completed_counts_only_once_its_alliance_ended_completed() -> None:
    pact = alliance(ORG, MEM, T0)
    tour = attest(ORG, MEM, T0 + 1, alliance=pact.id)
    assert derive([pact, tour], NOW).attestations[tour.id].state == "ungrounded"
    early = end(MEM, pact, T0 + 2, "ended-early")
    assert derive([pact, tour, early], NOW).attestations[tour.id].state == "ungrounded"
    done = end(ORG, pact, T0 + 2, "completed")
    assert derive([pact, tour, done], NOW).attestations[tour.id].state == "grounded"
    # the winning end decides: the earliest (then the smaller id)
    first = min(early, done, key=lambda r: r.id)
    expected = "grounded" if first is done else "ungrounded"
    assert derive([pact, tour, early, done], NOW).attestations[tour.id].state == expected
    # retracting the completed end takes the grounding back
    assert (
        derive([pact, tour, done, retract(ORG, done, T0 + 3)], NOW).attestations[tour.id].state
        == "ungrounded"
    )


def test_end_dated_before_its_alliance_has_no_effect() -> None:
    pact = alliance(ORG, MEM, T0 + 10)
    before = end(MEM, pact, T0 + 9)
    views = derive([pact, before], NOW)
    assert views.alliances[pact.id].in_force and views.alumni == {}
    at = end(MEM, pact, T0 + 10)  # the same millisecond counts
    views = derive([pact, before, at], NOW)
    assert views.alliances[pact.id].end == at


def test_alumni_after_any_end() -> None:
    pact = alliance(ORG, MEM, T0)
    views = derive([pact, end(ORG, pact, T0 + 1, "ended-early")], NOW)
    assert views.alumni == {raw(ORG): frozenset({raw(MEM)})}


def test_alliance_relation_defaults_to_member() -> None:
    body = {
        "member": raw(ORG2),
        "relation": "supplier",
        "tour": "rotational",
        "mission": "Supply",
        "starts": T0,
        "alumni": False,
    }
    supplier = Draft.new(ALLIANCE, raw(ORG), T0, body).sign(ORG).sign(ORG2).finish()
    plain = alliance(ORG, MEM, T0)
    views = derive([supplier, plain], NOW)
    assert views.alliances[supplier.id].relation == "supplier"
    assert views.alliances[plain.id].relation == "member"
    assert views.to_json()["alliances"][supplier.id.hex()]["relation"] == "supplier"


def test_reply_by_the_subject_is_shown_beside_the_attestation() -> None:
    pact = alliance(ORG, MEM, T0)
    note = attest(ORG, MEM, T0 + 1, "recommendation", alliance=pact.id, text="late")
    answer = reply(MEM, note, T0 + 2, "I was late once, for a good reason.")
    newer = reply(MEM, note, T0 + 3, "Thank you.")
    by_other = reply(OTHER, note, T0 + 4)  # not the subject: no effect
    by_issuer = reply(ORG, note, T0 + 5)  # the issuer is not the subject either
    views = derive([pact, note, answer, newer, by_other, by_issuer], NOW)
    assert views.replies == {note.id: newer}
    # retracting the newest brings the older one back
    views = derive([pact, note, answer, newer, retract(MEM, newer, T0 + 6)], NOW)
    assert views.replies == {note.id: answer}
    # a reply to a retracted attestation shows nowhere
    views = derive([pact, note, answer, retract(ORG, note, T0 + 6)], NOW)
    assert views.replies == {}


def test_reply_to_an_end_only_by_the_other_party() -> None:
    pact = alliance(ORG, MEM, T0)
    closed = end(ORG, pact, T0 + 1, "ended-early")
    answer = reply(MEM, closed, T0 + 2, "We agreed to part early.")
    own = reply(ORG, closed, T0 + 3)  # the end's own author: no effect
    assert derive([pact, closed, answer, own], NOW).replies == {closed.id: answer}
    # a reply to anything else (a profile) has no effect
    profile = org_profile(ORG, T0)
    assert derive([profile, reply(MEM, profile, T0 + 1)], NOW).replies == {}


def test_reply_before_its_target_waits_and_then_takes_effect() -> None:
    note = attest(ORG, MEM, T0 + 1, "recommendation")
    answer = reply(MEM, note, T0 + 2)
    before = derive([answer], NOW)
    assert before.pending == {note.id: frozenset({answer.id})} and before.replies == {}
    after = derive([answer, note], NOW)
    assert after.pending == {} and after.replies == {note.id: answer}
