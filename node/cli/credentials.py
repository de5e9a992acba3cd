"""W3C credentials in the member's wallet: ``member credentials fetch|list``, ``member export
--vc DIR`` and ``rakuichi verify-credential FILE`` (offline).

A wallet keeps its credentials in the directory beside its key file, ``WALLET.credentials/``,
one JSON file per credential named by the attestation's id.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from crypto import did_from_raw
from node.cli.common import CliError, client, format_ms, run_async, say
from node.transport import NodeClient, RemoteRefusal, TransportError
from protocol import GROUNDED, CredentialError, CredentialReport, check_credential

WalletDid = Callable[[argparse.Namespace], str]


def now_ms() -> int:
    return int(time.time() * 1000)


def credentials_dir(wallet: Path) -> Path:
    """Where a wallet keeps its credentials: ``WALLET.credentials/`` beside the key file."""
    return wallet.with_name(wallet.name + ".credentials")


def add_member_parsers(
    what: argparse._SubParsersAction,  # type: ignore[type-arg]
    add_wallet: Callable[..., None],
    wallet_did: WalletDid,
) -> None:
    top = what.add_parser("credentials", help="your attestations as W3C credentials")
    sub = top.add_subparsers(dest="action", required=True)
    p = sub.add_parser(
        "fetch", help="get a credential from its issuer's node for each grounded attestation"
    )
    add_wallet(p, node=True)
    p.set_defaults(func=cmd_fetch, wallet_did=wallet_did)
    p = sub.add_parser("list", help="the credentials this wallet keeps, checked offline")
    add_wallet(p)
    p.set_defaults(func=cmd_list, wallet_did=wallet_did)


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "verify-credential", help="check a W3C credential offline (proof, dates, its record)"
    )
    p.add_argument("file", type=Path, metavar="FILE")
    p.add_argument(
        "--record", type=Path, help="the Rakuichi record (wire bytes) it must say the same as"
    )
    p.set_defaults(func=cmd_verify_credential)


# -- fetching ------------------------------------------------------------------------------


async def _issuer_urls(node: NodeClient, issuer: str) -> list[str]:
    """Where the issuer's nodes answer (its profile's ``nodes``), then the node asked."""
    urls: list[str] = []
    try:
        profile = (await node.org(issuer)).get("profile") or {}
        for entry in profile.get("body", {}).get("nodes", []):
            if isinstance(entry, dict) and isinstance(entry.get("url"), str):
                urls.append(entry["url"].rstrip("/"))
    except (RemoteRefusal, TransportError, AttributeError):
        pass
    return [*urls, node.base_url] if node.base_url not in urls else urls


async def _fetch_one(
    urls: list[str], record_id: bytes, me: str
) -> tuple[dict[str, Any] | None, str]:
    problems: list[str] = []
    for url in urls:
        async with client(url) as issuer_node:
            try:
                document = await issuer_node.credential(record_id)
            except (RemoteRefusal, TransportError) as exc:
                problems.append(f"{url}: {exc}")
                continue
        try:
            report = check_credential(document, now_ms())
        except CredentialError as exc:
            problems.append(f"{url} sent a credential that does not check: {exc}")
            continue
        if report.subject != me or report.record is None or report.record.id != record_id:
            problems.append(f"{url} sent a credential about something else")
            continue
        return document, url
    return None, "; ".join(problems) or "no node of the issuer is known"


async def _fetch_all(url: str, me: str, keep: Path) -> tuple[int, list[str]]:
    lines: list[str] = []
    fetched = 0
    try:
        async with client(url) as node:
            attestations = (await node.reputation(me)).get("attestations", [])
            for entry in attestations:
                if entry.get("state") != GROUNDED:
                    continue
                record_id = bytes.fromhex(entry["id"])
                urls = await _issuer_urls(node, entry["issuer"])
                document, where = await _fetch_one(urls, record_id, me)
                if document is None:
                    lines.append(f"  not fetched  {entry['id']}: {where}")
                    continue
                _save(keep / f"{entry['id']}.json", document)
                fetched += 1
                lines.append(f"  fetched      {entry['id']} from {where}")
    except TransportError as exc:
        raise CliError(f"cannot reach the node: {exc}") from None
    except RemoteRefusal as exc:
        raise CliError(f"the node refused: {exc}") from None
    return fetched, lines


def _save(path: Path, document: dict[str, Any]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        temporary.replace(path)
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror}") from None


def cmd_fetch(args: argparse.Namespace) -> int:
    me = args.wallet_did(args)
    keep = credentials_dir(args.wallet)
    fetched, lines = run_async(_fetch_all(args.node, me, keep))
    for line in lines:
        say(line)
    missing = len(lines) - fetched
    say(
        f"fetched {fetched} credential(s) into {keep}"
        + (f"; {missing} could not be fetched" if missing else "")
    )
    return 1 if missing else 0


# -- listing, exporting, verifying -----------------------------------------------------------


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise CliError(f"{path} is not JSON: {exc}") from None


def describe(report: CredentialReport) -> str:
    """One line: what the credential claims, by whom, until when."""
    claim = "credential"
    if report.record is not None:
        body = report.record.body
        claim = body["claim"] + (f": {body['skill']}" if "skill" in body else "")
        claim += f", level {body['level']}" if "level" in body else ""
        claim += f", score {body['score']}" if "score" in body else ""
    until = f" until {format_ms(report.valid_until)}" if report.valid_until is not None else ""
    badge = " (Open Badge)" if "OpenBadgeCredential" in report.types else ""
    return f"{report.state:<13} {claim}{badge} by {report.issuer}{until}"


def kept_credentials(wallet: Path) -> list[tuple[Path, Any]]:
    keep = credentials_dir(wallet)
    if not keep.is_dir():
        return []
    return [(path, _load(path)) for path in sorted(keep.glob("*.json"))]


def cmd_list(args: argparse.Namespace) -> int:
    me = args.wallet_did(args)
    kept = kept_credentials(args.wallet)
    bad = 0
    for path, document in kept:
        try:
            report = check_credential(document, now_ms())
        except CredentialError as exc:
            bad += 1
            say(f"  does not check  {path.name}: {exc}")
            continue
        mine = "" if report.subject == me else f" (about {report.subject}, not this wallet)"
        say(f"  {describe(report)}  {path.stem}{mine}")
    say(f"{len(kept)} credential(s) in {credentials_dir(args.wallet)} for {me}")
    return 1 if bad else 0


def export_credentials(wallet: Path, out: Path) -> int:
    """Copy the wallet's credentials (those that check) to ``out``, one file each."""
    kept = kept_credentials(wallet)
    if not kept:
        raise CliError(
            f"this wallet keeps no credentials ({credentials_dir(wallet)}): "
            "fetch them first with: rakuichi member credentials fetch"
        )
    written = 0
    for path, document in kept:
        try:
            check_credential(document, now_ms())
        except CredentialError as exc:
            say(f"  skipped {path.name}: it does not check: {exc}")
            continue
        _save(out / path.name, document)
        written += 1
    return written


def cmd_verify_credential(args: argparse.Namespace) -> int:
    document = _load(args.file)
    wire = None
    if args.record is not None:
        try:
            wire = args.record.read_bytes()
        except OSError as exc:
            raise CliError(f"cannot read {args.record}: {exc.strerror}") from None
    try:
        report = check_credential(document, now_ms(), wire)
    except CredentialError as exc:
        raise CliError(f"{args.file} does not check: {exc}") from None
    if report.key_events:
        say(
            f"proof checks: signed with {report.signed_by}, a key of the issuer {report.issuer}"
            f" by the {len(report.key_events)} key event(s) it carries (checked offline)"
        )
    else:
        say(f"proof checks: signed by the issuer {report.issuer} (did:key resolved locally)")
    say(f"  about    {report.subject or '(no subject id)'}")
    say(f"  types    {', '.join(report.types)}")
    if report.valid_from is not None:
        say(f"  from     {format_ms(report.valid_from)}")
    if report.valid_until is not None:
        say(f"  until    {format_ms(report.valid_until)}")
    if report.record is not None:
        author = did_from_raw(report.record.author)
        say(f"  record   {report.record.id.hex()} by {author}: says the same")
    if not report.ok:
        raise CliError(f"{args.file}: the credential is {report.state}")
    say(f"{args.file}: valid")
    return 0
