"""Bugs an operator trying the node for the first time ran into (issue 11), each pinned."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
from collections.abc import Callable
from pathlib import Path

from node.config import load_config, load_keys
from protocol import kinds
from protocol.validate import parse
from tests.node.test_cli import one_line_failure
from tests.support import NodeProcess, free_port, make_home, run_cli, running_node
from tests.support.records import alliance, alliance_end, fresh_key, now_ms


def held_of_kind(database: Path, kind: str) -> list[bytes]:
    db = sqlite3.connect(database)
    try:
        return [row[0] for row in db.execute("SELECT wire FROM records WHERE kind = ?", (kind,))]
    finally:
        db.close()


def test_publish_profile_keeps_the_nodes_list(tmp_path: Path) -> None:
    home = make_home(tmp_path, "acme", url="https://acme.example")
    result = run_cli("publish", "profile", "--home", home, "--about", "We build things")
    assert result.returncode == 0, result.stderr
    (wire,) = held_of_kind(load_config(home).database_path, kinds.ORG_PROFILE)
    body = parse(wire).body
    node_key = load_keys(home).node.public_key.raw
    assert body["nodes"] == [{"key": node_key, "url": "https://acme.example"}]
    assert (body["name"], body["about"]) == ("acme", "We build things")


def test_a_taken_port_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        home = make_home(tmp_path, "acme", port=port)
        result = run_cli("run", "--home", home, timeout=60)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.splitlines()[-1]
    assert last.startswith("rakuichi run: cannot listen on 127.0.0.1:") and str(port) in last


def test_a_bad_log_level_is_one_line(tmp_path: Path) -> None:
    home = make_home(tmp_path, "acme")
    for bad in ("LOUD", "rakuichi.federation=LOUD", "=DEBUG"):
        line = one_line_failure(run_cli("run", "--home", home, "--log-level", bad), 2)
        assert "--log-level" in line and bad in line, line


def test_listen_on_an_existing_home_is_used_and_said(
    tmp_path: Path, node_process: Callable[..., NodeProcess]
) -> None:
    home = make_home(tmp_path, "acme")
    configured = load_config(home).listen
    port = free_port()
    proc = node_process(home, ["--listen", f"127.0.0.1:{port}"], f"http://127.0.0.1:{port}")
    assert proc.wait_ready(30)["name"] == "acme"
    assert f"listening on 127.0.0.1:{port} for this run" in proc.output()
    assert configured in proc.output()
    assert load_config(home).listen == configured  # the file is the operator's to change


def test_zero_intervals_and_other_ranges_are_refused(tmp_path: Path) -> None:
    cases = {
        "anti_entropy_interval": 0.0,
        "push_interval": -1.0,
        "max_peers": 0,
        "request_timeout": 0.0,
    }
    for key, value in cases.items():
        home = make_home(tmp_path, f"n-{key}", **{key: value})
        line = one_line_failure(run_cli("run", "--home", home), 1)
        assert f"[federation].{key} must be" in line and "config.toml" in line, line


async def test_ending_an_alliance_twice_is_refused(tmp_path: Path) -> None:
    home = make_home(tmp_path, "acme")
    org = load_keys(home).org
    member = fresh_key()
    t0 = now_ms() - 60_000
    pact = alliance(org, member, t0)
    async with running_node(home) as node:
        for record in (pact, alliance_end(org, pact, t0 + 1000)):
            outcome = await node.publish(record)
            assert outcome.stored, outcome
        result = await asyncio.to_thread(
            run_cli, "alliance", "end", pact.id.hex(), "--outcome", "completed", "--home", home
        )
        line = one_line_failure(result, 1)
        assert "already ended" in line and pact.id.hex() in line, line
    assert len(held_of_kind(load_config(home).database_path, kinds.ALLIANCE_END)) == 1
