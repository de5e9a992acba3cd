"""Node tests: real nodes on 127.0.0.1 (see tests/support)."""

from tests.support.fixtures import *  # noqa: F403
