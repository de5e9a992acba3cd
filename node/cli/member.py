"""``rakuichi member``: a member's own tools. A member needs no node: the wallet is one key file
(encrypted when a passphrase is given with ``--passphrase-file`` or ``RAKUICHI_PASSPHRASE``),
and every command talks to whichever node URL it is given.

``sign`` co-signs an alliance draft an organisation left at its node; ``attest``, ``end`` and
``retract`` publish the member's own records; ``export`` fetches a portable bundle of the
member's reputation and ``present`` hands one (checked locally first) to any node.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import aiohttp

from crypto import SigningKey, did_from_raw
from node.cli import credentials, keys
from node.cli.answers import add_reply_options, add_retract_options, check_reply, check_retract
from node.cli.bundles import read_and_verify
from node.cli.common import CliError, client, now_ms, parse_did, parse_id, run_async, say
from node.cli.cosign import cmd_drafts, cmd_sign, org_name, post_record
from node.cli.forms import (
    add_attestation_options,
    add_end_options,
    attestation_body,
    check_party,
    end_body,
)
from node.cli.wallet import create_wallet, load_wallet, new_passphrase, public_file, wallet_did
from node.transport import NodeClient, RemoteRefusal, TransportError, timeouts
from protocol import BundleError, Rejected, kinds, parse, read_bundle, sign_record

BATCH = 5000  # the most records a node takes in one POST


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    top = sub.add_parser("member", help="a member's wallet, alliances and portable reputation")
    what = top.add_subparsers(dest="what", required=True)

    p = what.add_parser("init", help="create a wallet: a new key pair in FILE")
    _wallet(p)
    p.add_argument(
        "--no-passphrase", action="store_true", help="do not encrypt the wallet (no prompt)"
    )
    p.set_defaults(func=cmd_init)
    p = what.add_parser("whoami", help="print the wallet's did:key")
    _wallet(p)
    p.set_defaults(func=cmd_whoami)

    p = what.add_parser("sign", help="read an alliance draft, show its terms, co-sign it")
    p.add_argument("url", metavar="URL-OF-DRAFT")
    _wallet(p)
    p.add_argument("--yes", action="store_true", help="sign without asking")
    p.add_argument(
        "--terms", type=Path, help="the terms document you were given: refuse unless it matches"
    )
    p.set_defaults(func=cmd_sign)
    p = what.add_parser("drafts", help="the alliance drafts waiting for your signature at a node")
    _wallet(p, node=True)
    p.set_defaults(func=cmd_drafts)

    p = what.add_parser("attest", help="attest an organisation (or anyone) you worked with")
    _wallet(p, node=True)
    add_attestation_options(p)
    p.set_defaults(func=cmd_attest)
    p = what.add_parser("end", help="close an alliance you are a party of")
    _wallet(p, node=True)
    add_end_options(p)
    p.set_defaults(func=cmd_end)
    p = what.add_parser("retract", help="withdraw one of your own records")
    _wallet(p, node=True)
    add_retract_options(p)
    p.set_defaults(func=cmd_retract)
    p = what.add_parser(
        "reply", help="answer an attestation about you, or the end of an alliance you are in"
    )
    _wallet(p, node=True)
    add_reply_options(p)
    p.set_defaults(func=cmd_reply)

    p = what.add_parser(
        "export",
        help="fetch a portable bundle of your reputation (--out), or write your "
        "W3C credentials to a directory (--vc)",
    )
    _wallet(p)
    p.add_argument("--node", help="URL of a node (for --out)")
    p.add_argument("--claim", action="append", default=[], choices=kinds.CLAIMS)
    p.add_argument("--issuer", action="append", default=[], help="did:key (repeat)")
    p.add_argument("--skill", action="append", default=[])
    p.add_argument("--out", type=Path, help="the bundle file to write")
    p.add_argument("--vc", type=Path, metavar="DIR", help="one JSON file per credential")
    p.set_defaults(func=cmd_export)
    credentials.add_member_parsers(what, _wallet, wallet_did)
    keys.add_member_parsers(what, _wallet)
    p = what.add_parser(
        "present",
        help="have a node check a bundle (nothing is stored); --publish hands its records over",
    )
    p.add_argument("bundle", type=Path, metavar="BUNDLE")
    p.add_argument("--node", required=True)
    p.add_argument(
        "--publish", action="store_true", help="hand the records to the node to keep and spread"
    )
    p.set_defaults(func=cmd_present)
    p = what.add_parser(
        "opportunities",
        help="open opportunities; --alumni: those offered "
        "to the alumni of organisations you were allied with",
    )
    _wallet(p, node=True)
    p.add_argument("--alumni", action="store_true")
    p.set_defaults(func=cmd_opportunities)


def _wallet(p: argparse.ArgumentParser, node: bool = False) -> None:
    p.add_argument("--wallet", required=True, type=Path, help="the member's key file")
    p.add_argument("--passphrase-file", help="or set RAKUICHI_PASSPHRASE")
    if node:
        p.add_argument("--node", required=True, help="URL of a node")


def cmd_init(args: argparse.Namespace) -> None:
    passphrase, note = new_passphrase(args, sys.stdin.isatty())
    key = create_wallet(args.wallet, passphrase)
    say(f"created wallet {args.wallet}: {note}")
    say(f"  member  {key.public_key.did}  (also in {public_file(args.wallet)})")


def cmd_whoami(args: argparse.Namespace) -> None:
    say(wallet_did(args))


def _publish(args: argparse.Namespace, kind: str, body: dict[str, Any]) -> None:
    key = load_wallet(args)
    try:
        record = sign_record(key, kind, now_ms(), body)
    except Rejected as exc:
        raise CliError(f"not a valid {kind}: {exc.detail}") from None
    state = run_async(post_record(args.node, record))
    say(f"published {kind} {record.id.hex()} ({state})")


# -- the member's own records ---------------------------------------------------------------


def cmd_attest(args: argparse.Namespace) -> None:
    _publish(args, kinds.ATTESTATION, attestation_body(args))


def cmd_end(args: argparse.Namespace) -> None:
    body = end_body(args)
    run_async(check_party(args.node, body["alliance"], load_wallet(args).public_key.raw))
    _publish(args, kinds.ALLIANCE_END, body)


def cmd_retract(args: argparse.Namespace) -> None:
    body: dict[str, Any] = {"target": parse_id(args.record_id, "RECORD-ID")}
    if args.reason:
        body["reason"] = args.reason
    me = load_wallet(args).public_key.raw
    run_async(check_retract(args.node, body["target"], me, args.force))
    _publish(args, kinds.RETRACT, body)


def cmd_reply(args: argparse.Namespace) -> None:
    body = {"target": parse_id(args.target_id, "TARGET-ID"), "text": args.text}
    me = load_wallet(args).public_key.raw
    run_async(check_reply(args.node, body["target"], me, args.force))
    _publish(args, kinds.REPLY, body)


# -- portable reputation --------------------------------------------------------------------


def cmd_export(args: argparse.Namespace) -> None:
    if args.out is None and args.vc is None:
        raise CliError("say what to export: --out FILE (a bundle) and/or --vc DIR (credentials)")
    if args.vc is not None:
        written = credentials.export_credentials(args.wallet, args.vc)
        say(f"exported {written} W3C credential(s) to {args.vc}")
    if args.out is None:
        return
    if args.node is None:
        raise CliError("--out needs --node URL: the node that assembles the bundle")
    key = load_wallet(args)
    me = key.public_key
    issuers = [did_from_raw(parse_did(i, "--issuer")) for i in args.issuer]
    data = run_async(_fetch_bundle(args.node, key, args.claim, issuers, args.skill))
    try:
        subject, wires = read_bundle(data)
        records = [parse(w) for w in wires]
    except (BundleError, Rejected) as exc:
        raise CliError(f"the node sent something that is not a bundle: {exc}") from None
    if subject != me.raw:
        raise CliError(f"the node sent a bundle about {did_from_raw(subject)}, not {me.did}")
    attestations = sum(1 for r in records if r.kind == kinds.ATTESTATION)
    try:
        args.out.write_bytes(data)
    except OSError as exc:
        raise CliError(f"cannot write {args.out}: {exc.strerror}") from None
    say(f"exported {attestations} attestation(s), {len(records)} record(s) in all, to {args.out}")


async def _fetch_bundle(
    url: str, key: SigningKey, claims: list[str], issuers: list[str], skills: list[str]
) -> bytes:
    """The bundle, asked by a request signed with the member's key: the node then adds the
    member's private records (those it keeps for the member and the organisation alone)."""
    try:
        async with aiohttp.ClientSession(timeout=timeouts(total=60)) as session:
            node = NodeClient(url, session, signer=key)
            return await node.bundle(key.public_key.did, claims, issuers, skills)
    except TransportError as exc:
        raise CliError(f"cannot reach the node: {exc}") from None
    except RemoteRefusal as exc:
        raise CliError(f"the node refused: {exc}") from None


def cmd_present(args: argparse.Namespace) -> int:
    report = read_and_verify(args.bundle)
    if not report.ok:
        raise CliError(
            f"refusing to present {args.bundle}: it does not check: "
            + "; ".join(r.describe() for r in report.refused)
        )
    data = args.bundle.read_bytes()
    if not args.publish:
        return _check_at(args.node, data)
    _, wires = read_bundle(data)
    results = run_async(_present(args.node, wires))
    counts = {"stored": 0, "already held": 0, "refused": 0}
    for wire, result in zip(wires, results, strict=True):
        record = parse(wire)
        if "class" in result:
            state = "refused"
            say(
                f"  refused       {record.kind:<14} {record.id.hex()}: {result['class']}: "
                f"{result.get('detail', '')}"
            )
        else:
            state = "stored" if result.get("stored") else "already held"
            say(f"  {state:<13} {record.kind:<14} {record.id.hex()}")
        counts[state] += 1
    say(
        f"presented {len(wires)} record(s) about {did_from_raw(report.subject)} to "
        f"{args.node.rstrip('/')}: " + ", ".join(f"{n} {what}" for what, n in counts.items())
    )
    return 1 if counts["refused"] else 0


def _check_at(url: str, data: bytes) -> int:
    """Have the node check the bundle (``POST /v1/reputation/verify``): it stores nothing."""
    answer = run_async(_verify_at(url, data))
    where = url.rstrip("/")
    if not answer.get("ok"):
        for refused in answer.get("refused", []):
            say(
                f"  refused  record #{refused.get('position')}: {refused.get('class')}: "
                f"{refused.get('detail')}"
            )
        raise CliError(f"{where} checked the bundle and refuses it: nothing in it counts there")
    rep = answer.get("reputation") or {}
    for entry in rep.get("attestations", []):
        say(f"  {entry.get('state', '?'):<10}  {entry.get('id')}  by {entry.get('issuer')}")
    say(
        f"{where} checked {answer.get('records')} record(s) about {answer.get('subject')}: "
        "every record checks; nothing was stored there (--publish hands the records over)"
    )
    return 0


async def _verify_at(url: str, data: bytes) -> dict[str, Any]:
    try:
        async with client(url, total=60) as node:
            return await node.verify_bundle(data)
    except TransportError as exc:
        raise CliError(f"cannot reach the node: {exc}") from None
    except RemoteRefusal as exc:
        raise CliError(f"the node refused the bundle: {exc}") from None


async def _present(url: str, wires: list[bytes]) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    try:
        async with client(url, total=60) as node:
            for start in range(0, len(wires), BATCH):
                results.extend(await node.post_records(wires[start : start + BATCH]))
    except TransportError as exc:
        raise CliError(f"cannot reach the node: {exc}") from None
    except RemoteRefusal as exc:
        raise CliError(f"the node refused the bundle: {exc}") from None
    if len(results) != len(wires):
        raise CliError(f"the node answered {len(results)} results for {len(wires)} records")
    return results


def cmd_opportunities(args: argparse.Namespace) -> None:
    did = load_wallet(args).public_key.did
    for line in run_async(_opportunities(args.node, did, args.alumni)):
        say(line)


async def _opportunities(url: str, did: str, alumni: bool) -> list[str]:
    try:
        async with client(url) as node:
            if not alumni:
                page = await node.opportunities(audience="public", status="open", limit="500")
                return [
                    f"{len(page['opportunities'])} open opportunity(ies) at {url.rstrip('/')}",
                    *map(_opportunity_line, page["opportunities"]),
                ]
            orgs = (await node.member(did))["alumni_of"]
            if not orgs:
                return [f"{did} is an alumnus of no organisation known to {url.rstrip('/')}"]
            lines: list[str] = []
            for org in orgs:
                name = await org_name(node, parse_did(org, "org"))
                page = await node.opportunities(
                    audience="alumni", org=org, status="open", limit="500"
                )
                lines.append(
                    f"alumnus of {name + ' (' + org + ')' if name else org}: "
                    f"{len(page['opportunities'])} opportunity(ies) for alumni"
                )
                lines.extend(map(_opportunity_line, page["opportunities"]))
            return lines
    except TransportError as exc:
        raise CliError(f"cannot reach the node: {exc}") from None
    except RemoteRefusal as exc:
        raise CliError(f"the node refused: {exc}") from None


def _opportunity_line(view: dict[str, Any]) -> str:
    body = view.get("body", {})
    extra = ", ".join(
        str(x)
        for x in (body.get("tour"), body.get("location"), "remote" if body.get("remote") else None)
        if x
    )
    return f"  {body.get('title', '?')}  [{extra}]  by {view.get('author', '?')}  {view['id']}"
