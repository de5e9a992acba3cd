"""Layering: crypto <- protocol <- node, no import cycles; crypto and protocol are pure (no I/O
stack, no node, no clock); node uses protocol through its public face."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PURE_PACKAGES = ("crypto", "protocol")
FORBIDDEN = frozenset({"asyncio", "aiohttp", "aiosqlite", "sqlite3", "socket", "node"})
CLOCK_FUNCTIONS = frozenset(
    {
        "time",
        "time_ns",
        "monotonic",
        "monotonic_ns",
        "perf_counter",
        "perf_counter_ns",
        "now",
        "utcnow",
        "today",
        "localtime",
        "gmtime",
        "ctime",
    }
)
CLOCK_TEXT = (
    "time.time(",
    "time.time_ns(",
    "time.monotonic(",
    "datetime.now(",
    ".utcnow(",
    "date.today(",
)


def _sources(package: str) -> list[Path]:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"no sources found under {package}/"
    return files


def _module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _dynamic_import(call: ast.Call) -> bool:
    """``__import__("x")`` or ``importlib.import_module("x")`` with a literal name."""
    func = call.func
    named = (isinstance(func, ast.Name) and func.id == "__import__") or (
        isinstance(func, ast.Attribute) and func.attr == "import_module"
    )
    return (
        named
        and bool(call.args)
        and isinstance(call.args[0], ast.Constant)
        and isinstance(call.args[0].value, str)
    )


def _imported_roots(path: Path, root: Path = ROOT) -> set[str]:
    """The top-level names of every module ``path`` imports (relative imports resolved)."""
    package = _module_name(path, root).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = [*base, *(node.module.split(".") if node.module else [])]
                if target:
                    roots.add(target[0])
                else:  # from .. import x, where .. is the top: x is itself a top-level module
                    roots.update(alias.name for alias in node.names)
            elif node.module:
                roots.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and _dynamic_import(node):
            roots.add(node.args[0].value.split(".")[0])
    return roots


ALL_SOURCES = [path for package in PURE_PACKAGES for path in _sources(package)]


@pytest.mark.parametrize("path", ALL_SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_io_stack_or_node_imports(path: Path) -> None:
    bad = _imported_roots(path) & FORBIDDEN
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


@pytest.mark.parametrize("path", _sources("crypto"), ids=lambda p: str(p.relative_to(ROOT)))
def test_crypto_imports_nothing_of_protocol(path: Path) -> None:
    assert "protocol" not in _imported_roots(path)


def test_import_walker_sees_imports() -> None:
    """The walker itself: it finds the imports these packages are known to make."""
    assert "msgpack" in _imported_roots(ROOT / "protocol" / "encoding.py")
    assert "crypto" in _imported_roots(ROOT / "protocol" / "record.py")
    assert "cryptography" in _imported_roots(ROOT / "crypto" / "keys.py")


def test_import_walker_sees_every_form_of_import(tmp_path: Path) -> None:
    package = tmp_path / "protocol"
    package.mkdir()
    sample = package / "sample.py"
    sample.write_text(
        "import os.path\nfrom socket import socket\nfrom . import record\n"
        "from .. import node\n__import__('asyncio')\n"
        "import importlib\nimportlib.import_module('sqlite3.dbapi2')\n"
    )
    roots = _imported_roots(sample, tmp_path)
    assert {"os", "socket", "protocol", "node", "asyncio", "sqlite3", "importlib"} <= roots


def _clock_reads(path: Path) -> list[str]:
    source = path.read_text(encoding="utf-8")
    found = [text for text in CLOCK_TEXT if text in source]
    for node in ast.walk(ast.parse(source, filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module in ("time", "datetime"):
            found += [
                f"from {node.module} import {a.name}"
                for a in node.names
                if a.name in CLOCK_FUNCTIONS
            ]
        elif isinstance(node, ast.Attribute) and node.attr in CLOCK_FUNCTIONS:
            root = node.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id in ("time", "datetime", "date", "_time"):
                found.append(f"{ast.unparse(node)} (line {node.lineno})")
    return found


@pytest.mark.parametrize("path", ALL_SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_clock_reads(path: Path) -> None:
    reads = _clock_reads(path)
    assert not reads, f"{path.relative_to(ROOT)} reads the clock: {reads}"


def test_clock_detector_sees_clock_reads(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import time\nimport datetime\nfrom time import monotonic\n"
        "a = time.time()\nb = datetime.datetime.now()\nc = time.time_ns\n"
    )
    found = _clock_reads(sample)
    assert any("time.time" in f for f in found)
    assert any("datetime.datetime.now" in f for f in found)
    assert any("monotonic" in f for f in found)
    assert any("time_ns" in f for f in found)


def _run_imports(modules: list[str]) -> set[str]:
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def test_importing_every_pure_module_loads_no_io_stack() -> None:
    modules = [_module_name(path) for path in ALL_SOURCES]
    assert "protocol.validate" in modules and "crypto.keys" in modules
    loaded = _run_imports(modules)
    assert set(modules) <= loaded
    bad = {name for name in loaded if name.split(".")[0] in FORBIDDEN}
    assert not bad, f"importing crypto and protocol loads {sorted(bad)}"


def test_importing_crypto_loads_nothing_of_protocol() -> None:
    modules = [_module_name(path) for path in _sources("crypto")]
    loaded = _run_imports(modules)
    assert set(modules) <= loaded
    assert not {name for name in loaded if name.split(".")[0] in FORBIDDEN | {"protocol"}}


def _module_graph(packages: tuple[str, ...]) -> dict[str, set[str]]:
    """Module -> the modules of ``packages`` it imports when it is imported (module level, not
    under ``if TYPE_CHECKING``, not inside functions)."""
    known = {_module_name(p) for package in packages for p in _sources(package)}
    graph: dict[str, set[str]] = {}
    for package in packages:
        for path in _sources(package):
            name = _module_name(path)
            base = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
            edges: set[str] = set()
            for stmt in ast.parse(path.read_text(encoding="utf-8")).body:
                if isinstance(stmt, ast.Import):
                    targets = [a.name for a in stmt.names]
                elif isinstance(stmt, ast.ImportFrom):
                    module = stmt.module or ""
                    if stmt.level:
                        module = ".".join([*base[: len(base) - stmt.level + 1], module]).strip(".")
                    targets = [module] + [f"{module}.{a.name}" for a in stmt.names]
                else:
                    continue
                edges.update(t for t in targets if t in known and t != name)
            graph[name] = edges
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle in ``graph``, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def _parent_edge(a: str, b: str) -> bool:
    """``a`` is a package whose ``__init__`` imports its own submodule ``b`` (its public face)."""
    return b.startswith(a + ".")


def test_import_graph_has_no_cycles() -> None:
    graph = _module_graph(("crypto", "protocol", "node"))
    assert len(graph) > 60
    # a package's __init__ importing its submodules is how its face is built: Python imports
    # the package first anyway, so those edges are not the cycles that break an import
    acyclic = {m: {t for t in edges if not _parent_edge(m, t)} for m, edges in graph.items()}
    assert _cycle(acyclic) is None, f"import cycle: {' -> '.join(_cycle(acyclic) or [])}"


def test_layers_run_one_way() -> None:
    graph = _module_graph(("crypto", "protocol", "node"))
    order = {"crypto": 0, "protocol": 1, "node": 2}
    upward = [
        f"{m} -> {t}"
        for m, edges in graph.items()
        for t in edges
        if order[t.split(".")[0]] > order[m.split(".")[0]]
    ]
    assert not upward, f"imports against the layering crypto <- protocol <- node: {upward}"


def test_the_cycle_finder_finds_cycles() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_node_uses_the_public_face_of_protocol() -> None:
    """node/ imports ``from protocol import ...`` only: add what it needs to protocol's __all__."""
    import protocol

    reaching: list[str] = []
    for path in _sources("node"):
        for stmt in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(stmt, ast.ImportFrom) and stmt.module and stmt.level == 0:
                if stmt.module.startswith("protocol."):
                    reaching.append(f"{path.relative_to(ROOT)}: from {stmt.module}")
                elif stmt.module == "protocol":
                    missing = [a.name for a in stmt.names if a.name not in protocol.__all__]
                    reaching += [f"{path.relative_to(ROOT)}: {n} not in __all__" for n in missing]
            elif isinstance(stmt, ast.Import):
                reaching += [
                    f"{path.relative_to(ROOT)}: import {a.name}"
                    for a in stmt.names
                    if a.name.startswith("protocol.")
                ]
    assert not reaching, reaching
