"""Shared test helpers: the conformance vectors, read from ``tests/vectors`` beside this file.

A test that takes one of the arguments of ``VECTOR_PARAMETERS`` runs once per entry of the
vector list(s) named there; the ``vectors`` fixture gives both files whole.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytest

VECTORS_DIR = Path(__file__).resolve().parent / "vectors"
PROTOCOL_VECTORS = "protocol-v1.json"
STANDARD_VECTORS = "standards.json"
DAY_MS = 86_400_000

# test argument -> the (file, list) pairs whose entries it is parametrized over
VECTOR_PARAMETERS: dict[str, tuple[tuple[str, str], ...]] = {
    "valid_vector": ((PROTOCOL_VECTORS, "valid"),),
    "invalid_vector": ((PROTOCOL_VECTORS, "invalid"),),
    "invalid_key_hex": ((PROTOCOL_VECTORS, "invalid_keys"),),
    "did_key_vector": ((STANDARD_VECTORS, "did_key_ed25519"), (PROTOCOL_VECTORS, "did_key")),
    "rfc8032_vector": ((STANDARD_VECTORS, "rfc8032_ed25519"),),
}


@functools.cache
def load_vectors(file_name: str) -> Any:
    return json.loads((VECTORS_DIR / file_name).read_text(encoding="utf-8"))


def _entry_id(list_name: str, index: int, entry: Any) -> str:
    if isinstance(entry, dict):
        label = entry.get("name") or entry.get("test") or entry.get("did")
        if label is not None:
            return f"{list_name}:{label}"
    return f"{list_name}[{index}]"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    for arg, sources in VECTOR_PARAMETERS.items():
        if arg not in metafunc.fixturenames:
            continue
        values, ids = [], []
        for file_name, list_name in sources:
            entries = load_vectors(file_name)[list_name]
            assert entries, f"{file_name} has no {list_name} vectors"
            for i, entry in enumerate(entries):
                values.append(entry)
                ids.append(_entry_id(list_name, i, entry))
        metafunc.parametrize(arg, values, ids=ids)


@pytest.fixture(scope="session")
def vectors() -> dict[str, Any]:
    """Both vector files: ``vectors["protocol"]`` and ``vectors["standards"]``."""
    return {"protocol": load_vectors(PROTOCOL_VECTORS), "standards": load_vectors(STANDARD_VECTORS)}


@pytest.fixture(scope="session")
def vector_now_ms() -> int:
    """A fixed clock for the vectors: one day after the latest ``created`` of the valid ones."""
    from protocol.encoding import decode

    created = [
        decode(bytes.fromhex(v["record_hex"]))["created"]
        for v in load_vectors(PROTOCOL_VECTORS)["valid"]
    ]
    return max(created) + DAY_MS


@pytest.fixture(scope="session")
def postgres_server_dsn() -> Any:
    """A real PostgreSQL server for the whole session (tests/support/postgres.py)."""
    from tests.support.postgres import postgres_server

    with postgres_server() as dsn:
        yield dsn


@pytest.fixture
async def postgres_dsn(postgres_server_dsn: str) -> Any:
    """A fresh, empty database on the session's server, dropped after the test."""
    import asyncpg

    from tests.support.postgres import database_dsn, new_database_name

    name = new_database_name()
    admin = await asyncpg.connect(postgres_server_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield database_dsn(postgres_server_dsn, name)
    admin = await asyncpg.connect(postgres_server_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Each storage engine in turn (tests/support/stores.py): the same test runs on both."""
    from tests.support.stores import Engine

    server = request.getfixturevalue("postgres_server_dsn") if request.param != "sqlite" else None
    return Engine(request.param, tmp_path_factory.mktemp("store"), server)
