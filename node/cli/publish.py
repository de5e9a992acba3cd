"""``rakuichi publish``: sign with the organisation key and submit to the node."""

from __future__ import annotations

import argparse
import time
import tomllib
from pathlib import Path
from typing import Any

from node.cli.common import CliError, client, read_passphrase_file, run_async, say
from node.clock import SystemClock
from node.config import NodeConfig, NodeKeys, load_config, load_keys
from node.ingest import Ingestor, Outcome, operator_policy
from node.storage.engines import open_record_store
from node.tomlfile import ConfigError
from node.transport import RemoteRefusal, TransportError
from node.verifier import Verifier
from protocol import Record, Rejected, body_from_json, kinds, sign_record


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    pub = sub.add_parser("publish", help="sign a record with the organisation key and submit it")
    what = pub.add_subparsers(dest="what", required=True)

    p = what.add_parser("opportunity", help="publish (or replace) an opportunity by slug")
    add_home_option(p)
    p.add_argument("--slug", required=True)
    p.add_argument("--title", required=True)
    p.add_argument("--tour", required=True, choices=kinds.TOURS)
    p.add_argument("--status", required=True, choices=kinds.OPPORTUNITY_STATUSES)
    p.add_argument("--skill", action="append", default=[], help="repeat for several skills")
    p.add_argument("--summary")
    p.add_argument("--remote", action="store_true")
    p.add_argument("--location")
    p.add_argument("--weeks", type=int)
    p.add_argument("--audience", choices=kinds.AUDIENCES)
    p.set_defaults(func=cmd_opportunity)

    p = what.add_parser("profile", help="publish the organisation's profile")
    add_home_option(p)
    p.add_argument("--name")
    p.add_argument("--about")
    p.add_argument("--domain")
    p.set_defaults(func=cmd_profile)

    p = what.add_parser("file", help="publish a record described in a TOML file")
    p.add_argument("path", type=Path)
    add_home_option(p, required=False)
    p.set_defaults(func=cmd_file)


def add_home_option(p: argparse.ArgumentParser, required: bool = True) -> None:
    """``--home`` and ``--passphrase-file``, for the commands that sign as the organisation."""
    p.add_argument("--home", required=required, type=Path)
    p.add_argument("--passphrase-file")


def local_url(config: NodeConfig) -> str:
    host, port = config.host_port
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    return f"http://{host}:{port}" if ":" not in host else f"http://[{host}]:{port}"


async def submit(config: NodeConfig, record: Record) -> str:
    """Post to the running node; when it is not running, store straight into its database."""
    try:
        async with client(local_url(config)) as node:
            result = await node.post_record(record.wire)
        return "stored" if result["stored"] else "already held"
    except RemoteRefusal as exc:
        raise CliError(f"the node refused the record: {exc}") from None
    except TransportError:
        pass
    (outcome,) = await ingest_offline(config, [record.wire])
    if outcome.refusal is not None:
        raise CliError(f"record refused: {outcome.refusal}")
    state = "stored" if outcome.stored else "already held"
    return f"{state} in {config.database_path} (node not running; peers get it once it runs)"


async def ingest_offline(config: NodeConfig, wires: list[bytes]) -> list[Outcome]:
    """The node is not running: take records in the one way (``Ingestor``) into its database."""
    store = await open_record_store(config)
    verifier = Verifier(workers=0)
    try:
        ingestor = Ingestor(
            store, verifier, SystemClock(), lambda: operator_policy(config.federation)
        )
        return await ingestor.submit(wires)
    finally:
        verifier.close()
        await store.close()


def _keys(args: argparse.Namespace) -> NodeKeys:
    try:
        return load_keys(args.home, read_passphrase_file(args.passphrase_file))
    except ConfigError as exc:
        raise CliError(str(exc)) from None


def publish_as_org(
    args: argparse.Namespace,
    kind: str,
    body: dict[str, Any],
    created: int | None = None,
    keys: NodeKeys | None = None,
) -> None:
    """Sign ``body`` as a ``kind`` record with the organisation key of ``--home``; submit it."""
    config = load_config(args.home)
    keys = keys or _keys(args)
    try:
        record = sign_record(keys.org, kind, created or int(time.time() * 1000), body)
    except Rejected as exc:
        raise CliError(f"not a valid {kind}: {exc.detail}") from None
    state = run_async(submit(config, record))
    say(f"published {kind} {record.id.hex()} ({state})")


def cmd_opportunity(args: argparse.Namespace) -> None:
    body: dict[str, Any] = {
        "slug": args.slug,
        "title": args.title,
        "tour": args.tour,
        "status": args.status,
    }
    optional = {
        "summary": args.summary,
        "location": args.location,
        "weeks": args.weeks,
        "audience": args.audience,
        "skills": args.skill or None,
        "remote": True if args.remote else None,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    publish_as_org(args, kinds.OPPORTUNITY, body)


def cmd_profile(args: argparse.Namespace) -> None:
    """The profile names this node (key and URL) as the node does itself: peers learn of it."""
    config = load_config(args.home)
    keys = _keys(args)
    body: dict[str, Any] = {
        "name": args.name or config.name,
        "nodes": [{"key": keys.node.public_key.raw, "url": config.public_url}],
    }
    about = args.about or config.about
    body.update({k: v for k, v in (("about", about), ("domain", args.domain)) if v})
    publish_as_org(args, kinds.ORG_PROFILE, body, keys=keys)


def cmd_file(args: argparse.Namespace) -> None:
    """A TOML file: ``kind = "..."``, optional ``created`` (ms) and ``home``, and a [body]."""
    try:
        data = tomllib.loads(args.path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CliError(f"{args.path}: {exc}") from None
    kind, body = data.get("kind"), data.get("body")
    if not isinstance(kind, str) or not isinstance(body, dict):
        raise CliError(f'{args.path}: needs kind = "..." and a [body] table')
    if args.home is None:
        if "home" not in data:
            raise CliError(f'{args.path}: give --home or home = "..." in the file')
        args.home = Path(data["home"])
    try:
        body = body_from_json(body, kind)
    except ValueError as exc:
        raise CliError(f"{args.path}: {exc}") from None
    publish_as_org(args, kind, body, data.get("created"))
