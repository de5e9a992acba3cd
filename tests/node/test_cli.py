"""The ``rakuichi`` command line, run for real in child processes."""

from __future__ import annotations

import re
import sqlite3
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from node import __version__
from node.config import load_config
from node.tomlfile import read_toml
from tests.support import NodeProcess, free_port, http_get_json, make_home, run_cli

DID = re.compile(r"did:key:z[1-9A-HJ-NP-Za-km-z]+")
PUBLISHED = re.compile(r"^published (\S+) ([0-9a-f]{64}) \((.*)\)$")


def published(result: subprocess.CompletedProcess[str]) -> tuple[str, str, str]:
    """(kind, id, state) from the one line ``publish`` prints."""
    assert result.returncode == 0, result.stderr
    match = PUBLISHED.match(result.stdout.strip())
    assert match, result.stdout
    kind, rid, state = match.groups()
    return kind, rid, state


def one_line_failure(result: subprocess.CompletedProcess[str], code: int | None = None) -> str:
    assert result.returncode != 0, result.stdout
    if code is not None:
        assert result.returncode == code, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("rakuichi"), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def held_ids(database: Path) -> set[str]:
    db = sqlite3.connect(database)
    try:
        return {row[0].hex() for row in db.execute("SELECT id FROM records")}
    finally:
        db.close()


def test_init_prints_dids_and_refuses_an_existing_home(tmp_path: Path) -> None:
    home = tmp_path / "acme"
    port = free_port()
    result = run_cli("init", "--home", home, "--name", "Acme KK", "--listen", f"127.0.0.1:{port}")
    assert result.returncode == 0, result.stderr
    printed = DID.findall(result.stdout)
    identity = read_toml(home / "config.toml")["identity"]
    assert printed == [identity["org"], identity["node"]]
    assert f"127.0.0.1:{port}" in result.stdout
    config = load_config(home)
    assert (config.name, config.listen) == ("Acme KK", f"127.0.0.1:{port}")
    assert config.database_path.exists()
    assert (home / "org.key").exists() and (home / "node.key").exists()

    keys_before = (home / "org.key").read_bytes()
    again = run_cli("init", "--home", home, "--name", "Other")
    line = one_line_failure(again, 1)
    assert "already a node home" in line and str(home) in line
    assert (home / "org.key").read_bytes() == keys_before
    assert load_config(home).name == "Acme KK"


def test_run_initialises_a_missing_home_and_stops_on_sigterm(
    tmp_path: Path, node_process: Callable[..., NodeProcess]
) -> None:
    home = tmp_path / "fresh-org"
    port = free_port()
    proc = node_process(home, ["--listen", f"127.0.0.1:{port}"], f"http://127.0.0.1:{port}")
    identity = proc.wait_ready()
    assert identity["name"] == "fresh-org"
    written = read_toml(home / "config.toml")["identity"]
    assert (identity["org"], identity["node"]) == (written["org"], written["node"])
    output = proc.wait_for_output(f"running at http://127.0.0.1:{port}")
    assert f"no node home at {home}: initialising one with defaults" in output
    assert proc.terminate() == 0
    assert proc.output().rstrip().endswith("node stopped")
    assert "Traceback" not in proc.errors()
    with pytest.raises(OSError):
        http_get_json(f"http://127.0.0.1:{port}/.well-known/rakuichi", timeout=1.0)


def test_publish_with_the_node_running_and_stopped_then_status(
    tmp_path: Path, node_process: Callable[..., NodeProcess]
) -> None:
    home = make_home(tmp_path, "publisher")
    proc = node_process(home)
    proc.wait_ready()
    identity = read_toml(home / "config.toml")["identity"]

    kind, rid, state = published(
        run_cli(
            "publish",
            "opportunity",
            "--home",
            home,
            "--slug",
            "web-director",
            "--title",
            "Web director",
            "--tour",
            "transformational",
            "--status",
            "open",
            "--skill",
            "ux",
            "--skill",
            "python",
            "--remote",
            "--weeks",
            "24",
        )
    )
    assert (kind, state) == ("opportunity", "stored")
    view = http_get_json(f"{proc.url}/v1/records/{rid}")
    assert view["author"] == identity["org"]
    assert view["body"] == {
        "slug": "web-director",
        "title": "Web director",
        "tour": "transformational",
        "status": "open",
        "skills": ["ux", "python"],
        "remote": True,
        "weeks": 24,
    }

    kind, profile_id, state = published(
        run_cli("publish", "profile", "--home", home, "--about", "Directors, allied.")
    )
    assert (kind, state) == ("org.profile", "stored")
    org = http_get_json(f"{proc.url}/v1/orgs/{identity['org']}")
    assert org["profile"]["id"] == profile_id
    assert org["profile"]["body"]["about"] == "Directors, allied."

    note = tmp_path / "note.toml"
    note.write_text(
        f'kind = "x.custom-note"\ncreated = 1764400000000\nhome = "{home}"\n'
        '[body]\ntext = "hello"\ntags = ["a", "b"]\n',
        encoding="utf-8",
    )
    kind, note_id, state = published(run_cli("publish", "file", note))
    assert (kind, state) == ("x.custom-note", "stored")
    view = http_get_json(f"{proc.url}/v1/records/{note_id}")
    assert (view["created"], view["body"]) == (1764400000000, {"text": "hello", "tags": ["a", "b"]})
    assert published(run_cli("publish", "file", note, "--home", home)) == (
        kind,
        note_id,
        "already held",
    )

    assert proc.terminate() == 0
    kind, offline_id, state = published(
        run_cli(
            "publish",
            "opportunity",
            "--home",
            home,
            "--slug",
            "analyst",
            "--title",
            "Analyst",
            "--tour",
            "rotational",
            "--status",
            "filled",
        )
    )
    assert state.startswith("stored in ") and "node not running" in state
    database = load_config(home).database_path
    assert {rid, profile_id, note_id, offline_id} <= held_ids(database)

    status = run_cli("status", "--home", home)
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    assert identity["org"] in status.stdout and identity["node"] in status.stdout
    # the node's own profile, the published one, two opportunities and the note
    assert "records: 5" in lines
    counts = dict(re.findall(r"^  (\S+)\s+(\d+)$", status.stdout, re.MULTILINE))
    assert counts == {"opportunity": "2", "org.profile": "2", "x.custom-note": "1"}
    assert "peers: 0" in lines

    proc.restart()
    served = http_get_json(f"{proc.url}/v1/records/{offline_id}")
    assert served["body"]["slug"] == "analyst"
    assert proc.terminate() == 0


def test_bad_arguments_exit_non_zero_with_one_line(tmp_path: Path) -> None:
    home = make_home(tmp_path, "strict")
    no_kind = tmp_path / "no-kind.toml"
    no_kind.write_text('[body]\ntext = "x"\n', encoding="utf-8")
    no_home = tmp_path / "no-home.toml"
    no_home.write_text('kind = "x.note"\n[body]\ntext = "x"\n', encoding="utf-8")
    opportunity = [
        "publish",
        "opportunity",
        "--home",
        str(home),
        "--title",
        "T",
        "--status",
        "open",
    ]
    cases: list[tuple[list[str], int, str]] = [
        ([*opportunity, "--slug", "Bad Slug", "--tour", "rotational"], 1, "slug"),
        ([*opportunity, "--slug", "ok", "--tour", "nope"], 2, "--tour"),
        (["publish", "opportunity", "--home", str(home)], 2, "required"),
        (["status", "--home", str(tmp_path / "nowhere")], 1, "config.toml"),
        (["init", "--home", str(tmp_path / "new"), "--name", "x", "--listen", "bad"], 1, "listen"),
        (["init", "--home", str(tmp_path / "new"), "--name", "  "], 1, "name"),
        (["bogus"], 2, "bogus"),
        ([], 2, "command"),
        (
            ["publish", "file", str(tmp_path / "missing.toml"), "--home", str(home)],
            1,
            "missing.toml",
        ),
        (["publish", "file", str(no_kind), "--home", str(home)], 1, "kind"),
        (["publish", "file", str(no_home)], 1, "--home"),
        (
            ["run", "--home", str(home), "--passphrase-file", str(tmp_path / "nope.txt")],
            1,
            "nope.txt",
        ),
    ]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda case: run_cli(*case[0]), cases))
    for (args, code, mention), result in zip(cases, results, strict=True):
        line = one_line_failure(result, code)
        assert mention in line, (args, line)
    assert not (tmp_path / "new").exists()
    assert not load_config(home).database_path.exists()  # nothing was stored anywhere


def test_version_and_help_succeed() -> None:
    version = run_cli("--version")
    assert version.returncode == 0 and version.stdout.strip() == f"rakuichi {__version__}"
    helped = run_cli("publish", "--help")
    assert helped.returncode == 0
    assert all(word in helped.stdout for word in ("opportunity", "profile", "file"))
    assert helped.stderr == ""
