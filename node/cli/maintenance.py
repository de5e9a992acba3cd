"""Operators' upkeep: ``backup``, ``restore``, ``check``, ``config check``, ``purge``,
``migrate``."""

from __future__ import annotations

import argparse
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from crypto import InvalidDid, raw_from_did
from node.cli.common import CliError, run_async, say
from node.config import CONFIG_FILE, DATABASE_FILE, PEERS_FILE, NodeConfig, load_config
from node.ops.configcheck import home_problems
from node.storage.backup import BackupError, backup_home, restore_home
from node.storage.check import check_database, check_postgresql
from node.storage.migration import latest_schema, plan, schema_version
from node.storage.purge import purge_author
from node.storage.store import Store


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("backup", help="archive the database (online), config, peers and keys")
    p.add_argument("--home", required=True, type=Path)
    p.add_argument("out", type=Path, help="the archive to write (.tar.gz)")
    p.set_defaults(func=cmd_backup)

    p = sub.add_parser("restore", help="recreate a node home from a backup archive")
    p.add_argument("backup", type=Path)
    p.add_argument("--home", required=True, type=Path, help="a new (or empty) directory")
    p.set_defaults(func=cmd_restore)

    p = sub.add_parser(
        "check", help="integrity (SQLite), every record re-validated, views re-derived"
    )
    p.add_argument("--home", required=True, type=Path)
    p.set_defaults(func=cmd_check)

    config = sub.add_parser("config", help="check config.toml and peers.toml")
    what = config.add_subparsers(dest="what", required=True)
    p = what.add_parser("check", help="every problem of config.toml and peers.toml, one a line")
    p.add_argument("--home", required=True, type=Path)
    p.set_defaults(func=cmd_config_check)

    p = sub.add_parser("purge", help="remove the records held from a denied organisation")
    p.add_argument("--home", required=True, type=Path)
    p.add_argument("--org", required=True, help="did:key of an organisation in deny_orgs")
    p.set_defaults(func=cmd_purge)

    p = sub.add_parser("migrate", help="bring the database to this software's schema")
    p.add_argument("--home", required=True, type=Path)
    p.add_argument("--dry-run", action="store_true", help="say what would change, change nothing")
    p.set_defaults(func=cmd_migrate)


def _sqlite_only(config: NodeConfig, what: str) -> None:
    if config.postgresql_dsn is not None:
        raise CliError(
            f"this node stores its records in PostgreSQL: {what} it with PostgreSQL's own tools"
            " (pg_dump, amcheck); see docs/storage.md"
        )


def cmd_backup(args: argparse.Namespace) -> None:
    config = load_config(args.home)
    _sqlite_only(config, "back up")
    try:
        report = backup_home(args.home, args.out, config.database_path)
    except BackupError as exc:
        raise CliError(str(exc)) from None
    say(
        f"backed up {args.home} to {report.path}: {report.records} records (schema"
        f" v{report.schema}), {', '.join(report.files)} in {report.seconds:.1f} s"
    )
    say("keep it as safe as the keys: it holds them (encrypted only if they were)")


def cmd_restore(args: argparse.Namespace) -> None:
    try:
        manifest = restore_home(args.backup, args.home)
    except BackupError as exc:
        raise CliError(str(exc)) from None
    say(
        f"restored {args.home} from {args.backup} (taken {manifest.get('created')},"
        f" {manifest.get('records')} records)"
    )
    say(f"next: rakuichi run --home {args.home}  (add --listen HOST:PORT to listen elsewhere)")


def cmd_check(args: argparse.Namespace) -> int:
    config = load_config(args.home)
    now = int(time.time() * 1000)
    if config.postgresql_dsn is not None:
        where, passes = "the PostgreSQL database", "records, views"
        problems = run_async(check_postgresql(config.postgresql_dsn, now))
    else:
        where, passes = str(config.database_path), "integrity, records, views"
        problems = run_async(check_database(config.database_path, now))
    for problem in problems:
        print(f"rakuichi check: {problem}", file=sys.stderr, flush=True)
    if problems:
        say(f"{len(problems)} problem(s) in {where}")
        return 1
    say(f"{where}: ok ({passes})")
    return 0


def cmd_config_check(args: argparse.Namespace) -> int:
    problems = home_problems(args.home)
    for problem in problems:
        print(f"rakuichi config check: {problem}", file=sys.stderr, flush=True)
    if problems:
        return 1
    say(f"{args.home / CONFIG_FILE} and {args.home / PEERS_FILE}: ok")
    return 0


def cmd_purge(args: argparse.Namespace) -> None:
    config = load_config(args.home)
    _sqlite_only(config, "purge")
    try:
        author = raw_from_did(args.org)
    except InvalidDid as exc:
        raise CliError(f"--org: {exc}") from None
    if author not in config.federation.deny_orgs:
        raise CliError(
            f"{args.org} is not denied; `rakuichi peers deny --home {args.home} {args.org}`"
            " first, or its records would come back from peers"
        )
    if _node_answers(config):
        raise CliError("the node is running; stop it, purge, then start it again")
    removed = purge_author(config.database_path, author)
    total = sum(removed.values())
    detail = ", ".join(f"{n} {kind}" for kind, n in sorted(removed.items()))
    say(f"purged {total} record(s) by {args.org}" + (f": {detail}" if detail else ""))
    say("they stay refused while the organisation is denied (`peers undeny` lifts that)")


def _node_answers(config: NodeConfig) -> bool:
    from node.cli.publish import local_url

    try:
        with urllib.request.urlopen(f"{local_url(config)}/healthz", timeout=2):
            return True
    except (OSError, urllib.error.URLError):
        return False


def cmd_migrate(args: argparse.Namespace) -> None:
    path = load_config(args.home).database_path
    if not path.exists():
        raise CliError(f"{args.home}: no {DATABASE_FILE}")
    steps = plan(path)
    if not steps:
        say(f"{path}: schema v{schema_version(path)} is current; nothing to do")
        return
    for line in steps:
        say(line)
    if args.dry_run:
        say("dry run: nothing changed")
        return
    run_async(_open_and_close(path))
    say(f"migrated {path} to schema v{latest_schema()}")


async def _open_and_close(path: Path) -> None:
    await (await Store.open(path)).close()
