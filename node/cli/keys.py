"""``rakuichi keys`` and ``rakuichi member keys``: show, rotate and export-next (revision 3
proposal, docs/protocol.md section 15).

``rotate`` makes the next key event with the committed rotation key (from beside the key file,
or ``--next FILE`` when it is kept offline), installs a fresh signing key and commits to a
fresh rotation key. A key file without key events is incepted first: its key stays the
identity, and what it signed so far keeps counting. For a node home the running node picks the
new key up within a second, publishes the event and re-publishes the organisation's profile
signed with the new key; a member's rotation is published to ``--node``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

from crypto import KeyFileError, SigningKey, did_from_raw, load_signing_key, save_signing_key
from node.cli.common import CliError, client, parse_date_ms, read_passphrase_file, run_async, say
from node.cli.wallet import given_passphrase, public_file, write_public_file
from node.config import CONFIG_FILE, NODE_KEY_FILE, ORG_KEY_FILE, passphrase_from_env
from node.keyring import KeyringError, export_next, incept, read_events, rotate, state
from node.tomlfile import dumps, read_toml, write_atomically
from node.transport import RemoteRefusal, TransportError
from protocol import Record


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    top = sub.add_parser("keys", help="the organisation's key history: show, rotate, export-next")
    what = top.add_subparsers(dest="keys_command", required=True)
    for name, func, text in _COMMANDS:
        p = what.add_parser(name, help=text)
        p.add_argument("--home", required=True, type=Path)
        p.add_argument("--passphrase-file", help="or set RAKUICHI_PASSPHRASE")
        _options(p, name)
        p.set_defaults(func=lambda args, f=func: f(_org_key(args), _home_pass(args), args))

    p = what.add_parser(
        "rotate-node", help="give the node a new transport key (peers follow its profile)"
    )
    p.add_argument("--home", required=True, type=Path)
    p.add_argument("--passphrase-file", help="or set RAKUICHI_PASSPHRASE")
    p.set_defaults(func=cmd_rotate_node)


def cmd_rotate_node(args: argparse.Namespace) -> None:
    """A new ``node.key``; the running node signs with it within a second and publishes its
    profile listing it. Peers accept the old key for ``node_key_grace`` more, then refuse it."""
    passphrase = _home_pass(args)
    path = args.home / NODE_KEY_FILE
    try:
        old = load_signing_key(path, passphrase)
        new = SigningKey.generate()
        fresh = path.with_name(path.name + ".new")
        fresh.unlink(missing_ok=True)
        save_signing_key(fresh, new, passphrase)
        config = read_toml(args.home / CONFIG_FILE)
        config.setdefault("identity", {})["node"] = new.public_key.did
        fresh.replace(path)
        write_atomically(args.home / CONFIG_FILE, dumps(config, "Rakuichi node configuration."))
    except KeyFileError as exc:
        raise CliError(str(exc)) from None
    say(f"node key {old.public_key.did} retired")
    say(f"  new node key  {new.public_key.did} (the running node publishes it in its profile)")


def add_member_parsers(
    what: argparse._SubParsersAction,  # type: ignore[type-arg]
    wallet: Callable[..., None],
) -> None:
    top = what.add_parser("keys", help="the wallet's key history: show, rotate, export-next")
    inner = top.add_subparsers(dest="member_keys_command", required=True)
    for name, func, text in _COMMANDS:
        p = inner.add_parser(name, help=text)
        wallet(p)
        if name == "rotate":
            p.add_argument("--node", help="URL of a node to publish the key event to")
        _options(p, name)
        p.set_defaults(func=lambda args, f=func: f(args.wallet, given_passphrase(args), args))


def _options(p: argparse.ArgumentParser, name: str) -> None:
    if name == "rotate":
        p.add_argument("--next", type=Path, help="the committed rotation key, kept offline")
        p.add_argument(
            "--cutoff", help="the old key stops counting from this date or ms (a theft's start)"
        )
    if name == "export-next":
        p.add_argument("out", type=Path, metavar="OUT", help="where to write the rotation key")
        p.add_argument("--remove", action="store_true", help="then delete it here (keep only OUT)")


def _org_key(args: argparse.Namespace) -> Path:
    path: Path = args.home / ORG_KEY_FILE
    return path


def _home_pass(args: argparse.Namespace) -> str | None:
    return read_passphrase_file(args.passphrase_file) or passphrase_from_env()


def cmd_show(keyfile: Path, passphrase: str | None, args: argparse.Namespace) -> None:
    try:
        now = state(keyfile, passphrase)
    except (KeyringError, KeyFileError) as exc:
        raise CliError(str(exc)) from None
    say(f"identity  {did_from_raw(now.identity)}")
    say(f"signing   {did_from_raw(now.signing)}")
    if now.history is None:
        say("history   none: a single key (rotate to start one)")
        return
    say(f"state     {now.history.state}, step {now.seq}")
    committed = now.history.next
    say(f"next      sha256 {committed.hex() if committed else '-'}")
    say(f"next key  {'held here' if now.next_held else 'not here (kept offline?)'}")


def cmd_rotate(keyfile: Path, passphrase: str | None, args: argparse.Namespace) -> None:
    now_ms = time.time_ns() // 1_000_000
    cutoff = parse_date_ms(args.cutoff, "--cutoff") if args.cutoff else None
    try:
        if not read_events(keyfile):
            first = load_signing_key(keyfile, passphrase)
            made = incept(keyfile, passphrase, now_ms, first, cutoff)
            say(f"incepted {first.public_key.did}: its records so far keep counting")
        else:
            made = rotate(keyfile, passphrase, now_ms, args.next, cutoff)
    except (KeyringError, KeyFileError) as exc:
        raise CliError(str(exc)) from None
    last = made
    say(f"rotated: step {last.body.get('seq', 0)}, event {last.id.hex()}")
    say(f"  signing key  {did_from_raw(last.body['key'])}")
    say(f"  next key     committed (sha256 {last.body['next'].hex()}), in {keyfile}.next")
    if args.next is not None:
        say(f"  destroy {args.next} now: a used rotation key must never sign again")
    if getattr(args, "wallet", None) is not None:  # the member's wallet: WALLET.pub follows
        identity = did_from_raw(read_events(keyfile)[0].author)
        write_public_file(keyfile, identity, did_from_raw(last.body["key"]))
        say(f"  {public_file(keyfile)}: identity {identity}, key {did_from_raw(last.body['key'])}")
    node = getattr(args, "node", None)
    if node:
        for record in read_events(keyfile):
            say(f"  published {record.kind} ({run_async(_post(node, record))})")


def cmd_export_next(keyfile: Path, passphrase: str | None, args: argparse.Namespace) -> None:
    try:
        export_next(keyfile, args.out, args.remove)
    except KeyringError as exc:
        raise CliError(str(exc)) from None
    say(f"wrote the committed rotation key to {args.out}")
    if args.remove:
        say(f"  removed it from {keyfile}.next: rotate with --next {args.out}")


async def _post(url: str, record: Record) -> str:
    try:
        async with client(url) as node:
            result = await node.post_record(record.wire)
    except TransportError as exc:
        raise CliError(f"cannot reach the node: {exc}") from None
    except RemoteRefusal as exc:
        raise CliError(f"the node refused the key event: {exc}") from None
    return "stored" if result["stored"] else "already held"


_COMMANDS = [
    ("show", cmd_show, "the identity, its current signing key and its commitment"),
    ("rotate", cmd_rotate, "move to a new signing key with the committed rotation key"),
    ("export-next", cmd_export_next, "copy the committed rotation key out, to keep offline"),
]
