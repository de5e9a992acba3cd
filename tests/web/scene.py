"""A small scene of records for the board's tests (and its screenshots): two organisations,
members and stakeholders, opportunities in English and Japanese, alliances of every relation,
reputation with a reply (and reputation the organisation receives from a member), one record
that tries to inject a script, and a third organisation's archive of closed opportunities
(more than a board page holds: paging) with one of them retracted."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from crypto import SigningKey, sha256
from protocol import kinds
from protocol.builder import Draft, sign_record
from protocol.record import Record

DAY_MS = 86_400_000
HOSTILE_TITLE = "Hacker <script>window.__pwned = 1</script> tour"
HOSTILE_SUMMARY = '<img src="x" onerror="window.__pwned = 2"> <b>bold?</b>'
JA_TITLE = "データ基盤リーダー"
ORG_PRAISE = "They mentor newcomers and keep their word."
ARCHIVE = 23  # closed opportunities of the archive organisation: more than PAGE_SIZE (20)
WITHDRAWN_TITLE = "Withdrawn archive role"


def key(label: str) -> SigningKey:
    return SigningKey.from_seed(sha256(f"rakuichi-web-scene:{label}".encode()))


@dataclass
class Scene:
    records: list[Record] = field(default_factory=list)
    keys: dict[str, SigningKey] = field(default_factory=dict)
    named: dict[str, Record] = field(default_factory=dict)
    retracted: set[bytes] = field(default_factory=set)  # ids of records retracted here

    def held_ids(self) -> list[bytes]:
        """The ids a node holding the scene serves (a retracted record answers 410)."""
        return [r.id for r in self.records if r.id not in self.retracted]

    def add(self, name: str, record: Record) -> Record:
        self.records.append(record)
        self.named[name] = record
        return record

    def texts(self) -> list[str]:
        """Every string the scene's records say (to tell record text from UI text)."""
        found: list[str] = []

        def walk(value: Any) -> None:
            if isinstance(value, str):
                found.append(value)
            elif isinstance(value, dict):
                for v in value.values():
                    walk(v)
            elif isinstance(value, list):
                for v in value:
                    walk(v)

        for r in self.records:
            walk(r.body)
        return sorted(set(found), key=len, reverse=True)


def _alliance(org: SigningKey, party: SigningKey, created: int, **body: Any) -> Record:
    full = {"member": party.public_key.raw, "starts": created - 90 * DAY_MS, **body}
    draft = Draft.new(kinds.ALLIANCE, org.public_key.raw, created, full)
    return draft.sign(org).sign(party).finish()


def build_scene(org: SigningKey, relations: bool, now: int | None = None) -> Scene:
    """The scene around organisation ``org`` (node A's). ``relations``: the protocol in use
    knows ``alliance.relation`` (revision 2)."""
    t = (now or int(time.time() * 1000)) - 10 * DAY_MS
    s = Scene()
    s.keys.update(
        org=org,
        other=key("cobalt"),
        aiko=key("aiko"),
        hanako=key("hanako"),
        supplier=key("sakura-supply"),
        customer=key("kaede-retail"),
        archive=key("kiri-archive"),
    )
    other = s.keys["other"]
    s.add("other_profile", sign_record(other, kinds.ORG_PROFILE, t, {"name": "Cobalt Works"}))
    s.add(
        "supplier_profile",
        sign_record(s.keys["supplier"], kinds.ORG_PROFILE, t, {"name": "Sakura Supply"}),
    )
    s.add(
        "aiko_profile",
        sign_record(
            s.keys["aiko"],
            kinds.MEMBER_PROFILE,
            t,
            {"name": "Aiko Tanaka", "skills": ["python", "sqlite"], "about": "Data engineer."},
        ),
    )
    s.add(
        "hanako_profile",
        sign_record(s.keys["hanako"], kinds.MEMBER_PROFILE, t, {"name": "佐藤 花子"}),
    )
    opp = {
        "data": (
            org,
            {
                "slug": "data-platform-lead",
                "title": "Data platform lead",
                "tour": "transformational",
                "status": "open",
                "remote": True,
                "skills": ["python", "sqlite"],
                "weeks": 26,
                "summary": "Lead the move of our data platform to a federated design.",
            },
        ),
        "ja": (
            org,
            {
                "slug": "data-kiban",
                "title": JA_TITLE,
                "tour": "foundational",
                "status": "open",
                "skills": ["設計"],
                "location": "東京",
                "summary": "基盤の設計と運用を担当していただきます。",
            },
        ),
        "alumni": (
            org,
            {
                "slug": "alumni-return",
                "title": "Alumni return tour",
                "tour": "rotational",
                "status": "open",
                "audience": "alumni",
                "skills": ["python"],
            },
        ),
        "hostile": (
            org,
            {
                "slug": "hostile",
                "title": HOSTILE_TITLE,
                "tour": "rotational",
                "status": "open",
                "summary": HOSTILE_SUMMARY,
            },
        ),
        "cobalt": (
            other,
            {
                "slug": "foundry-steward",
                "title": "Foundry steward",
                "tour": "foundational",
                "status": "open",
                "remote": True,
                "skills": ["operations"],
            },
        ),
        "filled": (
            other,
            {
                "slug": "filled-role",
                "title": "Filled role",
                "tour": "rotational",
                "status": "filled",
            },
        ),
    }
    for i, (name, (author, body)) in enumerate(opp.items()):
        s.add(f"opp_{name}", sign_record(author, kinds.OPPORTUNITY, t + i, body))

    def rel(name: str) -> dict[str, str]:
        return {"relation": name} if relations else {}

    aiko, hanako = s.keys["aiko"], s.keys["hanako"]
    a1 = s.add(
        "alliance_aiko",
        _alliance(
            org,
            aiko,
            t + 100,
            tour="transformational",
            mission="Move the data platform to a federated design.",
            alumni=True,
            org_commits=["mentoring by the CTO"],
            member_commits=["weekly demos"],
            **rel("member"),
        ),
    )
    s.add(
        "end_aiko",
        sign_record(org, kinds.ALLIANCE_END, t + 200, {"alliance": a1.id, "outcome": "completed"}),
    )
    s.add(
        "alliance_hanako",
        _alliance(org, hanako, t + 110, tour="foundational", mission="基盤の運用", alumni=True),
    )
    if relations:
        sup = s.add(
            "alliance_supplier",
            _alliance(
                org,
                s.keys["supplier"],
                t + 120,
                tour="foundational",
                mission="Supply the hardware.",
                alumni=True,
                **rel("supplier"),
            ),
        )
        s.add(
            "end_supplier",
            sign_record(
                org, kinds.ALLIANCE_END, t + 210, {"alliance": sup.id, "outcome": "ended-early"}
            ),
        )
        s.add(
            "alliance_customer",
            _alliance(
                org,
                s.keys["customer"],
                t + 130,
                tour="rotational",
                mission="Pilot the shop.",
                alumni=False,
                **rel("customer"),
            ),
        )
    s.add(
        "skill",
        sign_record(
            org,
            kinds.ATTESTATION,
            t + 300,
            {
                "subject": aiko.public_key.raw,
                "claim": "skill",
                "skill": "distributed systems",
                "level": 5,
                "alliance": a1.id,
                "text": "Designed and shipped our replication layer.",
            },
        ),
    )
    s.add(
        "ungrounded",
        sign_record(
            other,
            kinds.ATTESTATION,
            t + 310,
            {
                "subject": aiko.public_key.raw,
                "claim": "recommendation",
                "text": "Heard good things.",
            },
        ),
    )
    s.add(  # reputation the organisation receives, from a member of an alliance with it
        "org_praise",
        sign_record(
            aiko,
            kinds.ATTESTATION,
            t + 320,
            {
                "subject": org.public_key.raw,
                "claim": "recommendation",
                "alliance": a1.id,
                "text": ORG_PRAISE,
            },
        ),
    )
    _archive(s, t - 5 * DAY_MS)
    if "reply" in kinds.KINDS:
        s.add(
            "reply",
            sign_record(
                aiko,
                "reply",
                t + 400,
                {"target": s.named["skill"].id, "text": "Thank you: it was a team effort."},
            ),
        )
    return s


def _archive(s: Scene, t: int) -> None:
    """Closed opportunities of a third organisation, older than the rest (the board's default,
    open ones, does not show them), two by two created in the same millisecond (paging must
    order ties), and one more of them that its author retracted."""
    archive = s.keys["archive"]
    s.add("archive_profile", sign_record(archive, kinds.ORG_PROFILE, t, {"name": "Kiri Archive"}))
    for i in range(ARCHIVE):
        body = {"slug": f"archive-{i:02d}", "title": f"Archive role {i:02d}", "tour": "rotational"}
        s.add(
            f"archive_{i}",
            sign_record(archive, kinds.OPPORTUNITY, t + 1 + i // 2, {**body, "status": "closed"}),
        )
    withdrawn = s.add(
        "withdrawn",
        sign_record(
            archive,
            kinds.OPPORTUNITY,
            t + 100,
            {
                "slug": "withdrawn",
                "title": WITHDRAWN_TITLE,
                "tour": "rotational",
                "status": "closed",
            },
        ),
    )
    s.add("retract", sign_record(archive, kinds.RETRACT, t + 200, {"target": withdrawn.id}))
    s.retracted.add(withdrawn.id)
