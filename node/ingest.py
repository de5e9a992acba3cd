"""Taking records in: validate (section 4), apply the operator's policy, store, announce."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from node.clock import Clock
from node.storage.store import Store
from node.verifier import Verifier
from protocol import Policy, Record, Rejected

NewRecordsListener = Callable[[list[Record], str | None], Awaitable[None] | None]


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


class Ingestor:
    """The one way records enter a node, whoever sends them."""

    def __init__(
        self, store: Store, verifier: Verifier, clock: Clock, policy: Callable[[], Policy]
    ) -> None:
        self.store = store
        self.verifier = verifier
        self.clock = clock
        self.policy = policy
        self.listeners: list[NewRecordsListener] = []
        # told (synchronously) every outcome with its source: metrics count refusals
        self.outcome_listeners: list[Callable[[list[Outcome], str | None], None]] = []

    async def submit(self, wires: Sequence[bytes], source: str | None = None) -> list[Outcome]:
        """Validate and store; new records are announced to listeners with their source."""
        now = self.clock.now_ms()
        checked = await self.verifier.check(list(wires), now)
        policy = self.policy()
        outcomes: list[Outcome] = []
        accepted: list[Record] = []
        for item in checked:
            if item.record is None:
                outcomes.append(Outcome(refusal=item.refusal))
                continue
            try:
                policy.check(item.record)
            except Rejected as exc:
                outcomes.append(Outcome(refusal=exc))
                continue
            accepted.append(item.record)
            outcomes.append(Outcome(id=item.record.id))
        flags = iter(await self.store.add(accepted, now, source))
        new: list[Record] = []
        for i, outcome in enumerate(outcomes):
            if outcome.accepted:
                stored = next(flags)
                outcomes[i] = Outcome(id=outcome.id, stored=stored)
        new = [
            r
            for r, o in zip(accepted, (o for o in outcomes if o.accepted), strict=True)
            if o.stored
        ]
        for observe in self.outcome_listeners:
            observe(outcomes, source)
        if new:
            for listener in self.listeners:
                result = listener(new, source)
                if result is not None:
                    await result
        return outcomes
