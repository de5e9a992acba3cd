"""Reading TOML (stdlib ``tomllib``), writing the small flat TOML files a node creates, and
editing an operator's files without losing their comments (``tomlkit``)."""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import tomlkit
import tomlkit.exceptions


class ConfigError(Exception):
    """A configuration file is missing, unreadable or holds a wrong value (the message says)."""


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise ConfigError(f"cannot write {type(value).__name__} to TOML")


def dumps(tables: Mapping[str, Any], header: str = "") -> str:
    """TOML text of ``{table: {key: value}}`` and ``{array_table: [{key: value}, ...]}``."""
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    for name, content in tables.items():
        if isinstance(content, list):
            for entry in content:
                lines += ["", f"[[{name}]]"]
                lines += [f"{k} = {_value(v)}" for k, v in entry.items()]
        else:
            lines += ["", f"[{name}]"]
            lines += [f"{k} = {_value(v)}" for k, v in content.items()]
    return "\n".join(lines).lstrip("\n") + "\n"


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so that a reader sees the old file or the new, never half."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with tmp.open("w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


@contextmanager
def edited_toml(path: Path) -> Iterator[tomlkit.TOMLDocument]:
    """Edit ``path`` in place keeping the operator's comments and layout (``tomlkit``): the
    document is written back (atomically) when the block ends without an exception."""
    try:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        document = tomlkit.parse(text)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except tomlkit.exceptions.ParseError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    yield document
    write_atomically(path, tomlkit.dumps(document))
