"""``pos demo --database URL --auto``: the chain demo as a user runs it, a real subprocess with six
tills, two ``pos listen`` processes and the simulator, on SQLite and on PostgreSQL; and with
``--api v3`` on PostgreSQL (every till orders and both listeners verify notices on v3)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from pos import config as pos_config


def run_chain_demo(directory: Path, database_url: str, *options: str) -> str:
    """``pos demo --database URL --auto [options]``; asserts it exited 0 with every lane paid once,
    half by notice and half by the tills' own queries, each slip on its own till; its stdout."""
    command = [sys.executable, "-m", "pos.cli", "demo", "--dir", str(directory), "--database", database_url]
    command += ["--sim-port", "0", "--sim-tls-port", "0", "--auto", *options]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=240, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    summary = out[out.index("chain shift summary:") :].splitlines()[1:]
    sale_lines = [line for line in summary if "-2" in line and "paid via" in line]
    assert len(sale_lines) == 6, out
    assert all(line.strip().startswith("ok ") for line in sale_lines), out
    assert sum("paid via notice" in line for line in sale_lines) == 3  # three by the listeners' notices
    assert sum("the till's query" in line for line in sale_lines) == 3  # three found by the tills
    assert "0 still queued" in out
    stores_and_lanes = {line.split()[1][:6] for line in sale_lines}
    assert stores_and_lanes == {f"S0{s}-0{lane}" for s in (1, 2, 3) for lane in (1, 2)}
    for config in (directory / "chain").glob("*.toml"):  # the API key and the database URL are in them
        assert stat.S_IMODE(config.stat().st_mode) == 0o600, config
    return out


@pytest.mark.timeout(300)
def test_chain_demo_pays_every_lane_once_and_prints_each_slip_on_its_own_till(tmp_path, database_url):
    out = run_chain_demo(tmp_path / "chain-demo", database_url)
    assert "WeChat Pay API v2" in out


@pytest.mark.timeout(300)
@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_chain_demo_on_api_v3_pays_every_lane_once_through_v3_notices(tmp_path, database_url):
    directory = tmp_path / "chain-demo"
    out = run_chain_demo(directory, database_url, "--api", "v3")
    assert "WeChat Pay API v3" in out
    configs = sorted((directory / "chain").glob("*.toml"))
    assert len(configs) == 7  # six tills and the listeners'
    for path in configs:  # each process read v3 from its own config, as a real chain's would
        assert pos_config.load(path).merchant.api == "v3", path
    assert "Traceback" not in "".join(p.read_text() for p in directory.glob("listen-*.log"))


def test_chain_demo_hides_the_database_password_in_its_banner():
    from pos.demo.chain import _without_password

    shown = _without_password("postgresql://pos:s3cret@db.example:5432/pos")
    assert shown == "postgresql://pos:***@db.example:5432/pos"
    assert "s3cret" not in shown
    assert _without_password("sqlite:////var/lib/pos/pos.sqlite3") == "sqlite:////var/lib/pos/pos.sqlite3"
