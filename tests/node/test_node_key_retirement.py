"""Retired node keys (revision 3 proposal): only the organisation a key is proven to serve
can retire it, and only after the grace period is it refused."""

from __future__ import annotations

from node.federation.directory import PeerDirectory

ORG, OTHER = b"o" * 32, b"x" * 32  # raw keys, as everywhere inside the node
OLD, NEW = b"1" * 32, b"2" * 32
T, GRACE = 1_760_000_000_000, 60.0


def directory() -> PeerDirectory:
    peers = PeerDirectory()
    peers.learn(OLD, "https://a.example", ORG, proven=True)
    return peers


def test_a_key_dropped_by_its_own_organisation_is_refused_after_the_grace() -> None:
    peers = directory()
    peers.note_node_keys(ORG, T, frozenset({OLD}))
    peers.note_node_keys(ORG, T + 1000, frozenset({NEW}))
    assert not peers.retired_too_long(OLD, T + 1000 + 59_000, GRACE)
    assert peers.retired_too_long(OLD, T + 1000 + 60_001, GRACE)
    assert not peers.retired_too_long(NEW, T + 10**9, GRACE)


def test_profiles_arriving_out_of_order_give_the_same_retirement() -> None:
    peers = directory()
    peers.note_node_keys(ORG, T + 1000, frozenset({NEW}))
    peers.note_node_keys(ORG, T, frozenset({OLD}))  # the older profile arrives later
    assert peers.retired_too_long(OLD, T + 1000 + 60_001, GRACE)


def test_another_organisation_cannot_retire_a_proven_key() -> None:
    peers = directory()
    peers.note_node_keys(OTHER, T, frozenset({OLD}))  # a hostile profile claims the key
    peers.note_node_keys(OTHER, T + 1000, frozenset())  # and drops it
    assert not peers.retired_too_long(OLD, T + 10**9, GRACE)


def test_a_key_listed_again_is_no_longer_retired() -> None:
    peers = directory()
    peers.note_node_keys(ORG, T, frozenset({OLD}))
    peers.note_node_keys(ORG, T + 1000, frozenset({NEW}))
    peers.note_node_keys(ORG, T + 2000, frozenset({OLD, NEW}))
    assert not peers.retired_too_long(OLD, T + 10**9, GRACE)


def test_a_served_key_the_newest_profile_does_not_list_is_not_taken_as_settled() -> None:
    """A node of several processes takes its new key one process at a time: a well-known
    document still naming the old key after the profile that lists the new one must be read
    again (the roster does not confirm it), and a profile that lists no node keys settles
    whatever is served."""
    peers = directory()
    assert not peers.listed_elsewhere(ORG, OLD)  # no profile seen yet
    peers.note_node_keys(ORG, T, frozenset({OLD}))
    assert not peers.listed_elsewhere(ORG, OLD)
    peers.note_node_keys(ORG, T + 1000, frozenset({NEW}))
    assert peers.listed_elsewhere(ORG, OLD)
    assert not peers.listed_elsewhere(ORG, NEW)
    assert not peers.listed_elsewhere(None, OLD)
    peers.note_node_keys(OTHER, T, frozenset())
    assert not peers.listed_elsewhere(OTHER, OLD)


def test_profiles_noted_before_their_authors_key_events_join_the_identity() -> None:
    """An organisation that rotated its own key signs profiles with a later key; a profile can
    arrive before the key events that say whose key that is, and is noted under the key
    itself. Once they arrive, it joins the profiles noted under the identity."""
    signing_key = b"s" * 32  # ORG's current key, named by ORG's key events
    for first_under_key in (True, False):
        peers = directory()
        older, newer = (T, frozenset({OLD})), (T + 1000, frozenset({NEW}))
        peers.note_node_keys(signing_key, *(older if first_under_key else newer))
        peers.note_node_keys(ORG, *(newer if first_under_key else older))
        assert not peers.retired_too_long(OLD, T + 10**9, GRACE)  # two organisations, so far
        peers.resolve_orgs(lambda key: key)  # no key events: unchanged
        assert not peers.retired_too_long(OLD, T + 10**9, GRACE)
        peers.resolve_orgs(lambda key: ORG if key == signing_key else key)
        assert peers.retired_too_long(OLD, T + 1000 + 60_001, GRACE)
        assert not peers.retired_too_long(OLD, T + 1000 + 59_000, GRACE)
        assert not peers.retired_too_long(NEW, T + 10**9, GRACE)
        assert peers.listed_elsewhere(ORG, OLD)


def test_a_retirement_noted_under_the_signing_key_moves_to_the_identity() -> None:
    signing_key = b"s" * 32
    peers = directory()
    peers.note_node_keys(signing_key, T, frozenset({OLD}))
    peers.note_node_keys(signing_key, T + 1000, frozenset({NEW}))
    assert not peers.retired_too_long(OLD, T + 10**9, GRACE)  # proven for ORG, not this key
    peers.resolve_orgs(lambda key: ORG if key == signing_key else key)
    assert peers.retired_too_long(OLD, T + 1000 + 60_001, GRACE)
