"""Operations tests: real node processes, real SQLite files (see tests/support)."""

from tests.support.fixtures import *  # noqa: F403
