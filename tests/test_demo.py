"""``pos demo`` as a newcomer runs it: a real subprocess, real ports on loopback, files in a folder.

The demo writes its ports into its own config (the listener's notify_url, the simulator's
api_base), so ``--*-port 0`` must pick the ports before the config is written; one test runs it
that way, the others on free ports picked here and checked against the banner.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
import requests


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def demo(directory: Path, *args: str, ports: list[int] | None = None) -> subprocess.Popen:
    till, listener, sim, sim_tls = ports or free_ports(4)
    command = [sys.executable, "-m", "pos.cli", "demo", "--dir", str(directory)]
    command += ["--till-port", str(till), "--listener-port", str(listener), "--sim-port", str(sim)]
    command += ["--sim-tls-port", str(sim_tls), *args]
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def banner_urls(lines: list[str]) -> dict[str, str]:
    """The banner's "name   http://..." lines as {name: url}."""
    urls = {}
    for line in lines:
        if "http://" in line:
            name, _, rest = line.strip().partition("http://")
            urls[name.strip()] = "http://" + rest.split()[0]
    return urls


def test_auto_runs_a_shift_prints_a_summary_and_exits_0(tmp_path):
    ports = free_ports(4)
    process = demo(tmp_path / "shop", "--auto", ports=ports)
    try:
        out, err = process.communicate(timeout=90)
    finally:
        process.kill()
    assert process.returncode == 0, out + err
    assert "Traceback" not in err
    urls = banner_urls(out.splitlines())
    assert urls["cashier's page"] == f"http://127.0.0.1:{ports[0]}/"
    assert urls["listener"] == f"http://127.0.0.1:{ports[1]}/wechatpay/notify"
    assert urls["WeChat simulator"] == f"http://127.0.0.1:{ports[2]}/"
    assert "appid=wx2421b1c4370ec43b" in out and "sign_type=MD5" in out

    summary = out[out.index("shift summary:") :].splitlines()
    steps = [line.split() for line in summary if line.startswith("  ok ") or line.startswith("  BAD")]
    assert all(step[0] == "ok" for step in steps), summary
    states = [step[2] for step in steps]
    assert states == ["PAID", "PARTLY_REFUNDED", "PAID", "VOIDED", "EXPIRED", "PAID"], summary
    assert "0 still queued" in out
    [reconciled] = [line for line in summary if "reconciliation" in line]
    assert "对账相符" in reconciled, reconciled  # the shift matches the simulator's bill

    # What the summary says was printed is on disk, bytes and pictures.
    jobs = [
        json.loads(line) for line in (tmp_path / "shop" / "printer" / "jobs.jsonl").read_text().splitlines()
    ]
    assert {"sale_slip", "confirmation", "void_notice", "expired_notice", "refund_slip"} <= {
        j["kind"] for j in jobs
    }
    for job in jobs:
        assert (tmp_path / "shop" / "printer" / job["bin"]).stat().st_size == job["bytes"]
        assert (tmp_path / "shop" / "printer" / job["png"]).exists()
    assert (tmp_path / "shop" / "pos.toml").stat().st_mode & 0o777 == 0o600  # it holds the API key


def test_the_demo_config_holds_secrets_and_is_written_0600(tmp_path):
    from pos.demo import set_demo_manager_password, write_demo_config

    old_umask = os.umask(0o022)  # a usual login shell's: new files world-readable unless told
    try:
        stale = tmp_path / "again"
        stale.mkdir()
        (stale / "pos.toml").write_text("# an older demo's\n", encoding="utf-8")
        (stale / "pos.toml").chmod(0o644)
        ports = {"till_port": 1, "listener_port": 2, "sim_port": 3, "sim_tls_port": 4, "language": "zh-CN"}
        for directory in (tmp_path / "fresh", stale):
            path = write_demo_config(directory, **ports)
            assert path.stat().st_mode & 0o777 == 0o600
            assert "api_key" in path.read_text(encoding="utf-8")
            set_demo_manager_password(path)  # rewrites it with the password hash: still 0600
            assert path.stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(old_umask)


def test_auto_on_ports_picked_by_the_system_includes_a_mode_one_label(tmp_path):
    process = demo(tmp_path / "shop", "--auto", ports=[0, 0, 0, 0])
    try:
        out, err = process.communicate(timeout=90)
    finally:
        process.kill()
    assert process.returncode == 0, out + err
    urls = banner_urls(out.splitlines())
    ports = {name: int(url.split(":")[2].split("/")[0]) for name, url in urls.items() if "127.0.0.1" in url}
    assert len(ports) >= 4 and 0 not in ports.values()  # the banner names the ports really bound
    config = tomllib.loads((tmp_path / "shop" / "pos.toml").read_text(encoding="utf-8"))
    assert config["merchant"]["notify_url"] == f"http://127.0.0.1:{ports['listener']}/wechatpay/notify"
    api_port = int(config["merchant"]["api_base"].rsplit(":", 1)[1])  # the simulator's HTTPS port
    assert api_port not in (0, ports["WeChat simulator"]) and config["merchant"]["cert_file"]
    [line] = [line for line in out.splitlines() if "mode one" in line]
    assert line.split()[:1] == ["ok"] and " PAID " in line


def test_interactive_demo_serves_the_three_urls_and_stops_on_sigterm(tmp_path):
    ports = free_ports(4)
    process = demo(tmp_path / "shop", ports=ports)
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 30
        while not any("sign_type=" in line for line in lines) and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
        urls = banner_urls(lines)
        assert set(urls) >= {"cashier's page", "customer's phone", "listener", "WeChat simulator"}, lines

        with requests.Session() as http:
            page = http.get(urls["cashier's page"], timeout=10)
            assert page.status_code == 200 and "拿铁" in page.text
            assert 'id="qr-link"' in page.text  # the demo shows the weixin:// link under the QR
            phone = http.get(urls["customer's phone"], timeout=10)
            assert phone.status_code == 200
            listener_base = urls["listener"].removesuffix("/wechatpay/notify")
            assert http.get(listener_base + "/healthz", timeout=10).text == "ok\n"
            # Served as `pos listen` is: more silent connections than waitress's default limit (100)
            # do not keep a new client out (one that waits over 4 s counts as shut out).
            silent = [socket.create_connection(("127.0.0.1", ports[1]), timeout=5) for _ in range(150)]
            try:
                time.sleep(0.5)
                assert requests.get(listener_base + "/healthz", timeout=4).text == "ok\n"
            finally:
                for connection in silent:
                    connection.close()

            # A person's loop through the three: ring up, pay on the phone page, the notice marks it paid.
            sale = http.post(urls["cashier's page"] + "api/sales", json={"amount": "6.60"}, timeout=30).json()
            assert sale["state"] == "AWAITING_PAYMENT"
            listed = http.get(urls["customer's phone"], timeout=10).text  # the phone lists the open sale
            assert sale["out_trade_no"] in listed and f'value="{sale["code_url"]}"' in listed
            paid = http.post(urls["customer's phone"], data={"code_url": sale["code_url"]}, timeout=30)
            assert paid.status_code == 200 and "支付成功" in paid.text
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                state = http.get(urls["cashier's page"] + f"api/sales/{sale['id']}", timeout=10).json()[
                    "state"
                ]
                if state == "PAID":
                    break
                time.sleep(0.1)
            assert state == "PAID"

        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert "pos demo: stopping" in out and "Traceback" not in err
    for port in ports:  # every server let go of its port
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_demo_on_a_busy_port_says_so_in_one_line_and_creates_nothing(tmp_path, busy_port, run_pos):
    ports = ["--listener-port", "0", "--sim-port", "0", "--sim-tls-port", "0"]
    result = run_pos("demo", "--dir", "pos-demo", "--till-port", str(busy_port), *ports, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == f"pos: port {busy_port} is in use (use --till-port)\n"
    assert result.stdout == ""
    assert list(tmp_path.iterdir()) == []  # no pos-demo/, no pos.sqlite3: every port is bound first


@pytest.mark.parametrize("option", ["--listener-port", "--sim-port", "--sim-tls-port"])
def test_demo_names_whichever_of_its_ports_is_busy(tmp_path, busy_port, capsys, option):
    from pos.cli import main

    ports = {name: "0" for name in ("--till-port", "--listener-port", "--sim-port", "--sim-tls-port")}
    ports[option] = str(busy_port)
    argv = ["demo", "--dir", str(tmp_path / "pos-demo"), *(word for pair in ports.items() for word in pair)]
    assert main(argv) == 1
    assert capsys.readouterr().err == f"pos: port {busy_port} is in use (use {option})\n"
    assert list(tmp_path.iterdir()) == []


def test_auto_on_api_v3_runs_the_same_shift_with_keys_in_0600_files(tmp_path):
    process = demo(tmp_path / "shop", "--auto", "--api", "v3", ports=[0, 0, 0, 0])
    try:
        out, err = process.communicate(timeout=90)
    finally:
        process.kill()
    assert process.returncode == 0, out + err
    assert "Traceback" not in err
    summary = out[out.index("shift summary:") :].splitlines()
    steps = [line.split() for line in summary if line.startswith("  ok ") or line.startswith("  BAD")]
    assert all(step[0] == "ok" for step in steps), summary
    # No mode-one label: shelf labels stay v2.
    assert [step[2] for step in steps] == ["PAID", "PARTLY_REFUNDED", "PAID", "VOIDED", "EXPIRED"], summary
    [reconciled] = [line for line in summary if "reconciliation" in line]
    assert "对账相符" in reconciled, reconciled

    shop = tmp_path / "shop"
    merchant = tomllib.loads((shop / "pos.toml").read_text(encoding="utf-8"))["merchant"]
    assert merchant["api"] == "v3" and merchant["wechatpay_public_key_id"].startswith("PUB_KEY_ID_")
    assert f"merchant_serial_no={merchant['merchant_serial_no']}" in out
    for name in ("private_key_file", "apiv3_key_file"):
        assert Path(merchant[name]).stat().st_mode & 0o777 == 0o600
    assert (shop / "pos.toml").stat().st_mode & 0o777 == 0o600
    # The first sale was paid by WeChat's v3 notice through the listener, not by a query.
    log = (shop / "pos.log").read_text(encoding="utf-8")
    assert "event=notice_paid" in log and "event=refund_notice_refunded" in log
    assert "v3_notice_rejected" not in log
