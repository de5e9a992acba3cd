"""Taking records in: validate (section 4, the operator's policy last), then store.

What is new is announced by the store to its commit listeners (``RecordStore.on_commit``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from node.clock import Clock
from node.config import FederationConfig
from node.quotas import StorageQuotas
from node.storage.interface import RecordStore
from node.verifier import Checked, Verifier
from protocol import Policy, Record, Rejected

# told the records a submission made new, with their source (metrics count them by peer)
NewRecordsListener = Callable[[list[Record], bytes | None], Awaitable[None] | None]


@dataclass(frozen=True)
class Outcome:
    """What happened to one submitted record."""

    id: bytes | None = None
    stored: bool = False
    refusal: Rejected | None = None

    @property
    def accepted(self) -> bool:
        return self.refusal is None

    def to_json(self) -> dict[str, object]:
        if self.refusal is not None:
            return {"class": self.refusal.klass, "detail": self.refusal.detail}
        assert self.id is not None
        return {"id": self.id.hex(), "stored": self.stored}


def operator_policy(federation: FederationConfig) -> Policy:
    """The records this node's operator refuses (``[federation] deny_orgs``)."""
    return Policy(denied_authors=federation.deny_orgs)


class Unrequested(Rejected):
    klass = "unrequested"


class Ingestor:
    """The one way records enter a node, whoever sends them: the HTTP API, a peer, the CLI."""

    def __init__(
        self, store: RecordStore, verifier: Verifier, clock: Clock, policy: Callable[[], Policy]
    ) -> None:
        self.store = store
        self.verifier = verifier
        self.clock = clock
        self.policy = policy
        self.listeners: list[NewRecordsListener] = []
        # told (synchronously) every outcome with its source: metrics count refusals
        self.outcome_listeners: list[Callable[[list[Outcome], bytes | None], None]] = []
        # raises when writes must not be attempted now (node.storage.faults: disk floor, damage)
        self.before_write: Callable[[], None] | None = None
        # byte budgets per client and author (node.quotas); None: no quotas (local tools)
        self.quotas: StorageQuotas | None = None

    async def submit(
        self,
        wires: Sequence[bytes],
        source: bytes | None = None,
        client: str | None = None,
        only: set[bytes] | None = None,
    ) -> list[Outcome]:
        """Validate (all of section 4, the operator's policy included) and store.

        ``source`` is the peer the records came from (None: submitted here), ``client`` the
        address of an unsigned HTTP client (for quotas). With ``only``, a record whose id is
        not in it is refused (``unrequested``) and not stored. What is new goes
        to the store's commit listeners (federation, stream) and to ``listeners`` (metrics).
        """
        now = self.clock.now_ms()
        checked = await self.verifier.check(
            list(wires), now, self.policy(), held=self.store.live_wires
        )
        if only is not None:
            checked = [
                Checked(None, Unrequested("a fetch answer held a record that was not asked for"))
                if item.record is not None and item.record.id not in only
                else item
                for item in checked
            ]
        if self.quotas is not None:
            checked = self._charge(checked, source, client)
        accepted = [item.record for item in checked if item.record is not None]
        if accepted and self.before_write is not None:
            self.before_write()
        # private records (node/storage/private.py) are kept apart and never announced
        parties = await self.store.classify_private(accepted) if accepted else []
        public = [r for r, p in zip(accepted, parties, strict=True) if p is None]
        kept = [(r, p) for r, p in zip(accepted, parties, strict=True) if p is not None]
        stored: dict[bytes, bool] = {}
        for (record, _), fresh in zip(kept, await self.store.add_private(kept, now), strict=True):
            stored[record.id] = stored.get(record.id, False) or fresh
        flags = iter(await self.store.add(public, now, source))
        outcomes = [
            Outcome(refusal=item.refusal)
            if item.record is None
            else Outcome(
                id=item.record.id,
                stored=stored[item.record.id] if item.record.id in stored else next(flags),
            )
            for item in checked
        ]
        for observe in self.outcome_listeners:
            observe(outcomes, source)
        new = [
            item.record
            for item, outcome in zip(checked, outcomes, strict=True)
            if item.record is not None and outcome.stored and item.record.id not in stored
        ]
        if new:
            for listener in self.listeners:
                result = listener(new, source)
                if result is not None:
                    await result
        return outcomes

    def _charge(
        self, checked: list[Checked], peer: bytes | None, client: str | None
    ) -> list[Checked]:
        assert self.quotas is not None
        out = []
        for item in checked:
            refusal = (
                None if item.record is None else self.quotas.refusal(item.record, peer, client)
            )
            out.append(item if refusal is None else Checked(None, refusal))
        return out
