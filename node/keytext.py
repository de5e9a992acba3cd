"""Keys in log lines and error messages: the did:key text of a raw key, rendered when shown.

Inside ``node/`` a key is its raw 32 bytes; did:key text exists only at the edges (HTTP,
CLI, files, logs). ``KeyText(raw)`` is how the rest of the node names a key to a human: it
is not a string, so it cannot be used where a key is meant (a table key, a comparison).
"""

from __future__ import annotations

from crypto import did_from_raw


class KeyText:
    __slots__ = ("raw",)

    def __init__(self, raw: bytes) -> None:
        self.raw = raw

    def __str__(self) -> str:
        return did_from_raw(self.raw)

    def __repr__(self) -> str:
        return did_from_raw(self.raw)
