"""derive_identities: views by identity over rotations, forks and records by old and new keys."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import SigningKey, sha256
from protocol.builder import Draft, sign_record
from protocol.identityviews import derive_identities
from protocol.keyevents import inception, rotation
from protocol.kinds import ALLIANCE, ALLIANCE_END, ATTESTATION, OPPORTUNITY, ORG_PROFILE, RETRACT
from protocol.record import Record
from protocol.reputation import reputation
from protocol.views import derive

T = 1_760_000_000_000
NOW = T + 10_000_000


def key(label: str) -> SigningKey:
    return SigningKey.from_seed(sha256(f"identityviews-test:{label}".encode()))


def raw(k: SigningKey) -> bytes:
    return k.public_key.raw


# the organisation: first key OI, signing keys OS0..OS2, rotation keys OR1..OR3
OI, OS0, OR1, OS1, OR2, OS2, OR3 = (key(f"o{n}") for n in range(7))
# the member: first key MI, signing keys MS0, MS1, rotation keys MR1, MR2
MI, MS0, MR1, MS1, MR2 = (key(f"m{n}") for n in range(5))
# a plain member (no key events), a thief, a second organisation that gets forked
PLAIN, THIEF, FI, FS0, FR1, FS1 = (key(f"x{n}") for n in range(6))


def opp(k: SigningKey, t: int, slug: str, title: str = "Dev") -> Record:
    body = {"slug": slug, "title": title, "tour": "rotational", "status": "open"}
    return sign_record(k, OPPORTUNITY, t, body)


def alliance(org: SigningKey, member: SigningKey, t: int) -> Record:
    body = {
        "member": raw(member),
        "tour": "rotational",
        "mission": "m",
        "starts": t,
        "alumni": True,
    }
    return Draft.new(ALLIANCE, raw(org), t, body).sign(org).sign(member).finish()


def end(k: SigningKey, target: Record, t: int) -> Record:
    return sign_record(k, ALLIANCE_END, t, {"alliance": target.id, "outcome": "completed"})


def attest(k: SigningKey, subject: bytes, t: int, grounds: Record) -> Record:
    body = {"subject": subject, "claim": "skill", "skill": "go", "alliance": grounds.id}
    return sign_record(k, ATTESTATION, t, body)


ICP = inception(OI, OS0, OR1.public_key, T, cutoff=0)
ROT1 = rotation(OR1, OS1, raw(OI), 1, ICP.id, OR2.public_key, T + 100_000)
ROT2 = rotation(OR2, OS2, raw(OI), 2, ROT1.id, OR3.public_key, T + 200_000)
ROT_BY_CURRENT = rotation(OS2, THIEF, raw(OI), 3, ROT2.id, OR1.public_key, T + 250_000)
M_ICP = inception(MI, MS0, MR1.public_key, T, cutoff=0)
M_ROT1 = rotation(MR1, MS1, raw(MI), 1, M_ICP.id, MR2.public_key, T + 150_000)
F_ICP = inception(FI, FS0, FR1.public_key, T, cutoff=0)
F_ROT1 = rotation(FR1, FS1, raw(FI), 1, F_ICP.id, OR3.public_key, T + 100_000)
F_FORK = rotation(FR1, THIEF, raw(FI), 1, F_ICP.id, OR2.public_key, T + 90_000)

OPP_A0 = opp(OS0, T + 10, "a", "first")
OPP_A1 = opp(OS1, T + 100_010, "a", "second")  # a newer version signed with the next key
OPP_B2 = opp(OS2, T + 200_010, "b")
OPP_C_LATE = opp(OS0, T + 300_000, "c")  # old key after the rotations: not attributed
OPP_D_LATE = opp(OS0, T + 300_000, "a", "hijack")  # would be the newest "a" if attributed
ALLIANCE_1 = alliance(OS0, MS0, T + 20)  # before both rotations
END_1 = end(MS1, ALLIANCE_1, T + 160_000)  # ended by the member with their next key
ALLIANCE_2 = alliance(OS1, PLAIN, T + 100_020)
ATTEST_OLD = attest(OS0, raw(MI), T + 30, ALLIANCE_1)  # before the rotations, about the did
ATTEST_NEW = attest(OS2, raw(MS1), T + 200_030, ALLIANCE_1)  # after, naming a signing key
RETRACT_B = sign_record(OS2, RETRACT, T + 200_040, {"target": OPP_B2.id})
PROFILE_0 = sign_record(OS0, ORG_PROFILE, T + 1, {"name": "Org"})
PROFILE_2 = sign_record(OS2, ORG_PROFILE, T + 200_001, {"name": "Org, renamed"})
F_OPP_OLD = opp(FS0, T + 50, "f")
F_OPP_LATE = opp(FS0, T + 95_000, "g")  # after the fork: nobody's
F_OPP_FORK = opp(THIEF, T + 95_000, "h")

POOL = [
    ICP, ROT1, ROT2, ROT_BY_CURRENT, M_ICP, M_ROT1, F_ICP, F_ROT1, F_FORK,
    OPP_A0, OPP_A1, OPP_B2, OPP_C_LATE, OPP_D_LATE, ALLIANCE_1, END_1, ALLIANCE_2,
    ATTEST_OLD, ATTEST_NEW, RETRACT_B, PROFILE_0, PROFILE_2, F_OPP_OLD, F_OPP_LATE, F_OPP_FORK,
]  # fmt: skip


def test_views_follow_the_identity_across_rotations() -> None:
    result = derive_identities(POOL, NOW)
    views = result.views
    org, member = raw(OI), raw(MI)
    assert views.org_profiles[org].id == PROFILE_2.id
    assert views.opportunities[(org, "a")].id == OPP_A1.id  # not the hijack by the old key
    assert (org, "b") not in views.opportunities  # retracted with a later key of the identity
    assert (org, "c") not in views.opportunities
    assert {OPP_C_LATE.id, OPP_D_LATE.id, F_OPP_LATE.id, F_OPP_FORK.id} <= result.unattributed
    state = views.alliances[ALLIANCE_1.id]
    assert (state.org, state.member, state.in_force) == (org, member, False)
    assert views.alumni[org] == frozenset({member})
    assert views.alliances[ALLIANCE_2.id].org == org
    assert (raw(FI), "f") in views.opportunities
    history = result.keys.history(org)
    assert history is not None and history.current == raw(OS2)
    assert result.keys.rejected[ROT_BY_CURRENT.id] == "not-committed"


def test_reputation_counts_attestations_made_before_and_after_rotations() -> None:
    views = derive_identities(POOL, NOW).views
    rep = reputation(views, raw(MI))
    assert {e.id for e in rep.attestations} == {ATTEST_OLD.id, ATTEST_NEW.id}
    assert all(e.issuer == raw(OI) for e in rep.attestations)
    (summary,) = rep.summary.values()
    assert summary.issuers == 1  # one issuing identity, whatever key it signed with


def test_without_key_events_the_views_are_derive() -> None:
    plain = [OPP_A0, ALLIANCE_2, PROFILE_0]
    assert derive_identities(plain, NOW).views == derive(plain, NOW)


def summary(records: list[Record]) -> object:
    return derive_identities(records, NOW).to_json()


@settings(max_examples=100, deadline=None)
@given(st.permutations(POOL), st.lists(st.sampled_from(POOL), max_size=5))
def test_every_order_and_duplication_gives_the_same_views(
    order: list[Record], copies: list[Record]
) -> None:
    assert summary(order + copies) == summary(POOL)


@settings(max_examples=100, deadline=None)
@given(st.data(), st.lists(st.booleans(), min_size=len(POOL), max_size=len(POOL)))
def test_any_subset_is_order_independent(data: st.DataObject, keep: list[bool]) -> None:
    subset = [r for r, k in zip(POOL, keep, strict=True) if k]
    assert summary(data.draw(st.permutations(subset))) == summary(subset)
