"""``pos label`` and ``pos listen`` through the real command line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import requests

from pos.cli import main
from pos.config import DEMO_API_KEY
from pos.demo import demo_config_text
from pos.ledger import JobKind, open_ledger
from pos.sandbox.testing import running_simulator
from pos.wechatpay.modeone import parse_bizpayurl


def write_config(tmp_path: Path, database_url: str, api_base: str = "http://127.0.0.1:9") -> Path:
    path = tmp_path / "pos.toml"
    path.write_text(
        f"""
[merchant]
api_base = "{api_base}"

[database]
url = "{database_url}"

[listener]
host = "127.0.0.1"

[[products]]
id = "latte"
name = "拿铁"
price = "18.00"
""",
        encoding="utf-8",
    )
    return path


def label_jobs(database_url: str) -> list:
    with open_ledger(database_url) as ledger:
        return [j for j in ledger.unfinished_jobs() if j.kind is JobKind.LABEL]


def test_pos_label_queues_a_label_job_with_the_signed_link(tmp_path, database_url, capsys):
    config = write_config(tmp_path, database_url)
    assert main(["--config", str(config), "label", "latte"]) == 0
    (job,) = label_jobs(database_url)
    payload = job.payload
    assert (payload["product_id"], payload["product_name"], payload["price_fen"]) == ("latte", "拿铁", 1800)
    link = parse_bizpayurl(payload["code_url"], api_key="192006250b4c09247ec02edce69f6a2d")
    assert link.product_id == "latte"
    assert f"label job {job.id} queued: 拿铁 ￥18.00" in capsys.readouterr().out


def test_pos_label_finds_the_product_in_any_case_as_the_readme_writes_it(tmp_path, database_url, capsys):
    """The README says ``pos label latte``; the demo's product is ``LATTE``."""
    text = demo_config_text(
        tmp_path, till_port=8790, listener_port=8791, sim_port=8792, sim_tls_port=8793, language="zh-CN"
    )
    demo_url = f'url = "sqlite:///{tmp_path / "pos.sqlite3"}"'
    assert demo_url in text
    config = tmp_path / "pos.toml"
    config.write_text(text.replace(demo_url, f'url = "{database_url}"'), encoding="utf-8")
    assert main(["--config", str(config), "label", "latte"]) == 0
    (job,) = label_jobs(database_url)
    assert job.payload["product_id"] == "LATTE"  # the catalogue's own spelling, signed into the label
    assert parse_bizpayurl(job.payload["code_url"], api_key=DEMO_API_KEY).product_id == "LATTE"
    assert "拿铁 ￥18.00" in capsys.readouterr().out


def test_pos_label_short_asks_wechat_for_the_short_link(tmp_path, database_url):
    with running_simulator() as sim:
        config = write_config(tmp_path, database_url, api_base=sim.base_url)
        assert main(["--config", str(config), "label", "latte", "--short"]) == 0
    (job,) = label_jobs(database_url)
    assert job.payload["code_url"].startswith("weixin://wxpay/s/")
    assert job.payload["long_url"].startswith("weixin://wxpay/bizpayurl?")


def test_pos_label_refuses_an_unknown_product_and_an_unreachable_wechat(tmp_path, database_url, capsys):
    config = write_config(tmp_path, database_url)
    assert main(["--config", str(config), "label", "mocha"]) == 2
    assert "no product 'mocha' in [[products]]; known ids: latte" in capsys.readouterr().err
    assert main(["--config", str(config), "label", "latte", "--short"]) == 1
    err = capsys.readouterr().err
    assert "WeChat did not shorten the link" in err and "Traceback" not in err
    assert label_jobs(database_url) == []


def test_pos_listen_serves_until_interrupted(tmp_path, database_url):
    config = write_config(tmp_path, database_url)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "pos.cli", "--config", str(config), "listen", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("pos listen: http://127.0.0.1:"), line + process.stderr.read()
        base = line.split()[2].removesuffix("/wechatpay/notify")
        assert requests.get(base + "/healthz", timeout=10).text == "ok\n"
        forged = requests.post(base + "/wechatpay/notify", data=b"<xml><sign>x</sign></xml>", timeout=10)
        assert b"FAIL" in forged.content
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert process.returncode == 0  # Ctrl-C is a clean stop
    log = process.stderr.read()
    assert "Traceback" not in log
    # The key=value lines at INFO reach the journal (no library set the root logger up before pos did)
    assert "level=INFO logger=pos.listener.cli event=listener_started" in log
    assert "logger=alembic" not in log  # the migration's chatter only with -v


def test_pos_listen_on_a_busy_port_says_so_in_one_line_and_makes_no_ledger(
    tmp_path, database, busy_port, run_pos
):
    database_url = database.url_in(tmp_path, empty=True)
    config = write_config(tmp_path, database_url)
    before = sorted(tmp_path.rglob("*"))
    result = run_pos("--config", str(config), "listen", "--port", str(busy_port), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == f"pos: port {busy_port} is in use (set [listener] port or --port)\n"
    assert sorted(tmp_path.rglob("*")) == before  # no pos.sqlite3: the port is bound first
    assert database.untouched(database_url)  # nor, on PostgreSQL, any table


def test_pos_listen_with_workers_on_a_busy_port_is_the_same_line(tmp_path, database, busy_port, capsys):
    database_url = database.url_in(tmp_path, empty=True)
    config = write_config(tmp_path, database_url)
    assert main(["--config", str(config), "listen", "--port", str(busy_port), "--workers", "2"]) == 1
    assert capsys.readouterr().err == f"pos: port {busy_port} is in use (set [listener] port or --port)\n"
    assert database.untouched(database_url)


# Runs `pos listen` in a fresh interpreter through its real entry point; once /healthz answers (the
# ledger open, the app built, waitress serving), a thread prints the modules the process holds.
LISTENER_PROBE = r"""
import io, json, os, re, sys, threading, time, urllib.request
from pos.cli import main

real_stdout, sys.stdout = sys.stdout, io.StringIO()

def report_when_serving():
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = re.search(r"http://[0-9.]+:[0-9]+", sys.stdout.getvalue())
        if found:
            try:
                health = urllib.request.urlopen(found.group(0) + "/healthz", timeout=5).read().decode()
            except OSError:
                health = None
            if health is not None:
                real_stdout.write(json.dumps({"healthz": health, "modules": sorted(sys.modules)}))
                real_stdout.flush()
                os._exit(0)
        time.sleep(0.05)
    os._exit(3)

threading.Thread(target=report_when_serving, daemon=True).start()
sys.exit(main(sys.argv[1:]))
"""


def test_the_serving_listener_holds_no_printer_and_no_manager_pages(tmp_path, database_url):
    """The internet-facing process carries Flask and the ledger, and nothing of the till's."""
    config = write_config(tmp_path, database_url)
    result = subprocess.run(
        [sys.executable, "-c", LISTENER_PROBE, "--config", str(config), "listen", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["healthz"] == "ok\n"
    modules = set(report["modules"])
    assert {"flask", "waitress", "pos.listener.app", "pos.ledger.ledger"} <= modules  # it does see
    assert "pos.manager.cli" in modules  # registered for `pos --help`: light by design
    carried = {name for name in modules if name.split(".")[0] in ("PIL", "escpos", "qrcode")}
    carried |= modules & {
        "pos.manager.views",  # the manager's pages and their blueprint
        "pos.till.app",
        "pos.till.service",
        "pos.till.spooler",
        "pos.printing.encoder",
        "pos.receipts.templates",
        "pos.sandbox.app",
    }
    assert carried == set()
