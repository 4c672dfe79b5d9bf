"""Fixtures for the till's tests: headless Chromium for the cashier's page.

The Browser (DevTools over a pipe) is the manager's tests' own
(``tests/till/manager/conftest.py``); it is loaded from there rather than copied,
since pytest's importlib mode has no test packages to import from.
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_spec = importlib.util.spec_from_file_location(
    "_till_manager_browser", Path(__file__).parent / "manager" / "conftest.py"
)
assert _spec and _spec.loader
_browser_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_browser_module)
CHROMIUM = _browser_module.CHROMIUM
Browser: Any = _browser_module.Browser


@pytest.fixture
def chromium() -> Iterator[Any]:
    """A headless Chromium driven over DevTools (see tests/till/manager/conftest.py)."""
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium; CI installs it)")
    profile = Path(tempfile.mkdtemp(prefix="pos-chromium-"))
    opened = Browser(profile)
    try:
        yield opened
    finally:
        opened.close()
        shutil.rmtree(profile, ignore_errors=True)
