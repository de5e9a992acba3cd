"""Attack tests: real node processes on 127.0.0.1, attacked in bounded loops."""

from tests.support.fixtures import *  # noqa: F403
