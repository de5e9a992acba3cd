"""``rakuichi peers``: list, add, remove, deny and undeny peers by editing the node's files
(with ``tomlkit``: the operator's comments and layout stay).

A running node re-reads ``peers.toml`` and ``config.toml`` within a second, so every change
takes effect without a restart; a stopped node reads them when it starts.
"""

from __future__ import annotations

import argparse
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import tomlkit

from crypto import InvalidDid, did_from_raw, raw_from_did
from node.cli.common import CliError, say
from node.config import load_config
from node.federation.peersfile import SeedPeer, normalise_url, read_peers
from node.tomlfile import edited_toml


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
    p = what.add_parser("undeny", help="lift a deny of a peer URL or an organisation did:key")
    p.add_argument("--home", required=True, type=Path)
    p.add_argument("target", help="URL or did:key")
    p.set_defaults(func=cmd_undeny)


def _live_table(url: str) -> list[dict[str, object]] | None:
    try:
        with urllib.request.urlopen(f"{url}/v1/peers", timeout=2) as answer:
            return json.loads(answer.read())["peers"]
    except (OSError, urllib.error.URLError, ValueError, KeyError):
        return None


def _denied_org(did: str, denied: frozenset[bytes]) -> bool:
    try:
        return raw_from_did(did) in denied
    except InvalidDid:
        return False


def cmd_list(args: argparse.Namespace) -> None:
    from node.cli.publish import local_url

    config = load_config(args.home)
    seeds = read_peers(config.peers_path)
    live = _live_table(local_url(config))
    fed = config.federation
    say(f"{len(seeds)} peer(s) in {config.peers_path}")
    for seed in seeds:
        say(
            f"  {seed.url}"
            + (f"  ({seed.name})" if seed.name else "")
            + (f"  pinned {seed.node_key}" if seed.node_key else "")
            + ("  DENIED" if seed.url in fed.deny_urls else "")
        )
    for url in sorted(fed.deny_urls):
        say(f"  DENIED url {url}")
    for org in sorted(fed.deny_orgs):
        say(f"  DENIED organisation/node {did_from_raw(org)}")
    if live is None:
        say("node not running: no live state")
        return
    say("live state:")
    for row in live:
        state = "ok" if not row.get("failures") else f"failing ({row.get('error')})"
        if row["url"] in fed.deny_urls or (
            isinstance(row.get("org"), str) and _denied_org(str(row["org"]), fed.deny_orgs)
        ):
            state = "DENIED"
        say(
            f"  {row['url']}  {row['source']}  {'active' if row['active'] else 'idle'}  "
            f"backlog {row['backlog']}  {state}"
        )


def _peer_tables(document: tomlkit.TOMLDocument) -> Any:
    """The ``[[peer]]`` array of tables of a peers.toml document, created if missing."""
    if "peer" not in document:
        document.append("peer", tomlkit.aot())
    return document["peer"]


def cmd_add(args: argparse.Namespace) -> None:
    config = load_config(args.home)
    url = normalise_url(args.url)
    if args.node_key:
        try:
            raw_from_did(args.node_key)
        except InvalidDid as exc:
            raise CliError(f"--node-key: {exc}") from None
    if any(p.url == url for p in read_peers(config.peers_path)):
        raise CliError(f"{url} is already a peer")
    if url in config.federation.deny_urls:
        raise CliError(f"{url} is denied; `rakuichi peers undeny {url}` first")
    with edited_toml(config.peers_path) as document:
        entry = tomlkit.table()
        for key, value in SeedPeer(url, args.name, args.node_key).to_toml().items():
            entry[key] = value
        _peer_tables(document).append(entry)
    say(f"added peer {url} to {config.peers_path}")


def _drop_peer(path: Path, url: str) -> bool:
    with edited_toml(path) as document:
        tables = _peer_tables(document)
        keep = [t for t in tables if normalise_url(str(t.get("url", ""))) != url]
        if len(keep) == len(tables):
            return False
        document["peer"] = tomlkit.aot()
        for table in keep:
            document["peer"].append(table)
    return True


def cmd_remove(args: argparse.Namespace) -> None:
    config = load_config(args.home)
    url = normalise_url(args.url)
    if not _drop_peer(config.peers_path, url):
        raise CliError(f"{url} is not in {config.peers_path}")
    say(f"removed peer {url}")


def _target(text: str) -> tuple[str, str, str]:
    """(config key, value, description) of a URL or did:key given to deny/undeny."""
    if text.startswith("did:"):
        try:
            raw_from_did(text)
        except InvalidDid as exc:
            raise CliError(str(exc)) from None
        return "deny_orgs", text, f"organisation/node {text}"
    url = normalise_url(text)
    return "deny_urls", url, f"peer {url}"


def _federation_table(document: tomlkit.TOMLDocument) -> Any:
    if "federation" not in document:
        document.append("federation", tomlkit.table())
    return document["federation"]


def cmd_deny(args: argparse.Namespace) -> None:
    config = load_config(args.home)
    key, value, what = _target(args.target)
    with edited_toml(config.config_path) as document:
        fed = _federation_table(document)
        if key not in fed:
            fed[key] = tomlkit.array()
        if value in [str(v) for v in fed[key]]:
            raise CliError(f"{what} is already denied")
        fed[key].append(value)
    if key == "deny_urls":
        _drop_peer(config.peers_path, value)
    say(f"denied {what}: its requests get 403 and records by a denied organisation are refused")


def cmd_undeny(args: argparse.Namespace) -> None:
    config = load_config(args.home)
    key, value, what = _target(args.target)
    with edited_toml(config.config_path) as document:
        fed = _federation_table(document)
        held = [str(v) for v in fed.get(key, [])]
        if value not in held:
            raise CliError(f"{what} is not denied")
        fed[key].pop(held.index(value))
    again = "`rakuichi peers add` it again to peer with it" if key == "deny_urls" else ""
    say(f"{what} is no longer denied" + (f"; {again}" if again else ""))
