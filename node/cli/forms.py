"""What both sides of an alliance write: the options and bodies of ``alliance.end`` and
``attestation``, the check that the signer is a party, and an alliance's terms in words.

Used by the organisation's commands (``alliance``, ``attest``) and the member's (``member``).
"""

from __future__ import annotations

import argparse
from typing import Any

from crypto import did_from_raw
from node.cli.common import CliError, client, format_ms, parse_date_ms, parse_did, parse_id
from node.transport import NodeClient, RemoteRefusal, TransportError
from protocol import Rejected, kinds, parse


def add_end_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("alliance_id", metavar="ALLIANCE-ID")
    p.add_argument("--outcome", required=True, choices=kinds.OUTCOMES)
    p.add_argument("--note")


def end_body(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {
        "alliance": parse_id(args.alliance_id, "ALLIANCE-ID"),
        "outcome": args.outcome,
    }
    if args.note:
        body["note"] = args.note
    return body


def add_attestation_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--subject", required=True, help="did:key the attestation is about")
    p.add_argument("--claim", required=True, choices=kinds.CLAIMS)
    p.add_argument("--alliance", help="id of the alliance between you two that grounds it")
    p.add_argument("--skill", help="required when --claim skill")
    p.add_argument("--level", type=int, help="1..5")
    p.add_argument("--score", type=int, help="1..5, required when --claim rating")
    p.add_argument("--text")
    p.add_argument("--expires", help="YYYY-MM-DD")


def attestation_body(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {"subject": parse_did(args.subject, "--subject"), "claim": args.claim}
    if args.alliance:
        body["alliance"] = parse_id(args.alliance, "--alliance")
    optional = {
        "skill": args.skill,
        "level": args.level,
        "score": args.score,
        "text": args.text,
        "expires": parse_date_ms(args.expires, "--expires") if args.expires else None,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    return body


async def _same_identity(node: NodeClient, key: bytes, parties: tuple[bytes, ...]) -> bool:
    """Whether ``key`` and one of ``parties`` belong to one identity, by the node's key
    histories (a party that rotated its key since the alliance: revision 3 proposal)."""

    async def identity(k: bytes) -> str:
        return str((await node.key_history(did_from_raw(k))).get("identity"))

    mine = await identity(key)
    for party in parties:
        if await identity(party) == mine:
            return True
    return False


async def check_party(url: str, alliance_id: bytes, key: bytes) -> None:
    """Refuse to end an alliance the node shows ``key`` is no party of (an end by anyone
    else has no effect, ever), or one the node shows already ended (a second end changes
    nothing); say nothing when the node is down or lacks the alliance."""
    try:
        async with client(url) as node:
            wire = await node.get_record_wire(alliance_id)
            if wire is None:
                return
            try:
                record = parse(wire)
            except Rejected:
                return
            if record.kind != kinds.ALLIANCE:
                raise CliError(f"record {alliance_id.hex()} is a {record.kind}, not an alliance")
            parties = (record.author, record.body["member"])
            if key not in parties and not await _same_identity(node, key, parties):
                raise CliError(
                    f"{did_from_raw(key)} is not a party of alliance {alliance_id.hex()}"
                )
            member = await node.member(did_from_raw(record.body["member"]))
    except (TransportError, RemoteRefusal):
        return
    for entry in member.get("alliances", []):
        if entry.get("id") == alliance_id.hex() and entry.get("end"):
            raise CliError(
                f"alliance {alliance_id.hex()} already ended (record {entry['end']},"
                f" outcome {entry.get('outcome')}); not publishing a second end"
            )


def describe_alliance(body: dict[str, Any]) -> list[str]:
    """The terms of an alliance body in plain words, one line each."""
    lines = [
        f"  relation      {body.get('relation', kinds.DEFAULT_RELATION)}",
        f"  tour          {body['tour']}",
        f"  mission       {body['mission']}",
        f"  starts        {format_ms(body['starts'])}",
        f"  ends          {format_ms(body['ends']) if 'ends' in body else 'open-ended'}",
    ]
    if "opportunity" in body:
        lines.append(f"  opportunity   {body['opportunity'].hex()}")
    for title, key in (
        ("the organisation commits to", "org_commits"),
        ("the member commits to", "member_commits"),
    ):
        lines.append(f"  {title}:" + ("" if body.get(key) else " nothing stated"))
        lines.extend(f"    - {item}" for item in body.get(key, []))
    lines.append(
        "  terms         "
        + (
            f"sha256 {body['terms'].hex()} of a private document"
            if "terms" in body
            else "no private terms document"
        )
    )
    lines.append(
        "  alumni        "
        + ("yes: both stay allied once the tour ends" if body["alumni"] else "no alumni clause")
    )
    return lines
