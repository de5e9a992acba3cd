"""Key histories (revision 3 proposal): who speaks for an identity, and since when.

``key_histories(records)`` is a pure function of the SET of records: it reads the key events
(``protocol.keyevents``) among them and computes, for every identity that has an inception,
its valid chain of events, the time window in which each of its signing keys speaks for it,
evidence of duplicity (a fork), and contested keys. Arrival order never matters: every choice
below is made from the records alone, and every list is sorted.

The rules (docs/protocol.md, "Revision 3 proposal", is the full statement):

1. **Chain.** Step 0 is the identity's valid ``key.inception`` (authored by the identity's first
   key). Step ``s >= 1`` is a valid ``key.rotation`` with ``identity`` = the identity, ``seq`` =
   ``s``, ``prior`` = the id of step ``s - 1``, authored by the rotation key whose SHA-256 step
   ``s - 1`` committed to (``next``), created strictly after step ``s - 1``, and whose author
   and signing key appear nowhere earlier in the chain.
2. **Duplicity.** Two or more valid events at the same step are a fork: the chain ends before
   that step, the identity is *duplicitous* from it on, the forking events are the evidence, and
   the key in force before the fork stops counting at the earliest of their ``previous_key_end``.
   Events after a fork are rejected (``not-in-chain``).
3. **Windows.** The first key speaks for the identity in ``[0, end)`` where ``end`` is the
   inception's ``previous_key_end`` (its records from before key events existed). The signing
   key of step ``s`` speaks in ``[created of step s, previous_key_end of step s + 1)``, open
   when ``s`` is the last step. Windows are half-open; an empty window attributes nothing.
4. **Attribution.** A record signed by key ``K`` at ``created`` ``t`` belongs to identity ``I``
   when ``K`` has a window of ``I`` containing ``t`` and no other identity has a window for
   ``K`` (a key claimed by two identities is *contested* and attributes nothing). A key that
   appears in no valid key event at all is a *plain* identity of its own: every record it signs
   is its own (revision-2 behaviour).
5. **Pending.** A rotation whose ``prior`` is not held waits for it (a gap); it takes effect
   when the prior arrives.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from crypto import did_from_raw, sha256
from protocol.errors import SchemaError
from protocol.keyevents import KEY_EVENT_KINDS, KEY_INCEPTION, KeyEvent, parse_event
from protocol.record import Record

ESTABLISHED = "established"
DUPLICITOUS = "duplicitous"
PLAIN = "plain"

# Why an event is not part of its identity's chain (stable codes, used by the vectors).
MALFORMED = "malformed"  # fails parse_event (body schema, consent signature, fresh keys)
NO_INCEPTION = "no-inception"  # its prior is held, but its identity has no valid inception
NOT_COMMITTED = "not-committed"  # its author is not the rotation key the prior committed to
NOT_AFTER_PRIOR = "not-after-prior"  # created is not strictly after the prior's created
KEY_REUSED = "key-reused"  # its author or signing key already appears in the chain
SEQ_MISMATCH = "seq-mismatch"  # seq is not the prior's seq + 1
NOT_IN_CHAIN = "not-in-chain"  # its prior is held but is not an event of the valid chain


@dataclass(frozen=True, slots=True)
class KeyWindow:
    """When ``key`` speaks for ``identity``: ``start <= created < end`` (``end`` None: open)."""

    identity: bytes
    key: bytes
    seq: int | None  # the step that introduced the key; None for the first key's own window
    start: int
    end: int | None
    event: bytes | None  # id of the introducing event (None for the first key's own window)

    def contains(self, created: int) -> bool:
        return self.start <= created and (self.end is None or created < self.end)

    def to_json(self) -> dict[str, Any]:
        return {
            "key": did_from_raw(self.key),
            "seq": self.seq,
            "from": self.start,
            "until": self.end,
            "event": None if self.event is None else self.event.hex(),
        }


@dataclass(frozen=True, slots=True)
class Duplicity:
    """A fork: the step at which two or more valid events compete, and those events."""

    seq: int
    evidence: tuple[bytes, ...]  # ids, sorted

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "evidence": [i.hex() for i in self.evidence]}


@dataclass(frozen=True)
class KeyHistory:
    """One identity's key history, as far as the set of records shows it."""

    identity: bytes
    chain: tuple[KeyEvent, ...]  # the valid events, step 0 first (empty for a plain identity)
    windows: tuple[KeyWindow, ...]
    duplicity: Duplicity | None
    contested: dict[bytes, frozenset[bytes]]  # key -> the other identities that claim it
    rejected: dict[bytes, str]  # id -> reason code, for events naming this identity

    @property
    def state(self) -> str:
        if self.duplicity is not None:
            return DUPLICITOUS
        return ESTABLISHED if self.chain else PLAIN

    @property
    def current(self) -> bytes | None:
        """The signing key that speaks for the identity now (None once duplicitous)."""
        if self.duplicity is not None or not self.windows or self.windows[-1].end is not None:
            return None
        return self.windows[-1].key

    @property
    def next(self) -> bytes | None:
        """The commitment to the next rotation key (None for plain or duplicitous)."""
        if self.duplicity is not None or not self.chain:
            return None
        return self.chain[-1].next

    def to_json(self) -> dict[str, Any]:
        current, committed = self.current, self.next
        return {
            "identity": did_from_raw(self.identity),
            "state": self.state,
            "current": None if current is None else did_from_raw(current),
            "next": None if committed is None else committed.hex(),
            "seq": self.chain[-1].seq if self.chain else None,
            "events": [e.id.hex() for e in self.chain],
            "keys": [w.to_json() for w in self.windows],
            "duplicity": None if self.duplicity is None else self.duplicity.to_json(),
            "contested": {
                did_from_raw(k): [did_from_raw(i) for i in sorted(others)]
                for k, others in sorted(self.contested.items())
            },
            "rejected": {i.hex(): reason for i, reason in sorted(self.rejected.items())},
        }


def plain_history(key: bytes) -> KeyHistory:
    """The history of a key with no key events: it alone speaks for itself, forever."""
    return KeyHistory(key, (), (KeyWindow(key, key, None, 0, None, None),), None, {}, {})


@dataclass(frozen=True)
class KeyHistories:
    """Every key history a set of records establishes, and attribution by those histories."""

    histories: dict[bytes, KeyHistory]  # established and duplicitous identities only
    claims: dict[bytes, tuple[KeyWindow, ...]]  # signing key -> its windows, all identities
    chained: frozenset[bytes]  # every key named by a valid (chain or fork) event
    pending: dict[bytes, frozenset[bytes]]  # missing prior id -> ids of rotations waiting on it
    rejected: dict[bytes, str]  # event id -> reason code, every identity (pending excluded)

    def history(self, identity: bytes) -> KeyHistory | None:
        """The history of ``identity``, a plain one for a key in no key event, else None."""
        found = self.histories.get(identity)
        if found is not None:
            return found
        return None if identity in self.chained else plain_history(identity)

    def identity_at(self, key: bytes, created: int) -> bytes | None:
        """The identity ``key`` speaks for at time ``created``, or None (retired, contested,
        outside every window, or a key that only ever signed key events)."""
        windows = self.claims.get(key)
        if not windows:
            return None if key in self.chained else key
        if len({w.identity for w in windows}) > 1:
            return None
        for window in windows:
            if window.contains(created):
                return window.identity
        return None

    def attribute(self, record: Record) -> bytes | None:
        """The identity ``record`` (by its author) belongs to; key events belong to none."""
        if record.kind in KEY_EVENT_KINDS:
            return None
        return self.identity_at(record.author, record.created)

    def is_attributable(self, record: Record, identity: bytes) -> bool:
        return self.attribute(record) == identity

    def resolve(self, key: bytes) -> bytes:
        """The identity a key *names* in a body field (``subject``, ``member``), whatever the
        time: the identity itself for a first key; the one identity it is a signing key of;
        else the key itself (a plain key, or a contested one)."""
        if key in self.histories:
            return key
        identities = {w.identity for w in self.claims.get(key, ())}
        return identities.pop() if len(identities) == 1 else key

    def to_json(self) -> dict[str, Any]:
        return {
            "identities": {did_from_raw(i): h.to_json() for i, h in sorted(self.histories.items())},
            "pending": {
                p.hex(): [w.hex() for w in sorted(waiting)]
                for p, waiting in sorted(self.pending.items())
            },
            "rejected": {i.hex(): reason for i, reason in sorted(self.rejected.items())},
        }


def key_histories(records: Iterable[Record]) -> KeyHistories:
    """The key histories of the set ``records`` (see the module docstring)."""
    held: set[bytes] = set()
    inceptions: defaultdict[bytes, list[KeyEvent]] = defaultdict(list)
    rotations: defaultdict[bytes, list[KeyEvent]] = defaultdict(list)
    rejected: dict[bytes, str] = {}
    named: defaultdict[bytes, dict[bytes, str]] = defaultdict(dict)  # identity -> rejected
    for record in records:
        if record.id in held:
            continue
        held.add(record.id)
        if record.kind not in KEY_EVENT_KINDS:
            continue
        try:
            event = parse_event(record)
        except SchemaError:
            rejected[record.id] = MALFORMED
            identity = _named_identity(record)
            if identity is not None:
                named[identity][record.id] = MALFORMED
            continue
        (inceptions if event.seq == 0 else rotations)[event.identity].append(event)

    pending: defaultdict[bytes, set[bytes]] = defaultdict(set)
    for identity, events in rotations.items():
        for event in events:
            if event.prior not in held:
                assert event.prior is not None
                pending[event.prior].add(event.id)
            elif identity not in inceptions:
                rejected[event.id] = named[identity][event.id] = NO_INCEPTION

    walks = {i: _walk(i, inceptions[i], rotations.get(i, []), held) for i in inceptions}
    for identity, walk in walks.items():
        for event_id, reason in walk.rejected.items():
            rejected[event_id] = named[identity][event_id] = reason

    claims: defaultdict[bytes, list[KeyWindow]] = defaultdict(list)
    chained: set[bytes] = set()
    for walk in walks.values():
        for window in walk.windows:
            claims[window.key].append(window)
        chained.update(walk.keys)
    sorted_claims = {
        k: tuple(sorted(ws, key=lambda w: (w.identity, w.start, w.seq or 0)))
        for k, ws in claims.items()
    }
    histories = {}
    for identity, walk in walks.items():
        contested = {}
        for window in walk.windows:
            others = {w.identity for w in sorted_claims[window.key]} - {identity}
            if others:
                contested[window.key] = frozenset(others)
        histories[identity] = KeyHistory(
            identity, walk.chain, walk.windows, walk.duplicity, contested, named[identity]
        )
    return KeyHistories(
        histories=histories,
        claims=sorted_claims,
        chained=frozenset(chained),
        pending={p: frozenset(w) for p, w in pending.items()},
        rejected=rejected,
    )


def _named_identity(record: Record) -> bytes | None:
    """The identity a malformed key event names, when it names one at all."""
    if record.kind == KEY_INCEPTION:
        return record.author
    identity = record.body.get("identity")
    return identity if isinstance(identity, bytes) and len(identity) == 32 else None


@dataclass(frozen=True)
class _Walk:
    chain: tuple[KeyEvent, ...]
    windows: tuple[KeyWindow, ...]
    duplicity: Duplicity | None
    keys: frozenset[bytes]  # every key the chain and any fork name
    rejected: dict[bytes, str]


def _walk(
    identity: bytes, inceptions: list[KeyEvent], rotations: list[KeyEvent], held: set[bytes]
) -> _Walk:
    """Follow one identity's chain from its inception(s) as far as the events allow."""
    by_prior: defaultdict[bytes, list[KeyEvent]] = defaultdict(list)
    for event in rotations:
        assert event.prior is not None
        by_prior[event.prior].append(event)
    rejected: dict[bytes, str] = {}
    chain: list[KeyEvent] = []
    keys: set[bytes] = {identity}
    step: list[KeyEvent] = list(inceptions)  # the valid events competing for the next step
    while len(step) == 1:
        event = step[0]
        chain.append(event)
        keys.update((event.author, event.key))
        step = []
        for candidate in by_prior.pop(event.id, []):
            reason = _step_problem(event, candidate, keys)
            if reason is None:
                step.append(candidate)
            else:
                rejected[candidate.id] = reason
    duplicity = None
    if len(step) > 1:
        duplicity = Duplicity(len(chain), tuple(sorted(e.id for e in step)))
        for event in step:
            keys.update((event.author, event.key))
    for waiting in by_prior.values():  # priors held but off the chain (forks, strays, after)
        for event in waiting:
            if event.prior in held:
                rejected[event.id] = NOT_IN_CHAIN
    return _Walk(
        tuple(chain), _windows(identity, chain, step), duplicity, frozenset(keys), rejected
    )


def _step_problem(prior: KeyEvent, event: KeyEvent, keys: set[bytes]) -> str | None:
    """Why ``event`` cannot follow ``prior`` in a chain that already names ``keys``, or None."""
    if event.seq != prior.seq + 1:
        return SEQ_MISMATCH
    if sha256(event.author) != prior.next:
        return NOT_COMMITTED
    if event.created <= prior.created:
        return NOT_AFTER_PRIOR
    if event.author in keys or event.key in keys:
        return KEY_REUSED
    return None


def _windows(
    identity: bytes, chain: list[KeyEvent], after: list[KeyEvent]
) -> tuple[KeyWindow, ...]:
    """The first key's own window, then one window per step; ``after`` holds the events that
    follow the last step (two or more: a fork; none: the last window stays open)."""
    if not chain:  # a fork at the inception: the first key speaks only before it
        return (KeyWindow(identity, identity, None, 0, _end_before(after), None),)
    windows = [KeyWindow(identity, identity, None, 0, chain[0].previous_key_end, None)]
    for i, event in enumerate(chain):
        end = chain[i + 1].previous_key_end if i + 1 < len(chain) else _end_before(after)
        windows.append(KeyWindow(identity, event.key, event.seq, event.created, end, event.id))
    return tuple(windows)


def _end_before(events: list[KeyEvent]) -> int | None:
    return min((e.previous_key_end for e in events), default=None)
