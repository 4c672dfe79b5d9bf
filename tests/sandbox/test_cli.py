"""``pos sim`` as a real subprocess: it prints where it listens and whom it accepts, and serves."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from types import SimpleNamespace

import requests

from pos.config import DEMO_API_KEY, DEMO_APPID, DEMO_MCH_ID


def start(*args: str) -> tuple[subprocess.Popen, list[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "pos.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    assert proc.stdout is not None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if line.startswith("Ctrl-C"):
            break
    return proc, lines


def stop(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_pos_sim_prints_url_and_identity_and_serves(api):
    proc, lines = start("sim", "--port", "0", "--time-scale", "0.001")
    try:
        text = "\n".join(lines)
        match = re.search(r"simulator at (http://127\.0\.0\.1:\d+)", text)
        assert match, text
        base = match.group(1)
        for value in (DEMO_APPID, DEMO_MCH_ID, DEMO_API_KEY, "HMAC-SHA256", "/_sim/phone"):
            assert value in text
        remote = SimpleNamespace(base_url=base, appid=DEMO_APPID, mch_id=DEMO_MCH_ID, api_key=DEMO_API_KEY)
        answer = api.call(remote, "/pay/unifiedorder", api.order_fields())
        assert answer["result_code"] == "SUCCESS" and answer["code_url"].startswith("weixin://")
    finally:
        assert stop(proc) == 0


def test_pos_sim_takes_identity_from_config_and_flags(tmp_path):
    config = tmp_path / "pos.toml"
    config.write_text('[merchant]\nappid = "wxconfigappid00001"\nmch_id = "1900000109"\n', encoding="utf-8")
    proc, lines = start(
        "sim", "--config", str(config), "--port", "0", "--api-key", "k" * 32, "--v3-sign-with", "certificate"
    )
    try:
        text = "\n".join(lines)
        assert "wxconfigappid00001" in text and "1900000109" in text and "k" * 32 in text
        base = re.search(r"simulator at (\S+)", text).group(1)
        identity = requests.get(base + "/_sim/", timeout=5).json()
        assert identity["mch_id"] == "1900000109"
        assert f"v3 signs   with platform certificate {identity['platform_serial_no']}" in text
    finally:
        stop(proc)


def test_global_config_option_still_works(tmp_path):
    config = tmp_path / "pos.toml"
    config.write_text('[merchant]\nmch_id = "1900000110"\n', encoding="utf-8")
    proc, lines = start("--config", str(config), "sim", "--port", "0")
    try:
        assert "1900000110" in "\n".join(lines)
    finally:
        stop(proc)


def test_pos_sim_refuses_a_bad_time_scale():
    result = subprocess.run(
        [sys.executable, "-m", "pos.cli", "sim", "--time-scale", "0"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2 and "--time-scale" in result.stdout


def test_sim_on_a_busy_port_says_so_in_one_line_and_writes_no_state(tmp_path, busy_port, run_pos):
    state = tmp_path / "sim.json"
    result = run_pos("sim", "--port", str(busy_port), "--state", str(state), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == f"pos: port {busy_port} is in use (use --port)\n"
    assert result.stdout == ""
    assert list(tmp_path.iterdir()) == []


def test_pos_sim_serves_a_chain_that_keeps_more_than_a_hundred_connections_open():
    """A chain's tills and customers each keep a connection to the simulator; waitress's default
    stops accepting at 100 and left the 101st request unanswered for minutes (issue #14)."""
    proc, lines = start("sim", "--port", "0")
    held: list[socket.socket] = []
    try:
        base = re.search(r"simulator at (http://127\.0\.0\.1:(\d+))", "\n".join(lines))
        assert base, lines
        for _ in range(150):  # open and idle, as a till's keep-alive connection between sales
            held.append(socket.create_connection(("127.0.0.1", int(base.group(2))), timeout=5))
        answer = requests.get(base.group(1) + "/_sim/", timeout=10)
        assert answer.status_code == 200 and answer.json()["mch_id"] == DEMO_MCH_ID
    finally:
        for connection in held:
            connection.close()
        assert stop(proc) == 0
