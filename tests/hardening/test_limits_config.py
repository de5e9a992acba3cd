"""The ``[limits]`` table of config.toml: defaults, overrides, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.config import load_config
from node.limits import Limits
from node.tomlfile import ConfigError
from tests.support.nodes import make_home


def test_defaults_and_overrides(tmp_path: Path) -> None:
    assert load_config(make_home(tmp_path, "plain")).limits == Limits()
    config = load_config(make_home(tmp_path, "tuned", header_timeout=3, body_min_rate=1000))
    assert config.limits.header_timeout == 3.0 and config.limits.body_min_rate == 1000


@pytest.mark.parametrize(
    ("text", "mention"),
    [
        ("[limits]\nheadr_timeout = 3\n", "headr_timeout is not a limit"),
        ("[limits]\nheader_timeout = 'soon'\n", "must be float"),
        ("[limits]\nconnections_per_address = -1\n", "must not be negative"),
        ("limits = 3\n", "must be a table"),
    ],
)
def test_bad_limits_are_named(tmp_path: Path, text: str, mention: str) -> None:
    home = make_home(tmp_path, "bad")
    config = home / "config.toml"
    config.write_text(
        config.read_text() + "\n" + text if text.startswith("[") else text + config.read_text()
    )
    with pytest.raises(ConfigError, match=mention):
        load_config(home)
