"""Pytest fixtures for browser tests; a conftest brings them in with ``import *``."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.support.browser import Browser

__all__ = ["browser", "browser_factory"]


@pytest.fixture
def browser_factory() -> Iterator[Callable[..., Browser]]:
    """``browser_factory(accept_language="ja")`` -> a new Browser; each is closed at teardown
    and must not have logged a console error."""
    made: list[Browser] = []

    def make(**kwargs: object) -> Browser:
        b = Browser(**kwargs)  # type: ignore[arg-type]
        made.append(b)
        return b

    yield make
    try:
        for b in made:
            b.check_no_console_errors()
    finally:
        for b in made:
            b.close()


@pytest.fixture
def browser(browser_factory: Callable[..., Browser]) -> Browser:
    """A headless Chromium (English); console errors fail the test."""
    return browser_factory()
