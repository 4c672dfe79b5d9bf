"""``pos label`` and ``pos listen`` through the real command line."""

from __future__ import annotations

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


def write_config(tmp_path: Path, api_base: str = "http://127.0.0.1:9") -> Path:
    path = tmp_path / "pos.toml"
    path.write_text(
        f"""
[merchant]
api_base = "{api_base}"

[database]
url = "sqlite:///{tmp_path / "pos.sqlite3"}"

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


def label_jobs(tmp_path: Path) -> list:
    with open_ledger(f"sqlite:///{tmp_path / 'pos.sqlite3'}") as ledger:
        return [j for j in ledger.unfinished_jobs() if j.kind is JobKind.LABEL]


def test_pos_label_queues_a_label_job_with_the_signed_link(tmp_path, capsys):
    config = write_config(tmp_path)
    assert main(["--config", str(config), "label", "latte"]) == 0
    (job,) = label_jobs(tmp_path)
    payload = job.payload
    assert (payload["product_id"], payload["product_name"], payload["price_fen"]) == ("latte", "拿铁", 1800)
    link = parse_bizpayurl(payload["code_url"], api_key="192006250b4c09247ec02edce69f6a2d")
    assert link.product_id == "latte"
    assert f"label job {job.id} queued: 拿铁 ￥18.00" in capsys.readouterr().out


def test_pos_label_finds_the_product_in_any_case_as_the_readme_writes_it(tmp_path, capsys):
    """The README says ``pos label latte``; the demo's product is ``LATTE``."""
    text = demo_config_text(
        tmp_path, till_port=8790, listener_port=8791, sim_port=8792, sim_tls_port=8793, language="zh-CN"
    )
    config = tmp_path / "pos.toml"
    config.write_text(text, encoding="utf-8")
    assert main(["--config", str(config), "label", "latte"]) == 0
    (job,) = label_jobs(tmp_path)
    assert job.payload["product_id"] == "LATTE"  # the catalogue's own spelling, signed into the label
    assert parse_bizpayurl(job.payload["code_url"], api_key=DEMO_API_KEY).product_id == "LATTE"
    assert "拿铁 ￥18.00" in capsys.readouterr().out


def test_pos_label_short_asks_wechat_for_the_short_link(tmp_path):
    with running_simulator() as sim:
        config = write_config(tmp_path, api_base=sim.base_url)
        assert main(["--config", str(config), "label", "latte", "--short"]) == 0
    (job,) = label_jobs(tmp_path)
    assert job.payload["code_url"].startswith("weixin://wxpay/s/")
    assert job.payload["long_url"].startswith("weixin://wxpay/bizpayurl?")


def test_pos_label_refuses_an_unknown_product_and_an_unreachable_wechat(tmp_path, capsys):
    config = write_config(tmp_path)
    assert main(["--config", str(config), "label", "mocha"]) == 2
    assert "no product 'mocha' in [[products]]; known ids: latte" in capsys.readouterr().err
    assert main(["--config", str(config), "label", "latte", "--short"]) == 1
    err = capsys.readouterr().err
    assert "WeChat did not shorten the link" in err and "Traceback" not in err
    assert not (tmp_path / "pos.sqlite3").exists() or label_jobs(tmp_path) == []


def test_pos_listen_serves_until_interrupted(tmp_path):
    config = write_config(tmp_path)
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
    assert "Traceback" not in process.stderr.read()


def test_pos_listen_reports_a_busy_port(tmp_path, capsys, serve):
    from flask import Flask

    busy = serve(Flask("busy"))
    config = write_config(tmp_path)
    assert main(["--config", str(config), "listen", "--port", str(busy.port)]) == 1
    assert f"cannot listen on 127.0.0.1:{busy.port}" in capsys.readouterr().err
