"""Keys in stored text columns: ``records.origin`` and ``peers.node_key``/``peers.org`` hold
did:key text in every store written so far; the node hands and gets raw 32-byte keys."""

from __future__ import annotations

from crypto import did_from_raw, raw_from_did


def key_column(raw: bytes | None) -> str | None:
    """The stored text of a raw key (None stays None)."""
    return None if raw is None else did_from_raw(raw)


def key_from_column(text: str | None) -> bytes | None:
    """The raw key of a stored text (None, or empty, is None)."""
    return raw_from_did(text) if text else None
