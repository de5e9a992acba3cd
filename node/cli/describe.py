"""What a record says, in one line of plain words (for ``rakuichi verify`` and the wallet)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crypto import did_from_raw
from node.cli.common import format_ms
from protocol import Record, kinds, parse, read_bundle

Namer = Callable[[bytes], str]


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _attestation(body: dict[str, Any], name: Namer) -> str:
    what = body["claim"]
    if "skill" in body:
        what += f" {body['skill']}"
    if "level" in body:
        what += f" level {body['level']}"
    if "score" in body:
        what += f" score {body['score']}"
    text = f"{what} about {name(body['subject'])}"
    if "alliance" in body:
        text += f", grounded in alliance {body['alliance'].hex()[:12]}"
    if "expires" in body:
        text += f", expires {format_ms(body['expires'])}"
    if "text" in body:
        text += f': "{_short(body["text"])}"'
    return text


def _alliance(record: Record, name: Namer) -> str:
    body = record.body
    dates = f"from {format_ms(body['starts'])}"
    if "ends" in body:
        dates += f" to {format_ms(body['ends'])}"
    relation = body.get("relation", "member")
    return (
        f"{name(record.author)} and {name(body['member'])} ({relation}) agree a {body['tour']} "
        f'tour, {dates}: "{_short(body["mission"])}"'
        + (", alumni clause" if body["alumni"] else "")
    )


def says(record: Record, name: Namer | None = None) -> str:
    """One line: what ``record`` says, naming keys with ``name`` (default: their did:key)."""
    name = name or did_from_raw
    body = record.body
    if record.kind == kinds.ATTESTATION:
        return f"{name(record.author)} attests {_attestation(body, name)}"
    if record.kind == kinds.ALLIANCE:
        return _alliance(record, name)
    if record.kind == kinds.ALLIANCE_END:
        return (
            f"{name(record.author)} ends alliance {body['alliance'].hex()[:12]}: {body['outcome']}"
        )
    if record.kind in (kinds.ORG_PROFILE, kinds.MEMBER_PROFILE):
        who = "organisation" if record.kind == kinds.ORG_PROFILE else "member"
        extra = f", domain {body['domain']}" if "domain" in body else ""
        return f'{name(record.author)}: {who} profile "{_short(body.get("name", ""))}"{extra}'
    if record.kind == kinds.RETRACT:
        return f"{name(record.author)} withdraws record {body['target'].hex()[:12]}"
    if record.kind == kinds.OPPORTUNITY:
        return f'{name(record.author)} offers "{_short(body["title"])}" ({body["status"]})'
    return f"{name(record.author)}: a {record.kind} record"


def bundle_lines(data: bytes, names: dict[bytes, str]) -> list[str]:
    """``records:`` and one line per record of a bundle that checked: what each one says."""

    def name(key: bytes) -> str:
        did = did_from_raw(key)
        return f"{names[key]} ({did})" if names.get(key) else did

    _, wires = read_bundle(data)
    lines = ["records (what each says):"]
    for position, wire in enumerate(wires, start=1):
        record = parse(wire)
        lines.append(
            f"  #{position:<3} {record.kind:<14} {record.id.hex()[:12]}  {says(record, name)}"
        )
    return lines
