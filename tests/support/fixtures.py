"""Pytest fixtures for node tests; a conftest imports them with ``import *``."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from tests.support.nodes import NodeProcess

__all__ = ["kill_leftover_node_processes", "node_process"]


@pytest.fixture(autouse=True)
def kill_leftover_node_processes() -> Iterator[None]:
    """Whatever a test does, no node process it started outlives it."""
    yield
    NodeProcess.kill_leftovers()


@pytest.fixture
def node_process() -> Iterator[Callable[..., NodeProcess]]:
    """A factory: ``node_process(home, extra_args=(), url=None)`` -> a started NodeProcess."""
    started: list[NodeProcess] = []

    def start(home: Path, extra_args: Sequence[str] = (), url: str | None = None) -> NodeProcess:
        proc = NodeProcess(home, extra_args, url).start()
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.running:
            proc.kill()
