"""``rakuichi peers``: list, add, remove and deny peers by editing the node's files.

A running node re-reads ``peers.toml`` and ``config.toml`` within a second, so every change
takes effect without a restart; a stopped node reads them when it starts.
"""

from __future__ import annotations

import argparse
import json
import urllib.error
import urllib.request
from pathlib import Path

from crypto import InvalidDid, raw_from_did
from node.cli.common import CliError, say
from node.config import load_config
from node.federation.peersfile import SeedPeer, normalise_url, read_peers, write_peers
from node.tomlfile import dumps, read_toml, write_atomically


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    peers = sub.add_parser("peers", help="list, add, remove or deny peers")
    what = peers.add_subparsers(dest="what", required=True)
    p = what.add_parser("list", help="peers from peers.toml, and live state if the node runs")
    p.add_argument("--home", required=True, type=Path)
    p.set_defaults(func=cmd_list)
    p = what.add_parser("add", help="add a peer by URL")
    p.add_argument("--home", required=True, type=Path)
    p.add_argument("url")
    p.add_argument("--name", default="")
    p.add_argument("--node-key", default="", help="pin the peer's node did:key")
    p.set_defaults(func=cmd_add)
    p = what.add_parser("remove", help="remove a peer by URL")
    p.add_argument("--home", required=True, type=Path)
    p.add_argument("url")
    p.set_defaults(func=cmd_remove)
    p = what.add_parser("deny", help="defederate a peer URL or an organisation/node did:key")
    p.add_argument("--home", required=True, type=Path)
    p.add_argument("target", help="URL or did:key")
    p.set_defaults(func=cmd_deny)


def _live_table(url: str) -> list[dict[str, object]] | None:
    try:
        with urllib.request.urlopen(f"{url}/v1/peers", timeout=2) as answer:
            return json.loads(answer.read())["peers"]
    except (OSError, urllib.error.URLError, ValueError, KeyError):
        return None


def cmd_list(args: argparse.Namespace) -> None:
    from node.cli.publish import local_url

    config = load_config(args.home)
    seeds = read_peers(config.peers_path)
    live = _live_table(local_url(config))
    say(f"{len(seeds)} peer(s) in {config.peers_path}")
    for seed in seeds:
        say(
            f"  {seed.url}"
            + (f"  ({seed.name})" if seed.name else "")
            + (f"  pinned {seed.node_key}" if seed.node_key else "")
        )
    fed = config.federation
    for url in sorted(fed.deny_urls):
        say(f"  denied url {url}")
    if live is None:
        say("node not running: no live state")
        return
    say("live state:")
    for row in live:
        state = "ok" if not row.get("failures") else f"failing ({row.get('error')})"
        say(
            f"  {row['url']}  {row['source']}  {'active' if row['active'] else 'idle'}  "
            f"backlog {row['backlog']}  {state}"
        )


def cmd_add(args: argparse.Namespace) -> None:
    config = load_config(args.home)
    url = normalise_url(args.url)
    if args.node_key:
        try:
            raw_from_did(args.node_key)
        except InvalidDid as exc:
            raise CliError(f"--node-key: {exc}") from None
    peers = read_peers(config.peers_path)
    if any(p.url == url for p in peers):
        raise CliError(f"{url} is already a peer")
    write_peers(config.peers_path, [*peers, SeedPeer(url, args.name, args.node_key)])
    say(f"added peer {url} to {config.peers_path}")


def cmd_remove(args: argparse.Namespace) -> None:
    config = load_config(args.home)
    url = normalise_url(args.url)
    peers = read_peers(config.peers_path)
    kept = [p for p in peers if p.url != url]
    if len(kept) == len(peers):
        raise CliError(f"{url} is not in {config.peers_path}")
    write_peers(config.peers_path, kept)
    say(f"removed peer {url}")


def cmd_deny(args: argparse.Namespace) -> None:
    config = load_config(args.home)
    data = read_toml(config.config_path)
    fed = data.setdefault("federation", {})
    if args.target.startswith("did:"):
        try:
            raw_from_did(args.target)
        except InvalidDid as exc:
            raise CliError(str(exc)) from None
        denied = fed.setdefault("deny_orgs", [])
        what = f"organisation/node {args.target}"
        value = args.target
    else:
        value = normalise_url(args.target)
        denied = fed.setdefault("deny_urls", [])
        what = f"peer {value}"
    if value in denied:
        raise CliError(f"{what} is already denied")
    denied.append(value)
    write_atomically(config.config_path, dumps(data, "Rakuichi node configuration."))
    if not args.target.startswith("did:"):
        kept = [p for p in read_peers(config.peers_path) if p.url != value]
        write_peers(config.peers_path, kept)
    say(f"denied {what}: its requests get 403 and records by a denied organisation are refused")
