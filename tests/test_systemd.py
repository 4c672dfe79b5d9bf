"""The shipped systemd units are valid and keep the hardening the README promises."""

from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

import pytest

from pos.testing.system import system_tool

UNITS = Path(__file__).resolve().parent.parent / "systemd"
INSTALLED_POS = "/opt/pos/venv/bin/pos"


def unit_files() -> list[Path]:
    return sorted(p for p in UNITS.iterdir() if p.suffix in (".service", ".timer"))


def read_unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment, method-assign]
    parser.read_string(path.read_text(encoding="utf-8"))
    return parser


def test_units_exist() -> None:
    names = {p.name for p in unit_files()}
    assert {"pos-till.service", "pos-listener.service"} <= names


@pytest.mark.parametrize("path", [p for p in unit_files() if p.suffix == ".service"], ids=lambda p: p.name)
def test_service_hardening(path: Path) -> None:
    service = read_unit(path)["Service"]
    assert service["User"] == "pos"
    assert service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict"
    assert service["ReadWritePaths"] == "/var/lib/pos"
    assert service["PrivateTmp"] == "yes"
    assert service["Restart"] == "on-failure"
    assert service["LoadCredential"].startswith("api_key:")
    assert service["ExecStart"].startswith(INSTALLED_POS + " ")


def test_only_the_till_reaches_printers() -> None:
    till = read_unit(UNITS / "pos-till.service")["Service"]
    listener = read_unit(UNITS / "pos-listener.service")["Service"]
    assert till["SupplementaryGroups"].split() == ["lp", "dialout"]
    assert "SupplementaryGroups" not in listener
    assert listener["PrivateDevices"] == "yes"


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    """`systemd-analyze verify` on the units, with ExecStart pointing at this venv's `pos`
    (verify checks that the program exists; the installed path does not exist here)."""
    analyze = system_tool("systemd-analyze", package="systemd")
    pos = Path(sys.executable).parent / "pos"
    assert pos.exists(), "pip install -e . puts `pos` beside the interpreter"
    copies = []
    for path in unit_files():
        copy = tmp_path / path.name
        copy.write_text(path.read_text(encoding="utf-8").replace(INSTALLED_POS, str(pos)), encoding="utf-8")
        copies.append(str(copy))
    result = subprocess.run(
        [analyze, "verify", "--man=no", *copies], capture_output=True, text=True, cwd=tmp_path
    )
    problems = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        # verify also lints units it pulls in from the host; only ours matter here.
        if any(Path(c).name in line for c in copies)
    ]
    assert result.returncode == 0 and not problems, result.stdout + result.stderr
