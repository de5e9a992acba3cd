"""HTTP handlers see the federation only through the narrow app keys of ``node/api/keys.py``
(``PEER_TABLE``, ``CONTACTED``), never the ``Federation`` object: only ``api/app.py``, which
builds the application, holds it."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HANDLERS = [*(ROOT / "node" / "api").glob("*.py"), *(ROOT / "node" / "web").glob("*.py")]
BUILDER = ROOT / "node" / "api" / "app.py"


def federation_uses(path: Path) -> list[str]:
    """Where ``path`` imports the federation's manager or reads a ``FEDERATION`` key."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module == "node.federation.manager":
            found.append(f"line {node.lineno}: imports node.federation.manager")
        elif isinstance(node, ast.Name) and node.id == "FEDERATION":
            found.append(f"line {node.lineno}: FEDERATION")
    return found


def test_handlers_do_not_get_the_federation_object() -> None:
    assert len(HANDLERS) > 10  # the modules were found
    assert federation_uses(BUILDER)  # the check sees an import where there is one
    offenders = {
        str(path.relative_to(ROOT)): uses
        for path in HANDLERS
        if path != BUILDER and (uses := federation_uses(path))
    }
    assert offenders == {}
