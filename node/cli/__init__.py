"""The ``rakuichi`` command line: each command prints what it did, or one line saying why not."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from crypto import CryptoError
from node import __version__
from node.cli import (
    alliance,
    credentials,
    demo,
    keys,
    maintenance,
    member,
    operator,
    peers,
    publish,
    storecmd,
)
from node.cli.common import CliError
from node.storage.store import StoreError
from node.tomlfile import ConfigError

COMMAND_MODULES = [
    operator,
    maintenance,
    storecmd,
    publish,
    peers,
    alliance,
    member,
    credentials,
    keys,
    demo,
]


class _Parser(argparse.ArgumentParser):
    """Bad arguments are one line too (subcommands' parsers inherit this class)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="rakuichi", description="Rakuichi: a federation of organisations as alliances."
    )
    parser.add_argument("--version", action="version", version=f"rakuichi {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        module.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = args.func(args)
    except (CliError, ConfigError, StoreError, CryptoError) as exc:
        for line in str(exc).splitlines() or [""]:  # several problems: one line each
            print(f"rakuichi {args.command}: {line}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return int(result or 0)
