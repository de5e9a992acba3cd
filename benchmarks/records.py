"""Realistic signed records of every kind, generated deterministically and cached.

Records come in chunks, each from its own seeded random generator, so that chunks can be signed
in parallel worker processes and the first N records are the same whatever the total. A chunk
refers only to records of its own chunk (alliance ends, grounded attestations, retracts).
Wires of big stores are cached in ``benchmarks/work/`` keyed by size; a larger cache serves a
smaller size by its prefix.
"""

from __future__ import annotations

import functools
import os
import random
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack

from crypto import SigningKey, sha256
from protocol import kinds
from protocol.builder import Draft, sign_record
from protocol.record import Record

CHUNK = 2_000
FORMAT = "v2"
STORE_T0 = 1_704_067_200_000  # 2024-01-01: big stores' records are spaced STORE_STEP_MS apart
STORE_STEP_MS = 30_000
ORGS, MEMBERS = 24, 4096
BUSY_UNTIL = 2_000  # records below this index may be about the busy member (same in all sizes)
_VOCABULARY = (
    "alliance tour transformational rotational foundational mission product platform data "
    "engineering design research customer growth network python rust sqlite postgres "
    "kubernetes cloud security privacy mobile web frontend backend api search analytics "
    "machine learning model pipeline team lead mentor community open source documentation "
    "testing reliability latency throughput migration legacy modernise launch market "
    "strategy finance payments logistics retail health education energy climate travel "
    "media games music video photo commerce marketplace partner alumni trust reputation "
    "skills weeks remote hybrid office tokyo osaka kyoto berlin lisbon toronto nairobi "
    "build ship measure learn improve deliver scale simplify review support operate "
    "accessibility localisation onboarding pricing billing identity federation protocol "
    "signature record replication storage index query cache queue stream event schedule"
)
WORDS = tuple(_VOCABULARY.split())
SKILLS = (
    "python",
    "rust",
    "ux",
    "sql",
    "kubernetes",
    "design",
    "research",
    "product",
    "security",
    "ml",
    "frontend",
    "backend",
    "writing",
    "sales",
    "finance",
    "ops",
)
CLAIMS = ("tour.completed", "skill", "rating", "recommendation")
# per 100 records
MIX = (
    (kinds.ORG_PROFILE, 2),
    (kinds.MEMBER_PROFILE, 8),
    (kinds.OPPORTUNITY, 15),
    (kinds.ALLIANCE, 12),
    (kinds.ALLIANCE_END, 8),
    (kinds.ATTESTATION, 45),
    (kinds.RETRACT, 4),
    ("x.note", 6),
)


@dataclass(frozen=True)
class Keys:
    orgs: tuple[SigningKey, ...]
    members: tuple[SigningKey, ...]

    @property
    def busy_member(self) -> SigningKey:
        return self.members[0]


@functools.cache
def keys(orgs: int = ORGS, members: int = MEMBERS) -> Keys:
    """The same keys every run (derived from labels)."""

    def key(label: str) -> SigningKey:
        return SigningKey.from_seed(sha256(f"rakuichi-bench:{label}".encode()))

    return Keys(
        tuple(key(f"org{i}") for i in range(orgs)), tuple(key(f"member{i}") for i in range(members))
    )


def _words(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choices(WORDS, k=rng.randint(low, high))).capitalize() + "."


class _Chunk:
    """One chunk's generator: its random source and the records it can refer to."""

    def __init__(self, seed: str, chunk: int, t0: int, step_ms: int, first: int) -> None:
        self.rng = random.Random(f"{seed}:{chunk}")
        self.keys = keys()
        self.t0, self.step, self.first = t0, step_ms, first
        self.alliances: list[tuple[Record, SigningKey, SigningKey]] = []
        self.retractable: list[tuple[Record, SigningKey]] = []
        self.kinds = [k for k, n in MIX for _ in range(n)]

    def record(self, index: int) -> Record:
        rng, created = self.rng, self.t0 + index * self.step + self.rng.randrange(self.step)
        kind = rng.choice(self.kinds)
        org = rng.choice(self.keys.orgs)
        member = rng.choice(self.keys.members[1:])
        if kind == kinds.ALLIANCE_END and not self.alliances:
            kind = kinds.ALLIANCE
        if kind == kinds.RETRACT and not self.retractable:
            kind = kinds.ATTESTATION
        record, signer = self._make(kind, index, created, org, member)
        if kind not in (kinds.ALLIANCE, kinds.RETRACT):
            self.retractable.append((record, signer))
        return record

    def _make(
        self, kind: str, index: int, created: int, org: SigningKey, member: SigningKey
    ) -> tuple[Record, SigningKey]:
        rng = self.rng
        if kind == kinds.ORG_PROFILE:
            body: dict[str, Any] = {
                "name": f"Organisation {rng.randrange(10_000)}",
                "about": _words(rng, 40, 90),
                "domain": f"org{rng.randrange(10_000)}.example",
            }
            return sign_record(org, kind, created, body), org
        if kind == kinds.MEMBER_PROFILE:
            body = {
                "name": f"Member {rng.randrange(100_000)}",
                "about": _words(rng, 20, 60),
                "skills": rng.sample(SKILLS, rng.randint(2, 6)),
            }
            return sign_record(member, kind, created, body), member
        if kind == kinds.OPPORTUNITY:
            body = {
                "slug": f"role-{rng.randrange(400)}",
                "title": _words(rng, 2, 5)[:-1],
                "tour": rng.choice(kinds.TOURS),
                "status": rng.choice(("open",) * 3 + ("filled", "closed")),
                "summary": _words(rng, 60, 150),
                "skills": rng.sample(SKILLS, rng.randint(2, 5)),
                "remote": rng.random() < 0.5,
                "weeks": rng.randint(4, 104),
                "location": rng.choice(WORDS[80:88]).capitalize(),
            }
            return sign_record(org, kind, created, body), org
        if kind == kinds.ALLIANCE:
            body = {
                "member": member.public_key.raw,
                "tour": rng.choice(kinds.TOURS),
                "mission": _words(rng, 15, 40),
                "starts": created,
                "alumni": rng.random() < 0.7,
                "org_commits": [_words(rng, 5, 12) for _ in range(rng.randint(1, 3))],
                "member_commits": [_words(rng, 5, 12) for _ in range(rng.randint(1, 3))],
            }
            record = (
                Draft.new(kind, org.public_key.raw, created, body).sign(org).sign(member).finish()
            )
            self.alliances.append((record, org, member))
            return record, org
        if kind == kinds.ALLIANCE_END:
            agreed, a_org, a_member = rng.choice(self.alliances)
            signer = a_org if rng.random() < 0.5 else a_member
            body = {"alliance": agreed.id, "outcome": rng.choice(kinds.OUTCOMES)}
            return sign_record(signer, kind, created, body), signer
        if kind == kinds.ATTESTATION:
            return self._attestation(index, created, org, member)
        if kind == kinds.RETRACT:
            target, signer = self.retractable.pop(rng.randrange(len(self.retractable)))
            body = {"target": target.id, "reason": _words(rng, 3, 10)}
            return sign_record(signer, kind, created, body), signer
        body = {"note": _words(rng, 10, 40), "tags": rng.sample(SKILLS, 2)}
        return sign_record(org, kind, created, body), org

    def _attestation(
        self, index: int, created: int, org: SigningKey, member: SigningKey
    ) -> tuple[Record, SigningKey]:
        rng = self.rng
        busy = index < BUSY_UNTIL and rng.random() < 0.25
        issuer, subject = (org, self.keys.busy_member if busy else member)
        grounded = None
        if self.alliances and rng.random() < 0.6:
            grounded, issuer, subject = rng.choice(self.alliances)
        if not busy and rng.random() < 0.3:
            issuer, subject = subject, issuer
        claim = rng.choice(CLAIMS)
        body: dict[str, Any] = {"subject": subject.public_key.raw, "claim": claim}
        if grounded is not None:
            body["alliance"] = grounded.id
        if claim == "skill":
            body.update(skill=rng.choice(SKILLS), level=rng.randint(1, 5))
        elif claim == "rating":
            body["score"] = rng.randint(1, 5)
        if rng.random() < 0.5:
            body["text"] = _words(rng, 10, 40)
        return sign_record(issuer, kinds.ATTESTATION, created, body), issuer


def chunk_wires(seed: str, chunk: int, t0: int, step_ms: int, count: int = CHUNK) -> list[bytes]:
    """Wires of records ``chunk*CHUNK`` .. ``+count`` of the sequence named by ``seed``."""
    first = chunk * CHUNK
    gen = _Chunk(seed, chunk, t0, step_ms, first)
    return [gen.record(first + i).wire for i in range(count)]


def generate(seed: str, count: int, t0: int, step_ms: int, first: int = 0) -> list[bytes]:
    """Records ``first`` .. ``first+count`` of the sequence named by ``seed`` (``first`` a
    multiple of CHUNK), signed in parallel worker processes."""
    assert first % CHUNK == 0
    jobs = [
        (seed, first // CHUNK + c, t0, step_ms, min(CHUNK, count - c * CHUNK))
        for c in range(-(-count // CHUNK))
    ]
    workers = os.cpu_count() or 1
    if workers <= 1 or len(jobs) <= 1:
        return [w for job in jobs for w in chunk_wires(*job)]
    with ProcessPoolExecutor(workers) as pool:
        parts = pool.map(chunk_wires, *zip(*jobs, strict=True))
        return [w for part in parts for w in part]


def fresh(count: int, now_ms: int, seed: str) -> list[bytes]:
    """Records created over the last ``count`` ms before ``now_ms``: new ids for every seed."""
    return generate(f"fresh:{seed}", count, now_ms - 60_000 - count * 5, 5)


# ----- the cache of big stores' wires


def _cache_path(work: Path, count: int) -> Path:
    return work / f"wires-{FORMAT}-{count}.msgpack"


def _cached(work: Path, count: int) -> Path | None:
    best: tuple[int, Path] | None = None
    for path in work.glob(f"wires-{FORMAT}-*.msgpack"):
        try:
            size = int(path.stem.rsplit("-", 1)[1])
        except ValueError:
            continue
        if size >= count and (best is None or size < best[0]):
            best = (size, path)
    return best[1] if best else None


def read_wires(path: Path, count: int) -> Iterator[bytes]:
    with path.open("rb") as f:
        unpacker = msgpack.Unpacker(f, max_buffer_size=64 * 1024 * 1024)
        for n, wire in enumerate(unpacker):
            if n >= count:
                return
            yield wire


def store_wires(work: Path, count: int) -> Path:
    """A file holding at least ``count`` wires of the store sequence (generated if needed)."""
    path = _cached(work, count)
    if path is not None:
        return path
    work.mkdir(parents=True, exist_ok=True)
    path = _cache_path(work, count)
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as f:
        done = 0
        step = 50 * CHUNK
        while done < count:  # in slices, so memory stays bounded
            n = min(step, count - done)
            wires = generate("store", n, STORE_T0, STORE_STEP_MS, first=done)
            f.write(b"".join(msgpack.packb(w, use_bin_type=True) for w in wires))
            done += n
    tmp.replace(path)
    return path
