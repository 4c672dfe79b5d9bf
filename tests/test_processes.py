"""``pos.processes``: a process serves once it prints its URL; one that fails is named with its log's
last line; a group stops everything it started when a later start fails.

Small Python children stand in for ``pos`` commands (the real ones are started through this module
by tests/till/test_tills_processes.py, tests/listener/test_fleet.py and the chain demo's test)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pos.processes import Launch, PosProcess, ProcessFailed, ProcessGroup, pos_command

SERVES = "import sys, time; print('serving at http://127.0.0.1:4321/ now', flush=True); time.sleep(600)"
FAILS = "import sys; sys.stderr.write('starting\\npos: port 8700 is in use\\n'); sys.exit(1)"
SILENT = "import time; time.sleep(600)"


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_a_process_serves_when_it_prints_its_url_and_stops_on_sigterm(tmp_path: Path) -> None:
    with PosProcess(python(SERVES), name="a till", log=tmp_path / "till.log") as process:
        assert process.url == "http://127.0.0.1:4321"
        assert process.process.poll() is None
    assert process.process.returncode == -15  # SIGTERM, as systemd stops it


def test_a_process_that_exits_before_serving_is_named_with_its_last_log_line(tmp_path: Path) -> None:
    process = PosProcess(python(FAILS), name="till 7 (S04-02)", log=tmp_path / "till-7.log")
    with pytest.raises(ProcessFailed) as failed:
        process.wait_ready(60)
    message = str(failed.value)
    assert "till 7 (S04-02) exited (1)" in message
    assert "pos: port 8700 is in use" in message and "starting" not in message
    assert str(tmp_path / "till-7.log") in message


def test_a_process_that_never_serves_fails_at_the_timeout_and_is_stopped(tmp_path: Path) -> None:
    with ProcessGroup() as group, pytest.raises(ProcessFailed, match=r"silent did not serve within 0\.2 s"):
        group.start(python(SILENT), name="silent", log=tmp_path / "silent.log", timeout=0.2)
    assert all(process.process.poll() is not None for process in group.processes)


def test_a_failed_start_stops_every_process_the_group_had_started(tmp_path: Path) -> None:
    launches = [Launch(python(SERVES), f"till {n}", tmp_path / f"till-{n}.log") for n in range(3)]
    launches.append(Launch(python(FAILS), "till 3", tmp_path / "till-3.log"))
    launches.append(Launch(python(SERVES), "till 4", tmp_path / "till-4.log"))
    with pytest.raises(ProcessFailed, match="till 3 exited"), ProcessGroup() as group:
        group.start_all(launches, batch=2, timeout=60)
    started = group.processes
    assert [p.name for p in started] == ["till 0", "till 1", "till 2", "till 3"]  # batch 3 never began
    assert [p.url for p in started[:3]] == ["http://127.0.0.1:4321"] * 3
    assert all(process.process.poll() is not None for process in started)  # none left running


def test_pos_command_runs_this_interpreter_on_a_free_port(tmp_path: Path) -> None:
    config = tmp_path / "pos.toml"
    assert pos_command(config, "till") == [
        sys.executable,
        "-m",
        "pos.cli",
        "--config",
        str(config),
        "till",
        "--port",
        "0",
    ]
    assert pos_command(None, "sim", "--mch-id=1") == [
        sys.executable,
        "-m",
        "pos.cli",
        "sim",
        "--port",
        "0",
        "--mch-id=1",
    ]
