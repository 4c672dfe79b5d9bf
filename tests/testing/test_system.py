"""pos.testing.system: a missing system program skips a test on a developer's box, fails it in CI."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pos.testing.system import in_ci, system_tool


def test_a_present_program_is_found(monkeypatch):
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))
    assert system_tool("no-such-program", Path(sys.executable).name, package="python3") == sys.executable


def test_a_missing_program_skips_off_ci_naming_the_package(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install pos-no-such-package"):
        system_tool("pos-no-such-program", package="pos-no-such-package")


@pytest.mark.parametrize("value", ["true", "1", "TRUE"])
def test_a_missing_program_fails_under_ci(monkeypatch, value):
    monkeypatch.setenv("CI", value)
    assert in_ci()
    with pytest.raises(pytest.fail.Exception, match="CI=true: pos-no-such-program is not installed"):
        system_tool("pos-no-such-program", package="pos-no-such-package")


def test_ci_false_is_not_ci(monkeypatch):
    monkeypatch.setenv("CI", "false")
    assert not in_ci()
