"""Co-signing an alliance: ``member sign URL`` reads a draft an organisation left at its node,
shows its terms in plain words (and, with ``--terms FILE``, refuses unless that document is the
one the draft names), and co-signs it; ``member drafts`` lists the drafts waiting for the
member at a node, by a request signed with the member's key.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import aiohttp

from crypto import SigningKey, did_from_raw, sha256
from node.cli.common import CliError, client, run_async, say
from node.cli.forms import describe_alliance
from node.cli.wallet import keep_record, load_wallet
from node.transport import NodeClient, RemoteRefusal, TransportError, timeouts
from protocol import Draft, Record, Rejected, kinds

DRAFT_URL = re.compile(r"(?P<base>https?://[^?#]+?)/v1/drafts/(?P<id>[0-9a-f]{64})/?")


async def post_record(url: str, record: Record) -> str:
    try:
        async with client(url) as node:
            result = await node.post_record(record.wire)
    except TransportError as exc:
        raise CliError(f"cannot reach the node: {exc}") from None
    except RemoteRefusal as exc:
        raise CliError(f"the node refused the record: {exc}") from None
    return ("stored" if result["stored"] else "already held") + f" at {url.rstrip('/')}"


# -- co-signing an alliance -----------------------------------------------------------------


def cmd_sign(args: argparse.Namespace) -> None:
    match = DRAFT_URL.fullmatch(args.url.strip())
    if match is None:
        raise CliError(f"not the URL of a draft (.../v1/drafts/<64 hex>): {args.url!r:.200}")
    base, draft_id = match.group("base"), bytes.fromhex(match.group("id"))
    key = load_wallet(args)
    draft, (org_name, domain), opportunity, private = run_async(_read_draft(base, draft_id))
    me = key.public_key.raw
    if draft.body["member"] != me:
        raise CliError(
            f"this alliance is for {did_from_raw(draft.body['member'])}, not for "
            f"this wallet's {did_from_raw(me)}: not signing"
        )
    if args.terms is not None:
        say(_check_terms(args.terms, draft))
    org = did_from_raw(draft.author)
    say(f"Alliance {draft.id.hex()}")
    say(f"  organisation  {org_name + ' (' + org + ')' if org_name else org}")
    if domain:
        say(f"  domain        {domain}")
    relation = draft.body.get("relation", kinds.DEFAULT_RELATION)
    party = "member" if relation == kinds.DEFAULT_RELATION else relation
    say(f"  {party:<13} {did_from_raw(me)} (this wallet)")
    for line in describe_alliance(draft.body):
        say(line)
    if opportunity:
        say(f"  (opportunity: {opportunity})")
    if private:
        say("  private       yes: kept by the organisation's node and your wallet only")
    if not args.yes and not _confirm("Sign this alliance? [y/N] "):
        raise CliError("not signed: nothing was sent")
    try:
        record = draft.sign(key).finish()
    except Rejected as exc:
        raise CliError(f"cannot sign: {exc}") from None
    state = run_async(post_record(base, record))
    kept = keep_record(args.wallet, record)
    say(f"signed alliance {record.id.hex()} ({state}); a copy is in {kept}")


def _check_terms(path: Path, draft: Draft) -> str:
    """Refuse (CliError) unless the document's SHA-256 is the draft's terms digest."""
    try:
        digest = sha256(path.read_bytes())
    except OSError as exc:
        raise CliError(f"cannot read terms file {path}: {exc.strerror}") from None
    agreed = draft.body.get("terms")
    if agreed is None:
        raise CliError(f"not signing: this draft names no terms document, but you gave {path}")
    if agreed != digest:
        raise CliError(
            f"not signing: {path} has sha256 {digest.hex()}, but the draft's terms digest is "
            f"{agreed.hex()}: the document you were given is not the one you would agree to"
        )
    return f"terms document {path} matches the draft (sha256 {digest.hex()})"


def cmd_drafts(args: argparse.Namespace) -> None:
    key = load_wallet(args)
    drafts = run_async(_drafts(args.node, key))
    say(f"{len(drafts)} draft(s) waiting for {key.public_key.did} at {args.node.rstrip('/')}")
    for answer in drafts:
        view = answer.get("draft", {})
        body = view.get("body", {})
        say(f"  {answer.get('id')}  by {view.get('author')}")
        say(f"    {body.get('tour', '?')}: {body.get('mission', '?')}")
        say(f"    rakuichi member sign {answer.get('url')} --wallet {args.wallet}")


async def _drafts(url: str, key: SigningKey) -> list[dict[str, Any]]:
    try:
        async with aiohttp.ClientSession(timeout=timeouts(total=15.0)) as session:
            return await NodeClient(url, session, signer=key).member_drafts(key.public_key.did)
    except TransportError as exc:
        raise CliError(f"cannot reach the node: {exc}") from None
    except RemoteRefusal as exc:
        raise CliError(f"the node refused: {exc}") from None


def _confirm(question: str) -> bool:
    try:
        answer = input(question)
    except EOFError:
        answer = ""
    if not sys.stdin.isatty():
        print(flush=True)  # the answer was not echoed: end the question's line
    return answer.strip().lower() in ("y", "yes")


async def _read_draft(base: str, draft_id: bytes) -> tuple[Draft, tuple[str, str], str, bool]:
    """The draft (its organisation's signature checked), the org's name and domain, the
    opportunity, and whether the node keeps it private."""
    try:
        async with client(base) as node:
            wire = await node.get_draft_wire(draft_id)
            draft = _check_draft(wire, draft_id)
            private = bool((await node.get_draft_json(draft_id)).get("private"))
            name = await org_name_and_domain(node, draft.author)
            return draft, name, await _title(node, draft), private
    except TransportError as exc:
        raise CliError(f"cannot reach the node: {exc}") from None
    except RemoteRefusal as exc:
        raise CliError(f"cannot get draft {draft_id.hex()}: {exc}") from None


def _check_draft(wire: bytes, draft_id: bytes) -> Draft:
    try:
        draft = Draft.from_wire(wire)
    except Rejected as exc:
        raise CliError(f"the draft does not check, not signing: {exc}") from None
    if draft.id != draft_id:
        raise CliError(f"the node served draft {draft.id.hex()}, not {draft_id.hex()}")
    if draft.kind != kinds.ALLIANCE:
        raise CliError(f"the draft is a {draft.kind}, not an alliance")
    if draft.author in draft.missing_signers:
        raise CliError("the organisation has not signed this draft: not signing")
    return draft


async def org_name(node: NodeClient, org: bytes) -> str:
    return (await org_name_and_domain(node, org))[0]


async def org_name_and_domain(node: NodeClient, org: bytes) -> tuple[str, str]:
    """The organisation's name and its domain as "NAME (domain verified)" or "NAME
    (unverified)" as the node saw its proof ("" when it has no domain)."""
    try:
        answer = await node.org(did_from_raw(org))
        name = str(answer["profile"]["body"]["name"])
    except (RemoteRefusal, TransportError, KeyError, TypeError):
        return "", ""
    domain = answer.get("domain") if isinstance(answer, dict) else None
    if not isinstance(domain, dict) or not isinstance(domain.get("name"), str):
        return name, ""
    proof = "domain verified" if domain.get("verified") is True else "unverified"
    return name, f"{domain['name']} ({proof})"


async def _title(node: NodeClient, draft: Draft) -> str:
    opportunity = draft.body.get("opportunity")
    if opportunity is None:
        return ""
    try:
        view = await node.get_record_json(opportunity)
        return f"{view['body']['title']} ({view['body']['status']})"
    except (RemoteRefusal, TransportError, KeyError, TypeError):
        return "not known to this node"
