"""The tests' PostgreSQL is a real server: it runs SQL, keeps data across connections, and each
test gets its own database."""

from __future__ import annotations

import asyncpg


async def test_a_real_server_with_a_database_per_test(postgres_dsn: str) -> None:
    first = await asyncpg.connect(postgres_dsn)
    try:
        version = await first.fetchval("SHOW server_version_num")
        assert int(version) >= 130000
        await first.execute("CREATE TABLE t (id bytea PRIMARY KEY, n bigint NOT NULL)")
        await first.execute("INSERT INTO t VALUES ($1, $2)", b"\x01" * 32, 2**53 - 1)
    finally:
        await first.close()
    second = await asyncpg.connect(postgres_dsn)
    try:
        assert await second.fetchval("SELECT n FROM t WHERE id = $1", b"\x01" * 32) == 2**53 - 1
        assert await second.fetchval("SELECT current_database()") == postgres_dsn.rsplit("/", 1)[1]
    finally:
        await second.close()
