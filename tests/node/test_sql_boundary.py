"""Only node/storage/ issues SQL: the rest of the node calls the storage interface."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STORAGE = ROOT / "node" / "storage"
SQL = re.compile(
    r"^\s*(SELECT|INSERT|UPDATE|DELETE|REPLACE|CREATE|DROP|ALTER|PRAGMA|BEGIN|COMMIT|ROLLBACK"
    r"|WITH)\b|\b(FROM|INTO|WHERE|SET)\s+\w+\s*(WHERE|VALUES|=|\(|$)",
)
ENGINES = frozenset({"sqlite3", "aiosqlite", "asyncpg", "psycopg"})
CALLS = frozenset({"execute", "executemany", "executescript", "execute_fetchall", "fetchall"})


def sql_outside_storage(path: Path) -> list[str]:
    """What in ``path`` looks like SQL or a database driver call, with line numbers."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if SQL.search(node.value):
                found.append(f"line {node.lineno}: SQL text {node.value[:60]!r}")
        elif isinstance(node, ast.Import):
            found += [
                f"line {node.lineno}: imports {a.name}"
                for a in node.names
                if a.name.split(".")[0] in ENGINES
            ]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] in ENGINES:
                found.append(f"line {node.lineno}: imports {node.module}")
        elif isinstance(node, ast.Attribute) and node.attr in CALLS:
            found.append(f"line {node.lineno}: calls .{node.attr}")
    return found


def test_only_node_storage_issues_sql() -> None:
    sources = [p for p in sorted((ROOT / "node").rglob("*.py")) if STORAGE not in p.parents]
    assert len(sources) > 20
    offenders = {
        str(p.relative_to(ROOT)): found for p in sources if (found := sql_outside_storage(p))
    }
    assert not offenders, f"SQL outside node/storage/ (add a storage method): {offenders}"


def test_the_detector_sees_sql(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import aiosqlite\n"
        "async def f(db):\n"
        "    await db.execute_fetchall('SELECT id FROM records WHERE seq > ?', (1,))\n"
        "    await db.execute(\n        'UPDATE peers SET cursor = ? WHERE url = ?', (1, 'u'))\n"
        "    q = ' INSERT OR IGNORE INTO peers (url) VALUES (?)'\n"
    )
    found = "\n".join(sql_outside_storage(sample))
    assert "imports aiosqlite" in found
    assert "SELECT id FROM records" in found
    assert "UPDATE peers" in found
    assert "INSERT OR IGNORE" in found
    assert ".execute_fetchall" in found
    assert sql_outside_storage(STORAGE / "peers.py"), "the detector misses the SQL in peers.py"
