"""Fixtures for the till's tests: headless Chromium for the cashier's page.

The Browser (DevTools over a pipe) lives in tests/conftest.py (``browser``); ``chromium`` is the
name the till's tests know it by.
"""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def chromium(browser: Any) -> Any:
    """Headless Chromium (tests/conftest.py's ``browser``): skips without it, fails under CI."""
    return browser
