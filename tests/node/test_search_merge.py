"""The full-text index stays compact under a stream of new opportunity versions."""

from __future__ import annotations

from pathlib import Path

import pytest

from crypto import SigningKey
from node.storage import store as store_module
from node.storage.queries import OpportunityFilter
from node.storage.store import Store
from tests.support import opportunity

START = 1_760_000_000_000  # fixed: both stores hold the same records


async def _fill(path: Path) -> tuple[int, set[bytes]]:
    """300 versions of 30 opportunities, one transaction each; (index rows, search answer)."""
    key = SigningKey.from_seed(b"\x61" * 32)
    store = await Store.open(path)
    try:
        start = START
        for n in range(300):
            record = opportunity(key, start + n, slug=f"s{n % 30}", title=f"Builder {n}")
            await store.add([record], start + n)
        (rows,) = await store.reader.execute_fetchall(
            "SELECT count(*) FROM opportunity_search_data"
        )
        found = await store.list_opportunities(OpportunityFilter(q="builder"), None, 100)
        return int(rows[0]), {row.id for row in found}
    finally:
        await store.close()


async def test_merging_keeps_the_index_small_and_the_answers_equal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "SEARCH_MERGE_EVERY", 10**9)
    unmerged, answer = await _fill(tmp_path / "unmerged.db")
    monkeypatch.setattr(store_module, "SEARCH_MERGE_EVERY", 50)
    merged, same = await _fill(tmp_path / "merged.db")
    print(f"\nfull-text index rows after 300 versions: {unmerged} unmerged, {merged} merged")
    assert same == answer and len(answer) == 30
    assert merged * 2 < unmerged
