"""``rakuichi store migrate``: move a node's records from its SQLite file to PostgreSQL."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from node.cli.common import CliError, client, run_async, say
from node.config import NodeConfig, load_config
from node.storage.store import Store
from node.storage.transfer import copy_store, differences
from node.transport import RemoteRefusal, TransportError


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("store", help="the node's storage engine")
    actions = p.add_subparsers(dest="action", required=True)
    m = actions.add_parser(
        "migrate", help="copy the node's SQLite records to an empty PostgreSQL database, checked"
    )
    m.add_argument("--home", required=True, type=Path)
    m.add_argument("--to", required=True, metavar="postgresql://...", dest="target")
    m.set_defaults(func=cmd_migrate)


def _progress(copied: int, total: int) -> None:
    share = copied / total if total else 1.0
    bar = "#" * int(share * 30)
    sys.stdout.write(f"\r  [{bar:<30}] {copied:,} / {total:,} records")
    sys.stdout.flush()


async def _node_answers(config: NodeConfig) -> bool:
    try:
        async with client(config.public_url, total=2.0) as node:
            await node.identity()
    except (TransportError, RemoteRefusal, OSError):
        return False
    return True


async def _migrate(config: NodeConfig, target_url: str) -> list[str]:
    from node.storage.pg_store import PgStore

    if await _node_answers(config):
        raise CliError(f"the node answers at {config.public_url}: stop it before migrating")
    source = await Store.open(config.database_path)
    try:
        target = await PgStore.open(target_url)
        try:
            try:
                copied = await copy_store(source, target, _progress)
            except ValueError as exc:
                raise CliError(f"{target_url}: {exc}") from None
            sys.stdout.write("\n")
            say(f"copied {copied:,} records; checking record sets and views")
            return await differences(source, target, int(time.time() * 1000))
        finally:
            await target.close()
    finally:
        await source.close()


def cmd_migrate(args: argparse.Namespace) -> None:
    config = load_config(args.home)
    if config.postgresql_dsn is not None:
        raise CliError("this node already stores its records in PostgreSQL")
    if not args.target.startswith(("postgresql://", "postgres://")):
        raise CliError(f"--to must be a postgresql:// URL, not {args.target!r}")
    problems = run_async(_migrate(config, args.target))
    if problems:
        raise CliError("the copy differs from the source: " + "; ".join(problems))
    say("record sets and views are equal")
    say(f'next: set [storage] url = "{args.target}" in {config.config_path}, then run the node')
