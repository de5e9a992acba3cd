"""The cache of rendered JSON views by id (node/api/recordviews.py): bounded, least recently
used out first, and a retract's target leaves it."""

from __future__ import annotations

from node.api.recordviews import RecordViews
from tests.support import Cast, now_ms, retract, unknown_kind


def test_bounded_by_bytes_least_recently_used_first() -> None:
    views = RecordViews(max_bytes=100)
    for i in range(4):
        views.put(bytes([i]) * 32, b"x" * 30)
    assert len(views) == 3 and views.size == 90
    assert views.get(b"\x00" * 32) is None  # the oldest went
    assert views.get(b"\x01" * 32) == b"x" * 30  # now the most recently used
    views.put(b"\x09" * 32, b"y" * 30)
    assert views.get(b"\x02" * 32) is None and views.get(b"\x01" * 32) is not None
    views.put(b"\x0a" * 32, b"z" * 101)  # bigger than the whole cache: not kept
    assert views.get(b"\x0a" * 32) is None and views.size <= 100


def test_a_retract_drops_its_target() -> None:
    cast = Cast.fresh()
    note = unknown_kind(cast.member, now_ms() - 5000, "x.note", text="hello")
    other = unknown_kind(cast.member, now_ms() - 4000, "x.note", text="stays")
    views = RecordViews()
    views.put(note.id, b"{}")
    views.put(other.id, b"{}")
    views.on_commit([other, retract(cast.member, note, now_ms() - 3000)])
    assert views.get(note.id) is None and views.get(other.id) == b"{}"
    assert views.size == 2
