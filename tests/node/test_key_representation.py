"""One key representation inside node/: raw 32-byte keys; did:key text only at the edges.

The edges are where text comes in or goes out: HTTP handlers and pages (parsing a did in a
path, rendering one in JSON), the HTTP client (a peer's answers), the CLI, config, peers and
home files, the stored text columns of existing stores, and log lines (``node.keytext``).
Everywhere else a key is ``bytes`` (as ``Record.author`` is), so tables are keyed one way
and nothing converts back and forth.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NODE = ROOT / "node"
# Names that turn a key into did:key text or back.
CONVERSIONS = frozenset({"did_from_raw", "raw_from_did", "from_did"})
EDGE_PACKAGES = ("node/api/", "node/web/", "node/cli/")  # HTTP handlers, pages, commands
EDGE_MODULES = frozenset(
    {
        "node/config.py",  # config.toml (deny lists)
        "node/home.py",  # the home's identity file
        "node/federation/peersfile.py",  # peers.toml (pinned node keys)
        "node/transport.py",  # the HTTP client: peers' well-known documents
        "node/domains.py",  # the did:key text a domain serves as its proof
        "node/storage/keycolumns.py",  # text columns of existing stores (origin, peers)
        "node/keytext.py",  # keys in log lines and messages
        "node/ops/endpoints.py",  # the access log
        "node/ops/metrics.py",  # metric labels
    }
)


def key_text_uses(path: Path) -> list[str]:
    """Where ``path`` converts between raw keys and did:key text, with line numbers."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Name) and node.id in CONVERSIONS:
            found.append(f"line {node.lineno}: {node.id}")
        elif isinstance(node, ast.Attribute) and (node.attr in CONVERSIONS or node.attr == "did"):
            found.append(f"line {node.lineno}: .{node.attr}")
        elif isinstance(node, ast.ImportFrom):
            found += [
                f"line {node.lineno}: imports {a.name}" for a in node.names if a.name in CONVERSIONS
            ]
    return found


def is_edge(relative: str) -> bool:
    return relative.startswith(EDGE_PACKAGES) or relative in EDGE_MODULES


def test_did_text_only_at_the_edges() -> None:
    sources = {str(p.relative_to(ROOT)): p for p in sorted(NODE.rglob("*.py"))}
    assert len(sources) > 50
    inside = {rel: p for rel, p in sources.items() if not is_edge(rel)}
    assert "node/service.py" in inside and "node/federation/roster.py" in inside
    offenders = {rel: found for rel, p in inside.items() if (found := key_text_uses(p))}
    assert not offenders, (
        "did:key text inside node/ (keys are raw bytes; convert at the edge, log with "
        f"node.keytext.KeyText): {offenders}"
    )


def test_every_listed_edge_exists() -> None:
    missing = [m for m in EDGE_MODULES if not (ROOT / m).is_file()]
    assert not missing, f"edge modules listed but gone (update the list): {missing}"


def test_the_detector_sees_conversions(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from crypto import did_from_raw\n"
        "import crypto\n"
        "def f(key, raw):\n"
        "    a = key.public_key.did\n"
        "    b = crypto.raw_from_did('did:key:z')\n"
        "    c = crypto.PublicKey.from_did('did:key:z')\n"
        "    return did_from_raw(raw), a, b, c\n"
    )
    found = "\n".join(key_text_uses(sample))
    assert "imports did_from_raw" in found
    assert "line 4: .did" in found
    assert "line 5: .raw_from_did" in found
    assert "line 6: .from_did" in found
    assert "line 7: did_from_raw" in found
