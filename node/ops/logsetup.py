"""Logging for operators: text or JSON lines, per-logger levels, one access line per request.

``--log-level`` takes ``LEVEL`` (the root level) or ``LOGGER=LEVEL`` (one logger, e.g.
``rakuichi.federation=DEBUG``), repeated as needed; anything else is refused by the parser
with one line.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from typing import Any, TextIO

LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")
FORMATS = ("text", "json")
ACCESS_LOGGER = "rakuichi.access"
_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# attributes every LogRecord has; anything else was passed with ``extra=`` and is kept in JSON
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def level_spec(text: str) -> tuple[str, str]:
    """``LEVEL`` or ``LOGGER=LEVEL`` as (logger name, level); '' names the root logger."""
    name, _, level = text.rpartition("=")
    level = level.strip().upper()
    if level not in LEVELS:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a log level: use one of {', '.join(LEVELS)}"
            " or LOGGER=LEVEL (e.g. rakuichi.federation=DEBUG)"
        )
    if "=" in text and not name.strip():
        raise argparse.ArgumentTypeError(f"{text!r}: the logger name before '=' is empty")
    return name.strip(), level


def add_logging_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log-level",
        action="append",
        type=level_spec,
        default=[],
        metavar="[LOGGER=]LEVEL",
        help=f"{'|'.join(LEVELS)} (default INFO), or LOGGER=LEVEL; repeat for several loggers",
    )
    parser.add_argument(
        "--log-format", choices=FORMATS, default="text", help="text (default) or json lines"
    )
    parser.add_argument("--no-access-log", action="store_true", help="no log line per HTTP request")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and any ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(
    levels: list[tuple[str, str]],
    log_format: str = "text",
    access_log: bool = True,
    stream: TextIO | None = None,
) -> None:
    """Install one handler on the root logger; later specs for the same logger win."""
    handler = logging.StreamHandler(stream or sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(_TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel("INFO")
    for name, level in levels:
        logging.getLogger(name or None).setLevel(level)
    if not access_log:
        logging.getLogger(ACCESS_LOGGER).setLevel("WARNING")
