"""Federation tests with real node processes on 127.0.0.1 (see tests/support/federation.py)."""

from collections.abc import AsyncIterator

import pytest

from tests.support.federation import Api, http_session
from tests.support.fixtures import *  # noqa: F403


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    """Plain HTTP access to the nodes of a test."""
    async with http_session() as session:
        yield Api(session)
