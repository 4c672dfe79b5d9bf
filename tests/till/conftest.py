"""Fixtures for the till's tests: headless Chromium for the cashier's page.

The Browser (DevTools over a pipe) is the root conftest's (``tests/conftest.py``); this
file only gives it the name the till's tests use.
"""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def chromium(browser: Any) -> Any:
    """A headless Chromium driven over DevTools (skips or fails as ``browser`` does)."""
    return browser
