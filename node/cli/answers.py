"""Checks before answering or withdrawing a record (revision 2), shared by the organisation's
commands (``rakuichi reply``, ``rakuichi retract``) and the member's (``member reply|retract``).

A reply takes effect only for the subject of an attestation or the other party of an ended
alliance; a retract only for the target's own author. Both are refused here, before anything is
signed, when the node shows they would have no effect, or when the node does not hold the target
at all (``--force`` publishes anyway: a target can arrive later).
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable

from crypto import did_from_raw
from node.cli.common import CliError, client
from node.transport import RemoteRefusal, TransportError
from protocol import Record, Rejected, kinds, parse

Offline = Callable[[bytes], Awaitable[Record | None]]


def add_reply_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("target_id", metavar="TARGET-ID", help="the attestation or alliance end")
    p.add_argument("--text", required=True, help="your answer (at most 4,000 characters)")
    p.add_argument("--force", action="store_true", help="publish even if the node lacks TARGET")


def add_retract_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("record_id", metavar="RECORD-ID")
    p.add_argument("--reason")
    p.add_argument(
        "--force", action="store_true", help="publish even if the node does not hold RECORD-ID"
    )


async def fetch_target(url: str, target: bytes) -> tuple[Record | None, Record | None]:
    """The target as the node serves it (None when it does not hold it, or it was retracted)
    and, for an alliance end, the alliance it closes (None when not held)."""
    async with client(url) as node:
        wire = await node.get_record_wire(target)
        if wire is None:
            return None, None
        try:
            record = parse(wire)
        except Rejected as exc:
            raise CliError(f"the node served an invalid record {target.hex()}: {exc}") from None
        if record.kind != kinds.ALLIANCE_END:
            return record, None
        alliance_wire = await node.get_record_wire(record.body["alliance"])
    try:
        return record, parse(alliance_wire) if alliance_wire else None
    except Rejected:
        return record, None


async def check_reply(url: str, target: bytes, me: bytes, force: bool) -> None:
    """Refuse a reply the node shows would have no effect, or whose target it lacks."""
    try:
        record, alliance = await fetch_target(url, target)
    except (TransportError, RemoteRefusal) as exc:
        if force:
            return
        raise CliError(
            f"cannot check the target at {url}: {exc} (--force to reply anyway)"
        ) from None
    if record is None:
        if force:
            return
        raise CliError(
            f"the node does not hold {target.hex()} (unknown or retracted): a reply to it "
            "shows nowhere "
            "until it arrives (--force to reply anyway)"
        )
    if record.kind == kinds.ATTESTATION:
        if record.body["subject"] != me:
            raise CliError(
                f"attestation {target.hex()} is about {did_from_raw(record.body['subject'])}, "
                "not you: only its subject may reply"
            )
        return
    if record.kind == kinds.ALLIANCE_END:
        parties = () if alliance is None else (alliance.author, alliance.body["member"])
        if me not in parties or me == record.author:
            raise CliError(f"only the other party of the alliance may reply to end {target.hex()}")
        return
    raise CliError(
        f"record {target.hex()} is a {record.kind}: replies are to attestations and "
        "alliance ends only"
    )


async def check_retract(
    url: str, target: bytes, me: bytes, force: bool, offline: Offline | None = None
) -> None:
    """Refuse a retract of a record the node does not hold, or of someone else's record.

    ``offline`` reads the target from the node's own database when the node is not running
    (``rakuichi retract --home`` then stores the retract there).
    """
    if force:
        return
    try:
        record, _ = await fetch_target(url, target)
    except (TransportError, RemoteRefusal) as exc:
        if offline is None:
            raise CliError(
                f"cannot check {target.hex()} at {url}: {exc} (--force to retract anyway)"
            ) from None
        record = await offline(target)
    if record is None:
        raise CliError(
            f"the node does not hold {target.hex()} (unknown, or retracted already); check the"
            " id, or retract anyway "
            "with --force"
        )
    if record.author != me:
        raise CliError(
            f"record {target.hex()} is by {did_from_raw(record.author)}: only its author can "
            "retract it"
        )
    if record.kind in kinds.NOT_RETRACTABLE:
        raise CliError(
            f"record {target.hex()} is a {record.kind}, which cannot be retracted"
            + (" (end it: alliance end)" if record.kind == kinds.ALLIANCE else "")
        )
