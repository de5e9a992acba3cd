"""Configuration errors name the file and the field, and say what is wrong with the value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from crypto import raw_from_did
from node.config import CONFIG_FILE, load_config
from node.tomlfile import ConfigError, dumps, read_toml, write_atomically
from tests.support import fresh_key, make_home, run_cli


def set_value(home: Path, table: str, key: str, value: Any) -> Path:
    path = home / CONFIG_FILE
    data = read_toml(path)
    if value is None:
        data[table].pop(key, None)
    else:
        data[table][key] = value
    write_atomically(path, dumps(data))
    return path


BAD_VALUES: list[tuple[str, str, Any, list[str]]] = [
    ("node", "listen", "nonsense", ["[node].listen", "'nonsense'", "HOST:PORT"]),
    ("node", "listen", "127.0.0.1:99999", ["[node].listen", "99999"]),
    ("node", "listen", 8470, ["[node].listen", "must be str"]),
    ("node", "max_body_bytes", "big", ["[node].max_body_bytes", "must be int", "'big'"]),
    ("node", "name", 5, ["[node].name", "must be str"]),
    ("node", "name", "", ["[node].name", "required"]),
    ("node", "name", None, ["[node].name", "required"]),
    ("node", "url", ["http://x"], ["[node].url", "must be str"]),
    ("federation", "push_interval", "fast", ["[federation].push_interval", "must be float"]),
    ("federation", "allow_only", "yes", ["[federation].allow_only", "must be bool"]),
    ("federation", "max_peers", 3.5, ["[federation].max_peers", "must be int"]),
    ("federation", "max_peers", True, ["[federation].max_peers", "must be int"]),
    ("federation", "deny_orgs", ["did:key:zBAD"], ["[federation].deny_orgs", "did:key:zBAD"]),
    (
        "federation",
        "deny_orgs",
        ["did:web:example.org"],
        ["[federation].deny_orgs", "did:web:example.org"],
    ),
    ("federation", "deny_orgs", "did:key:z6Mk", ["[federation].deny_orgs", "list"]),
    ("federation", "deny_urls", [1, 2], ["[federation].deny_urls", "list of strings"]),
    ("federation", "deny_urls", "http://x", ["[federation].deny_urls", "must be list"]),
]


@pytest.mark.parametrize(
    ("table", "key", "value", "mentions"),
    BAD_VALUES,
    ids=[f"{t}.{k}={v!r}" for t, k, v, _ in BAD_VALUES],
)
def test_bad_value_names_file_and_field(
    tmp_path: Path, table: str, key: str, value: Any, mentions: list[str]
) -> None:
    home = make_home(tmp_path, "conf", 8470)
    path = set_value(home, table, key, value)
    with pytest.raises(ConfigError) as info:
        load_config(home)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    for mention in mentions:
        assert mention in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("text", "mention"),
    [
        ("[node\nname = 'x'\n", "not valid TOML"),
        ("node = 5\n", "[node] must be a table"),
        ("[node]\nname = 'x'\nfederation = 3\n[federation]\nx = [\n", "not valid TOML"),
        ("federation = 'none'\n[node]\nname = 'x'\n", "[federation] must be a table"),
    ],
)
def test_unreadable_file_names_the_file(tmp_path: Path, text: str, mention: str) -> None:
    home = tmp_path / "broken"
    home.mkdir()
    (home / CONFIG_FILE).write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(home)
    assert str(info.value).startswith(str(home / CONFIG_FILE))
    assert mention in str(info.value)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config\.toml: no such file"):
        load_config(tmp_path / "nowhere")


def test_good_values_are_read(tmp_path: Path) -> None:
    denied = fresh_key().public_key.did
    home = make_home(
        tmp_path,
        "fine",
        8471,
        max_body_bytes=123_456,
        about="Allied.",
        push_interval=1,
        deny_orgs=[denied],
        deny_urls=["http://bad.example/"],
    )
    config = load_config(home)
    assert config.listen == "127.0.0.1:8471" and config.host_port == ("127.0.0.1", 8471)
    assert config.max_body_bytes == 123_456 and config.about == "Allied."
    assert config.federation.push_interval == 1.0
    assert isinstance(config.federation.push_interval, float)
    assert config.federation.deny_orgs == frozenset({raw_from_did(denied)})
    assert config.federation.deny_urls == frozenset({"http://bad.example"})


def test_commands_report_a_config_error_in_one_line(tmp_path: Path) -> None:
    home = make_home(tmp_path, "cli-conf", 8472)
    path = set_value(home, "federation", "deny_orgs", ["did:key:zNOPE"])
    for command in (["status", "--home", str(home)], ["run", "--home", str(home)]):
        result = run_cli(*command, timeout=20)
        assert result.returncode == 1, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
        assert lines[0].startswith(f"rakuichi {command[0]}: {path}: [federation].deny_orgs")
