"""Organisation side of alliances: ``alliance propose|end``, ``attest``, ``retract``, and the
checks anyone can run: ``terms verify`` (a terms document against an alliance) and ``verify``
(a portable reputation bundle, offline).

Every record is signed with the organisation key of ``--home``. A proposed alliance is left at
the organisation's own node as a draft (it must be running) for the member to co-sign with
``rakuichi member sign URL``; the other records go to the node like ``rakuichi publish``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from crypto import InvalidDid, SigningKey, did_from_raw, raw_from_did, sha256
from node.cli.answers import (
    Offline,
    add_reply_options,
    add_retract_options,
    check_reply,
    check_retract,
)
from node.cli.common import (
    CliError,
    client,
    format_ms,
    parse_date_ms,
    read_passphrase_file,
    run_async,
    say,
)
from node.cli.publish import _home, _publish, local_url
from node.config import NodeConfig, load_config, load_keys
from node.storage.store import Store
from node.tomlfile import ConfigError
from node.transport import RemoteRefusal, TransportError
from protocol import (
    BundleError,
    BundleReport,
    Draft,
    Record,
    Rejected,
    kinds,
    parse,
    validate_record,
    verify_bundle,
)


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    top = sub.add_parser("alliance", help="propose or end an alliance (organisation side)")
    what = top.add_subparsers(dest="what", required=True)

    p = what.add_parser(
        "propose", help="sign an alliance and leave it at the node for the member to co-sign"
    )
    _home(p)
    p.add_argument(
        "--member",
        required=True,
        help="the other party's did:key: a person, or another organisation's key",
    )
    p.add_argument(
        "--relation",
        choices=kinds.RELATIONS,
        help="who the other party is to the organisation (default: member)",
    )
    p.add_argument("--tour", required=True, choices=kinds.TOURS)
    p.add_argument("--mission", required=True)
    p.add_argument("--starts", required=True, help="YYYY-MM-DD")
    p.add_argument("--ends", help="YYYY-MM-DD (planned; it does not end the alliance)")
    p.add_argument("--opportunity", help="id of the opportunity this tour fills")
    p.add_argument(
        "--org-commit",
        action="append",
        default=[],
        help="what the organisation commits to (repeat)",
    )
    p.add_argument(
        "--member-commit", action="append", default=[], help="what the member commits to (repeat)"
    )
    p.add_argument(
        "--terms", type=Path, help="private terms document: only its SHA-256 goes into the alliance"
    )
    p.add_argument(
        "--alumni",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="both stay allied once the tour ends",
    )
    p.set_defaults(func=cmd_propose)

    p = what.add_parser("end", help="close an alliance (alliance.end)")
    _home(p)
    add_end_options(p)
    p.set_defaults(func=cmd_end)

    p = sub.add_parser("attest", help="attest a member's work (signed by the organisation)")
    _home(p)
    add_attestation_options(p)
    p.set_defaults(func=cmd_attest)

    p = sub.add_parser("retract", help="withdraw one of the organisation's own records")
    _home(p)
    add_retract_options(p)
    p.set_defaults(func=cmd_retract)

    p = sub.add_parser(
        "reply", help="answer an attestation about the organisation, or an end of its alliance"
    )
    _home(p)
    add_reply_options(p)
    p.set_defaults(func=cmd_reply)

    top = sub.add_parser("terms", help="check a private terms document against an alliance")
    what = top.add_subparsers(dest="what", required=True)
    p = what.add_parser("verify", help="compare FILE's SHA-256 with the alliance's terms")
    p.add_argument("file", type=Path, metavar="FILE")
    p.add_argument("alliance_id", metavar="ALLIANCE-ID")
    p.add_argument("--node", required=True, help="URL of a node holding the alliance")
    p.set_defaults(func=cmd_terms_verify)

    p = sub.add_parser("verify", help="check a reputation bundle offline (no network)")
    p.add_argument("bundle", type=Path, metavar="BUNDLE")
    p.set_defaults(func=cmd_verify)


# -- shared with the member's commands ------------------------------------------------------


def now_ms() -> int:
    return int(time.time() * 1000)


def parse_did(text: str, name: str) -> bytes:
    try:
        return raw_from_did(text)
    except InvalidDid as exc:
        raise CliError(f"{name}: {exc}") from None


def parse_id(text: str, name: str) -> bytes:
    try:
        value = bytes.fromhex(text)
    except ValueError:
        value = b""
    if len(value) != 32 or text != text.lower():
        raise CliError(f"{name} must be a record id (64 lowercase hex digits), not {text!r:.80}")
    return value


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
            if key not in (record.author, record.body["member"]):
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


# -- organisation side ----------------------------------------------------------------------


def _org_key(args: argparse.Namespace) -> SigningKey:
    try:
        return load_keys(args.home, read_passphrase_file(args.passphrase_file)).org
    except ConfigError as exc:
        raise CliError(str(exc)) from None


def cmd_propose(args: argparse.Namespace) -> None:
    config = load_config(args.home)
    org = _org_key(args)
    body: dict[str, Any] = {
        "member": parse_did(args.member, "--member"),
        "tour": args.tour,
        "mission": args.mission,
        "starts": parse_date_ms(args.starts, "--starts"),
        "alumni": args.alumni,
    }
    if args.relation:
        body["relation"] = args.relation
    if args.ends:
        body["ends"] = parse_date_ms(args.ends, "--ends")
        if body["ends"] < body["starts"]:
            raise CliError("--ends is before --starts")
    if args.opportunity:
        body["opportunity"] = parse_id(args.opportunity, "--opportunity")
    if args.org_commit:
        body["org_commits"] = args.org_commit
    if args.member_commit:
        body["member_commits"] = args.member_commit
    if args.terms is not None:
        try:
            body["terms"] = sha256(args.terms.read_bytes())
        except OSError as exc:
            raise CliError(f"cannot read terms file {args.terms}: {exc.strerror}") from None
    try:
        draft = Draft.new(kinds.ALLIANCE, org.public_key.raw, now_ms(), body).sign(org)
    except Rejected as exc:
        raise CliError(f"not a valid alliance: {exc.detail}") from None
    answer = run_async(_post_draft(local_url(config), draft.wire))
    url = answer.get("url") or f"{config.public_url}/v1/drafts/{draft.id.hex()}"
    relation = f" ({args.relation})" if args.relation else ""
    say(f"proposed alliance {draft.id.hex()} to {args.member}{relation}")
    say(f"  signed by the organisation {org.public_key.did}; awaiting the member's signature")
    if "terms" in body:
        say(f"  terms sha256 {body['terms'].hex()} (the document itself stays private)")
    say(f"the member opens {url}")
    say(f"  and signs with: rakuichi member sign {url} --wallet WALLET")


async def _post_draft(url: str, wire: bytes) -> dict[str, Any]:
    try:
        async with client(url) as node:
            return await node.post_draft(wire)
    except TransportError as exc:
        raise CliError(f"the node must be running to keep a draft: {exc}") from None
    except RemoteRefusal as exc:
        raise CliError(f"the node refused the draft: {exc}") from None


def cmd_end(args: argparse.Namespace) -> None:
    body = end_body(args)
    org = _org_key(args)
    run_async(check_party(local_url(load_config(args.home)), body["alliance"], org.public_key.raw))
    _publish(args, kinds.ALLIANCE_END, body)


def cmd_attest(args: argparse.Namespace) -> None:
    _publish(args, kinds.ATTESTATION, attestation_body(args))


def cmd_retract(args: argparse.Namespace) -> None:
    body: dict[str, Any] = {"target": parse_id(args.record_id, "RECORD-ID")}
    if args.reason:
        body["reason"] = args.reason
    config = load_config(args.home)
    org = _org_key(args).public_key.raw
    run_async(
        check_retract(local_url(config), body["target"], org, args.force, _offline_reader(config))
    )
    _publish(args, kinds.RETRACT, body)


def cmd_reply(args: argparse.Namespace) -> None:
    body = {"target": parse_id(args.target_id, "TARGET-ID"), "text": args.text}
    org = _org_key(args).public_key.raw
    run_async(check_reply(local_url(load_config(args.home)), body["target"], org, args.force))
    _publish(args, kinds.REPLY, body)


def _offline_reader(config: NodeConfig) -> Offline:
    """Reads a record from the node's database while the node is not running."""

    async def read(record_id: bytes) -> Record | None:
        store = await Store.open(config.database_path)
        try:
            row = await store.get_record(record_id)
        finally:
            await store.close()
        return None if row is None or row.wire is None else parse(row.wire)

    return read


# -- checks anyone can run ------------------------------------------------------------------


def cmd_terms_verify(args: argparse.Namespace) -> int:
    alliance_id = parse_id(args.alliance_id, "ALLIANCE-ID")
    try:
        digest = sha256(args.file.read_bytes())
    except OSError as exc:
        raise CliError(f"cannot read {args.file}: {exc.strerror}") from None
    wire = run_async(_fetch_record(args.node, alliance_id))
    try:
        record = validate_record(wire, now_ms())
    except Rejected as exc:
        raise CliError(f"the node served an invalid record: {exc}") from None
    if record.id != alliance_id:
        raise CliError(f"the node served record {record.id.hex()}, not {alliance_id.hex()}")
    if record.kind != kinds.ALLIANCE:
        raise CliError(f"record {alliance_id.hex()} is a {record.kind}, not an alliance")
    terms = record.body.get("terms")
    if terms is None:
        raise CliError(f"alliance {alliance_id.hex()} names no terms document")
    if terms != digest:
        raise CliError(
            f"mismatch: {args.file} has sha256 {digest.hex()}, alliance "
            f"{alliance_id.hex()} agreed on {terms.hex()}"
        )
    say(
        f"match: {args.file} is the terms document of alliance {alliance_id.hex()} "
        f"(sha256 {digest.hex()})"
    )
    return 0


async def _fetch_record(url: str, record_id: bytes) -> bytes:
    try:
        async with client(url) as node:
            wire = await node.get_record_wire(record_id)
    except TransportError as exc:
        raise CliError(f"cannot reach {url}: {exc}") from None
    except RemoteRefusal as exc:
        raise CliError(f"{url}: {exc}") from None
    if wire is None:
        raise CliError(f"{url} does not hold record {record_id.hex()}")
    return wire


def read_and_verify(path: Path) -> BundleReport:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return verify_bundle(data, now_ms())
    except BundleError as exc:
        raise CliError(f"{path}: {exc}") from None


def _named(report: BundleReport, key: bytes) -> str:
    name = report.issuer_names.get(key)
    return f"{name} ({did_from_raw(key)})" if name else did_from_raw(key)


def describe_report(report: BundleReport) -> list[str]:
    """What a verified bundle says: each claim with its state and issuer, then the summary."""
    rep = report.reputation
    assert rep is not None
    lines = [
        f"bundle of {report.records} record(s) about {_named(report, report.subject)}: "
        "every record checks",
        "attestations:",
    ]
    for entry in rep.attestations:
        what = entry.claim or "(content withdrawn)"
        if entry.skill:
            what += f": {entry.skill}"
        lines.append(
            f"  {entry.state:<10}  {what:<30}  by {_named(report, entry.issuer)}  {entry.id.hex()}"
        )
    for target, issuer in report.retracted:  # erased: only the retract is in the bundle
        lines.append(
            f"  {'retracted':<10}  {'(content withdrawn)':<30}  by "
            f"{_named(report, issuer)}  {target.hex()}"
        )
    if not rep.attestations and not report.retracted:
        lines.append("  none")
    lines.append("summary (grounded attestations only, one per issuer):")
    for key in sorted(rep.summary, key=lambda k: (k[0], k[1] or "")):
        item = rep.summary[key]
        what = item.claim + (f": {item.skill}" if item.skill else "")
        text = f"  {what:<32}  {item.issuers} issuer(s)"
        if item.mean_score is not None:
            text += f", mean score {item.mean_score:.2f} ({item.score_sum}/{item.score_count})"
        if item.mean_level is not None:
            text += f", level max {item.level_max}, mean {item.mean_level:.2f}"
        lines.append(text)
    if not rep.summary:
        lines.append("  nothing counts: no grounded, live attestation")
    if rep.ungrounded:
        lines.append(
            f"{len(rep.ungrounded)} ungrounded attestation(s) are listed, never "
            "counted (no alliance between issuer and subject in the bundle)"
        )
    return lines


def cmd_verify(args: argparse.Namespace) -> int:
    report = read_and_verify(args.bundle)
    if not report.ok:
        for refused in report.refused:
            say(refused.describe())
        raise CliError(
            f"bundle refused: {len(report.refused)} of {report.records} record(s) "
            "do not check, so nothing in it counts; first: "
            f"{report.refused[0].describe()}"
        )
    for line in describe_report(report):
        say(line)
    return 0
