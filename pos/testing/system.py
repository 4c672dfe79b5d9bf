"""System programs that some tests need (Chromium, systemd-analyze, a PostgreSQL server).

The README's test command must pass on a fresh machine with only Python, so a test that needs a
Debian package skips there, saying which package. CI installs those packages (``.ci/run``) and
runs with ``CI=true``: there a missing program fails the test instead, so CI can never pass by
skipping what it was meant to run.
"""

from __future__ import annotations

import os
import shutil
from typing import NoReturn


def in_ci() -> bool:
    """True under CI (``CI=true``, as CI services and ``.ci/run`` set it)."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def system_tool(*names: str, package: str) -> str:
    """The path of the first of ``names`` on PATH; else skip the test (fail it under CI).

    ``package`` is the Debian package that provides it, named in the skip or failure message.
    """

    for name in names:
        found = shutil.which(name)
        if found:
            return found
    unavailable(f"{names[0]} is not installed (apt-get install {package}; .ci/run installs it)")


def unavailable(message: str) -> NoReturn:
    """Skip the test saying ``message`` (what is missing and how to get it); fail it under CI."""
    import pytest

    if in_ci():
        pytest.fail(f"CI=true: {message}", pytrace=False)
    pytest.skip(message)
    raise AssertionError("unreachable")  # pragma: no cover
