"""Fixtures for the till's tests: headless Chromium for the cashier's page.

``chromium`` is the shared ``browser`` fixture (tests/conftest.py) under the name the till's
tests use; the helper it once loaded from the manager's conftest moved there.
"""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def chromium(browser: Any) -> Any:
    """Headless Chromium driven over DevTools (see tests/conftest.py)."""
    return browser
