"""Federation tests with real node processes on 127.0.0.1 (see tests/support/federation.py)."""

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.support.federation import ENGINE, Api, http_session
from tests.support.fixtures import *  # noqa: F403
from tests.support.nodes import NodeProcess


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    """Plain HTTP access to the nodes of a test."""
    async with http_session() as session:
        yield Api(session)


@pytest.fixture(params=["sqlite", "postgresql"])
def federation_engine(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run a federation test twice: nodes on SQLite files, then nodes on PostgreSQL of two
    worker processes each (``run --workers 2``: one leads the federation, both serve).

    A module opts in with ``pytestmark = pytest.mark.usefixtures("federation_engine")``."""
    if request.param == "postgresql":
        ENGINE.server_dsn = request.getfixturevalue("postgres_server_dsn")
        NodeProcess.postgres_workers = 2
    try:
        yield request.param
    finally:
        ENGINE.server_dsn = None
        NodeProcess.postgres_workers = 1
