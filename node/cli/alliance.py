"""Organisation side of alliances: ``alliance propose|end``, ``attest``, ``retract``, and the
checks anyone can run: ``terms verify`` (a terms document against an alliance) and ``verify``
(a portable reputation bundle, offline).

Every record is signed with the organisation key of ``--home``. A proposed alliance is left at
the organisation's own node as a draft (it must be running) for the member to co-sign with
``rakuichi member sign URL``; the other records go to the node like ``rakuichi publish``.
"""

from __future__ import annotations

import argparse
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
from node.cli.bundles import describe_report, read_and_verify
from node.cli.common import (
    CliError,
    client,
    now_ms,
    parse_date_ms,
    parse_did,
    parse_id,
    read_passphrase_file,
    run_async,
    say,
)
from node.cli.describe import bundle_lines
from node.cli.forms import (
    add_attestation_options,
    add_end_options,
    attestation_body,
    check_party,
    end_body,
)
from node.cli.publish import add_home_option, local_url, publish_as_org
from node.config import NodeConfig, load_config, load_keys
from node.storage.engines import open_record_store
from node.tomlfile import ConfigError
from node.transport import RemoteRefusal, TransportError
from protocol import (
    Draft,
    Record,
    Rejected,
    kinds,
    parse,
    validate_record,
)


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    top = sub.add_parser("alliance", help="propose or end an alliance (organisation side)")
    what = top.add_subparsers(dest="what", required=True)

    p = what.add_parser(
        "propose", help="sign an alliance and leave it at the node for the member to co-sign"
    )
    add_home_option(p)
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
    p.add_argument(
        "--private",
        action="store_true",
        help="keep the alliance, its end and the attestations grounded in it between the two "
        "parties: this node never publishes them; the member carries them in a bundle",
    )
    p.set_defaults(func=cmd_propose)

    p = what.add_parser("end", help="close an alliance (alliance.end)")
    add_home_option(p)
    add_end_options(p)
    p.set_defaults(func=cmd_end)

    p = sub.add_parser("attest", help="attest a member's work (signed by the organisation)")
    add_home_option(p)
    add_attestation_options(p)
    p.set_defaults(func=cmd_attest)

    p = sub.add_parser("retract", help="withdraw one of the organisation's own records")
    add_home_option(p)
    add_retract_options(p)
    p.set_defaults(func=cmd_retract)

    p = sub.add_parser(
        "reply", help="answer an attestation about the organisation, or an end of its alliance"
    )
    add_home_option(p)
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
    named = body["member"]
    body["member"] = run_async(current_key(local_url(config), named))
    if body["member"] != named:
        say(f"member {args.member} signs with {did_from_raw(body['member'])} now (key history)")
    try:
        draft = Draft.new(kinds.ALLIANCE, org.public_key.raw, now_ms(), body).sign(org)
    except Rejected as exc:
        raise CliError(f"not a valid alliance: {exc.detail}") from None
    answer = run_async(_post_draft(local_url(config), draft.wire, args.private))
    url = answer.get("url") or f"{config.public_url}/v1/drafts/{draft.id.hex()}"
    relation = f" ({args.relation})" if args.relation else ""
    say(f"proposed alliance {draft.id.hex()} to {args.member}{relation}")
    say(f"  signed by the organisation {org.public_key.did}; awaiting the member's signature")
    if answer.get("private"):
        say("  private: kept by this node and the member's wallet, never published")
    if "terms" in body:
        say(f"  terms sha256 {body['terms'].hex()} (the document itself stays private)")
    say(f"the member opens {url}")
    say(f"  and signs with: rakuichi member sign {url} --wallet WALLET")


async def current_key(url: str, key: bytes) -> bytes:
    """The signing key that speaks for the identity ``key`` names now, as the node knows its
    key history (revision 3 proposal); ``key`` itself when the node is down or knows none."""
    try:
        async with client(url) as node:
            answer = await node.key_history(did_from_raw(key))
    except (TransportError, RemoteRefusal):
        return key
    current = (answer.get("history") or {}).get("current")
    try:
        return raw_from_did(current) if isinstance(current, str) else key
    except InvalidDid:
        return key


async def _post_draft(url: str, wire: bytes, private: bool) -> dict[str, Any]:
    try:
        async with client(url) as node:
            return await node.post_draft(wire, private)
    except TransportError as exc:
        raise CliError(f"the node must be running to keep a draft: {exc}") from None
    except RemoteRefusal as exc:
        raise CliError(f"the node refused the draft: {exc}") from None


def cmd_end(args: argparse.Namespace) -> None:
    body = end_body(args)
    org = _org_key(args)
    run_async(check_party(local_url(load_config(args.home)), body["alliance"], org.public_key.raw))
    publish_as_org(args, kinds.ALLIANCE_END, body)


def cmd_attest(args: argparse.Namespace) -> None:
    publish_as_org(args, kinds.ATTESTATION, attestation_body(args))


def cmd_retract(args: argparse.Namespace) -> None:
    body: dict[str, Any] = {"target": parse_id(args.record_id, "RECORD-ID")}
    if args.reason:
        body["reason"] = args.reason
    config = load_config(args.home)
    org = _org_key(args).public_key.raw
    run_async(
        check_retract(local_url(config), body["target"], org, args.force, _offline_reader(config))
    )
    publish_as_org(args, kinds.RETRACT, body)


def cmd_reply(args: argparse.Namespace) -> None:
    body = {"target": parse_id(args.target_id, "TARGET-ID"), "text": args.text}
    org = _org_key(args).public_key.raw
    run_async(check_reply(local_url(load_config(args.home)), body["target"], org, args.force))
    publish_as_org(args, kinds.REPLY, body)


def _offline_reader(config: NodeConfig) -> Offline:
    """Reads a record from the node's database while the node is not running."""

    async def read(record_id: bytes) -> Record | None:
        store = await open_record_store(config)
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
    for line in bundle_lines(args.bundle.read_bytes(), report.issuer_names):
        say(line)
    for line in describe_report(report):
        say(line)
    return 0
