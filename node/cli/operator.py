"""Operators' commands: ``init``, ``run``, ``status``."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from crypto import did_from_raw
from node.cli.common import CliError, read_passphrase_file, run_async, say
from node.config import (
    CONFIG_FILE,
    DEFAULT_LISTEN,
    PASSPHRASE_ENV,
    load_config,
    load_keys,
    parse_listen,
    passphrase_from_env,
)
from node.home import init_home
from node.ops.configcheck import home_problems
from node.ops.logsetup import add_logging_options, configure_logging
from node.storage.engines import open_record_store
from node.storage.migration import (
    latest_schema,
    read_counts,
    read_postgresql_status,
    schema_version,
)
from node.storage.pg_schema import MIGRATIONS as PG_MIGRATIONS
from node.storage.store import StoreError
from node.tomlfile import ConfigError, read_toml


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("init", help="create a node's home (config, peers, keys, database)")
    p.add_argument("--home", required=True, type=Path)
    p.add_argument("--name", required=True, help="the organisation's name")
    p.add_argument("--listen", default=DEFAULT_LISTEN, help="HOST:PORT to listen on")
    p.add_argument("--url", default="", help="public URL of this node (default from --listen)")
    p.add_argument("--passphrase-file", help="encrypt the keys with the passphrase in FILE")
    p.add_argument(
        "--no-passphrase",
        action="store_true",
        help="leave the keys unencrypted (no prompt even on a terminal)",
    )
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("run", help="run the node in the foreground until SIGINT/SIGTERM")
    p.add_argument("--home", required=True, type=Path)
    p.add_argument("--name", help="organisation name if a new home has to be created")
    p.add_argument(
        "--listen",
        help=f"HOST:PORT (a new home keeps it; an existing one listens there for this run;"
        f" default {DEFAULT_LISTEN})",
    )
    p.add_argument("--passphrase-file")
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes serving the port (PostgreSQL storage only; one runs the federation)",
    )
    add_logging_options(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("status", help="identity, record counts by kind, peers")
    p.add_argument("--home", required=True, type=Path)
    p.set_defaults(func=cmd_status)


def _init(home: Path, name: str, listen: str, url: str, passphrase: str | None) -> None:
    dids = init_home(home, name, listen, url, passphrase)
    run_async(_create_database(home))
    say(f"created node home {home}")
    say(f"  organisation  {dids['org']}")
    say(f"  node key      {dids['node']}")
    say(f"  listen        {listen}")
    say(f"next: rakuichi run --home {home}")


async def _create_database(home: Path) -> None:
    store = await open_record_store(load_config(home))
    await store.close()


def _prompted_passphrase() -> str:
    """Asked twice on the terminal, not echoed; an empty answer is refused."""
    first = getpass.getpass("passphrase to encrypt the keys (none: --no-passphrase): ")
    if not first:
        raise CliError("empty passphrase; give one, or use --no-passphrase")
    if getpass.getpass("the same passphrase again: ") != first:
        raise CliError("the two passphrases differ; nothing was created")
    return first


def init_passphrase(args: argparse.Namespace) -> str | None:
    """The passphrase for new keys: --no-passphrase, else a file, the environment, a prompt
    on a terminal; without any, keys are left unencrypted and that is said in one line."""
    if args.no_passphrase:
        if args.passphrase_file:
            raise CliError("--no-passphrase and --passphrase-file contradict each other")
        return None
    passphrase = read_passphrase_file(args.passphrase_file) or passphrase_from_env()
    if passphrase:
        return passphrase
    if sys.stdin.isatty():
        return _prompted_passphrase()
    say(
        "keys are not encrypted (no terminal to ask on, no --passphrase-file or"
        f" {PASSPHRASE_ENV}); anyone who can read {args.home} can sign as this organisation"
    )
    return None


def cmd_init(args: argparse.Namespace) -> None:
    if (args.home / CONFIG_FILE).exists():  # before asking for a passphrase
        raise CliError(f"{args.home}: already a node home (config.toml exists); not overwriting")
    if not args.name.strip():
        raise CliError("--name must not be empty")
    parse_listen(args.listen)
    _init(args.home, args.name, args.listen, args.url, init_passphrase(args))


def _listen_override(home: Path, listen: str | None) -> str | None:
    """``--listen`` for an existing home: used for this run, and said so (never ignored)."""
    if listen is None:
        return None
    parse_listen(listen)
    configured = load_config(home).listen
    if listen == configured:
        return None
    say(f"listening on {listen} for this run (config.toml says {configured}; edit it to keep)")
    return listen


def cmd_run(args: argparse.Namespace) -> None:
    from node.runner import ListenError, serve

    configure_logging(args.log_level, args.log_format, not args.no_access_log)
    passphrase = read_passphrase_file(args.passphrase_file)
    listen = args.listen
    if not (args.home / CONFIG_FILE).exists():
        name = args.name or args.home.resolve().name or "rakuichi"
        say(f"no node home at {args.home}: initialising one with defaults")
        _init(args.home, name, listen or DEFAULT_LISTEN, "", passphrase)
        listen = None
    problems = home_problems(args.home)
    if problems:
        raise CliError("\n".join(problems))
    override = _listen_override(args.home, listen)
    try:
        load_keys(args.home, passphrase)
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    if args.workers < 1:
        raise CliError(f"--workers must be at least 1, not {args.workers}")
    if args.workers > 1:
        _serve_workers(args, passphrase, override)
        return
    try:
        run_async(
            serve(
                args.home,
                passphrase,
                ready=lambda node: say(
                    f"node {node.config.name} running at {node.config.public_url} (Ctrl-C to stop)"
                ),
                listen=override,
            )
        )
    except ListenError as exc:
        raise CliError(str(exc)) from None
    say("node stopped")


def _serve_workers(args: argparse.Namespace, passphrase: str | None, listen: str | None) -> None:
    from node.runner import ListenError
    from node.workers import WorkersError, serve_workers

    try:
        serve_workers(args.home, passphrase, args.workers, listen)
    except (ListenError, WorkersError) as exc:
        raise CliError(str(exc)) from None
    say("node stopped")


def cmd_status(args: argparse.Namespace) -> None:
    config = load_config(args.home)
    identity = read_toml(config.config_path).get("identity", {})
    say(f"node {config.name} at {config.public_url} (listen {config.listen})")
    say(f"  organisation  {identity.get('org', '?')}")
    say(f"  node key      {identity.get('node', '?')}")
    dsn = config.postgresql_dsn
    if dsn is not None:  # read-only too
        try:
            version, counts = run_async(read_postgresql_status(dsn))
        except StoreError as exc:
            raise CliError(str(exc)) from None
        latest = len(PG_MIGRATIONS)
        say(f"  storage       PostgreSQL, schema v{version} (this software v{latest})")
    else:
        counts = read_counts(config.database_path)  # read-only: status never migrates
        version, latest = schema_version(config.database_path), latest_schema()
        if 0 < version < latest:
            say(f"database schema v{version}, this software v{latest}: `rakuichi migrate` (or run)")
    say(f"records: {sum(counts.values())}")
    for kind, n in sorted(counts.items()):
        say(f"  {kind:<16} {n}")
    peers = read_toml(config.peers_path).get("peer", [])
    say(f"peers: {len(peers)}")
    for peer in peers:
        say(f"  {peer.get('url', '?')}")
    for org in sorted(config.federation.deny_orgs):
        say(f"  denied org {did_from_raw(org)}")
