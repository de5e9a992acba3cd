"""Configuring a node: whole-file checks, edits that keep comments, deny and undeny."""

from __future__ import annotations

from pathlib import Path

from node.config import load_config
from tests.node.test_cli import one_line_failure
from tests.support import make_home, run_cli
from tests.support.records import did, fresh_key

PEERS_WITH_COMMENTS = """# Our peers, reviewed every quarter by the ops team.

[[peer]]
url = "https://kyoto.example"   # the first alliance partner
name = "Kyoto"

# Osaka joins next month: keep this note.
"""


def test_config_check_names_every_problem_with_did_you_mean(tmp_path: Path) -> None:
    home = make_home(tmp_path, "typo")
    config = home / "config.toml"
    text = config.read_text(encoding="utf-8")
    text = text.replace("max_peers = 32", "max_peer = 32\nmax_backoff = 0.0")
    text = text.replace("[node]", '[node]\nlisten_adress = "x"\nrate_burst = "lots"')
    config.write_text(text + "\n[federaton]\npush_interval = 1.0\n", encoding="utf-8")
    (home / "peers.toml").write_text('[[peer]]\nurl = "https://a.example"\nnode_kye = "x"\n')

    result = run_cli("config", "check", "--home", home)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert all(line.startswith("rakuichi config check: ") for line in lines), lines
    text = "\n".join(lines)
    assert "[federation].max_peer is not a setting (did you mean max_peers?)" in text
    assert "[node].listen_adress is not a setting (did you mean listen?)" in text
    assert "unknown table [federaton] (did you mean federation?)" in text
    assert "[node].rate_burst must be float" in text
    assert "[federation].max_backoff must be > 0" in text
    assert "peer #1: node_kye is not a setting (did you mean node_key?)" in text
    assert len(lines) == 6, lines

    run = run_cli("run", "--home", home)  # the node refuses to start, naming the same lines
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "did you mean max_peers?" in run.stderr and "must be > 0" in run.stderr

    good = make_home(tmp_path, "good")
    ok = run_cli("config", "check", "--home", good)
    assert ok.returncode == 0 and "ok" in ok.stdout, ok.stderr


def test_peers_add_remove_and_deny_keep_comments(tmp_path: Path) -> None:
    home = make_home(tmp_path, "careful")
    peers = home / "peers.toml"
    peers.write_text(PEERS_WITH_COMMENTS, encoding="utf-8")
    config = home / "config.toml"
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            "[federation]", "# policy agreed with legal\n[federation]"
        ),
        encoding="utf-8",
    )
    added = run_cli("peers", "add", "--home", home, "https://osaka.example", "--name", "Osaka")
    assert added.returncode == 0, added.stderr
    text = peers.read_text(encoding="utf-8")
    for kept in (
        "# Our peers, reviewed every quarter by the ops team.",
        'url = "https://kyoto.example"   # the first alliance partner',
        "# Osaka joins next month: keep this note.",
    ):
        assert kept in text, text
    assert [p.url for p in _seeds(home)] == ["https://kyoto.example", "https://osaka.example"]

    assert run_cli("peers", "deny", "--home", home, "https://osaka.example").returncode == 0
    assert "# policy agreed with legal" in config.read_text(encoding="utf-8")
    assert "# Our peers, reviewed every quarter" in peers.read_text(encoding="utf-8")
    assert [p.url for p in _seeds(home)] == ["https://kyoto.example"]
    org = did(fresh_key())
    assert run_cli("peers", "deny", "--home", home, org).returncode == 0

    listed = run_cli("peers", "list", "--home", home)
    assert "DENIED url https://osaka.example" in listed.stdout
    assert f"DENIED organisation/node {org}" in listed.stdout

    line = one_line_failure(run_cli("peers", "add", "--home", home, "https://osaka.example"), 1)
    assert "undeny" in line
    assert run_cli("peers", "undeny", "--home", home, "https://osaka.example").returncode == 0
    assert run_cli("peers", "undeny", "--home", home, org).returncode == 0
    fed = load_config(home).federation
    assert not fed.deny_urls and not fed.deny_orgs
    line = one_line_failure(run_cli("peers", "undeny", "--home", home, org), 1)
    assert "not denied" in line
    assert "# policy agreed with legal" in config.read_text(encoding="utf-8")


def _seeds(home: Path) -> list:  # type: ignore[type-arg]
    from node.federation.peersfile import read_peers

    return read_peers(home / "peers.toml")
