"""``pos till`` and ``pos sale`` as real subprocesses against a real till and the simulator."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from pos.i18n import Translator
from pos.sandbox.testing import running_simulator
from pos.till.cli import parse_item, sale_request
from pos.till.testing import running_till, till_config


@pytest.fixture
def sim():
    with running_simulator() as running:
        yield running


@pytest.fixture
def till(database, sim, tmp_path):
    with running_till(till_config(tmp_path, sim, database=database.config)) as running:
        yield running


def write_config(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def pos(*args: str, config: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "pos.cli", "--config", str(config), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def read_until(process: subprocess.Popen, fragment: str, timeout: float = 20.0) -> list[str]:
    """Lines of stdout up to and including the first that contains ``fragment``."""
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if fragment in line:
            return lines
    process.kill()
    raise AssertionError(f"{fragment!r} not printed; got {lines}; stderr: {process.stderr.read()}")


# -- parsing the command line -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "item"),
    [
        ("拿铁=18.00x2", {"name": "拿铁", "price": "18.00", "qty": 2}),
        ("Water=2", {"name": "Water", "price": "2", "qty": 1}),
        ("A=B=1.50X3", {"name": "A=B", "price": "1.50", "qty": 3}),
        ("  茶 = 12.5 ×1", {"name": "茶", "price": "12.5", "qty": 1}),
        ("latte", {"product_id": "latte", "qty": 1}),
        ("latte*2", {"product_id": "latte", "qty": 2}),
        ("TEA x3", {"product_id": "TEA", "qty": 3}),
        ("拿铁", {"product_id": "拿铁", "qty": 1}),
    ],
)
def test_items_are_read(text, item):
    assert parse_item(text) == item


@pytest.mark.parametrize(
    "text",
    ["=1.00", "拿铁=", "拿铁=abc", "拿铁=-1", "拿铁=1.00x", "拿铁=1.00x-2", "latte x0", "two words", ""],
)
def test_unreadable_items_are_refused(text):
    with pytest.raises(ValueError):
        parse_item(text)


def test_sale_request_checks_the_amount_against_the_items():
    t = Translator("en")
    assert sale_request("12.50", [], None, t) == {"amount": "12.50"}
    assert sale_request(None, ["a=1.00x2", "b=0.50"], "x", t) == {
        "items": [{"name": "a", "price": "1.00", "qty": 2}, {"name": "b", "price": "0.50", "qty": 1}],
        "body": "x",
    }
    assert sale_request("2.50", ["a=1.00x2", "b=0.50"], None, t)["items"]
    with pytest.raises(ValueError, match=r"not the items' total ￥2\.50"):
        sale_request("3.00", ["a=1.00x2", "b=0.50"], None, t)
    with pytest.raises(ValueError, match="NAME=PRICExQTY or a product id"):
        sale_request(None, ["no sense"], None, t)
    assert sale_request(None, ["latte*2"], None, t) == {"items": [{"product_id": "latte", "qty": 2}]}
    with pytest.raises(ValueError, match=r"Leave out the amount 36\.00"):
        sale_request("36.00", ["latte*2"], None, t)


# -- pos sale ------------------------------------------------------------------------------------------


def test_pos_sale_waits_until_the_watcher_sees_the_payment(till, sim, tmp_path):
    config = write_config(tmp_path / "en.toml", '[store]\nlanguage = "en"\n')
    process = pos("sale", "12.50", "--url", till.base_url, config=config)
    try:
        lines = read_until(process, "awaiting")
        code_url = next(line.split(": ", 1)[1] for line in lines if line.startswith("Payment link"))
        assert lines[0].startswith("Sale 1  order S01-01-") and lines[0].endswith("total ￥12.50")
        sim.pay(code_url, notify=False)  # no notice: only the till's own query can find it
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert out.splitlines()[-1] == "paid: Paid"
    assert till.http.get(till.url("/api/sales/1")).json()["state"] == "PAID"


def test_pos_sale_with_items_in_chinese(till, sim, tmp_path):
    config = write_config(tmp_path / "zh.toml", "")
    process = pos(
        "sale", "--item", "拿铁=18.00x2", "--item", "水=2.00", "--url", till.base_url, config=config
    )
    try:
        lines = read_until(process, "awaiting")
        assert "金额 ￥38.00" in lines[0] and lines[-1] == "awaiting: 等待顾客扫码支付"
        code_url = next(line.split("：", 1)[1] for line in lines if line.startswith("支付链接"))
        sim.pay(code_url, notify=False)
        process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0
    sale = till.http.get(till.url("/api/sales/1")).json()
    assert [(i["name"], i["qty"]) for i in sale["items"]] == [("拿铁", 2), ("水", 1)]


def test_pos_sale_with_product_ids_in_any_case(till, tmp_path):
    config = write_config(tmp_path / "en.toml", '[store]\nlanguage = "en"\n')
    process = pos("sale", "--item", "latte*2", "--item", "Tea", "--url", till.base_url, config=config)
    try:
        lines = read_until(process, "awaiting")
    finally:
        process.kill()
        process.communicate(timeout=10)
    assert lines[0].endswith("total ￥48.50"), lines
    sale = till.http.get(till.url("/api/sales/1")).json()
    assert [(i["name"], i["qty"]) for i in sale["items"]] == [("拿铁", 2), ("柠檬茶", 1)]


def test_ctrl_c_stops_waiting_without_voiding(till, tmp_path):
    config = write_config(tmp_path / "en.toml", '[store]\nlanguage = "en"\n')
    process = pos("sale", "3.00", "--url", till.base_url, config=config)
    try:
        read_until(process, "awaiting")
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=20)
    finally:
        process.kill()
    assert process.returncode == 130
    assert "was not voided" in err and "Traceback" not in err
    assert till.http.get(till.url("/api/sales/1")).json()["state"] == "AWAITING_PAYMENT"


def test_failed_order_exits_non_zero(till, sim, tmp_path):
    sim.advance(3600)  # WeChat's clock ahead of ours: the order is refused, the sale FAILED
    config = write_config(tmp_path / "en.toml", '[store]\nlanguage = "en"\n')
    process = pos("sale", "3.00", "--url", till.base_url, config=config)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 1, err
    assert "failed: Order failed" in out and "Reason: " in out


def test_refused_input_exits_2(till, tmp_path):
    config = write_config(tmp_path / "en.toml", '[store]\nlanguage = "en"\n')
    process = pos("sale", "-5", "--url", till.base_url, config=config)
    _, err = process.communicate(timeout=30)
    # this command speaks English; the till's own message is in its store's language (zh-CN here)
    assert (
        process.returncode == 2 and "The till refused (400): 金额不能为负数" in err and "Traceback" not in err
    )
    process = pos("sale", "--item", "oops=", "--url", till.base_url, config=config)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 2 and "NAME=PRICExQTY" in err
    process = pos("sale", "--item", "oops", "--url", till.base_url, config=config)  # read as a product id
    _, err = process.communicate(timeout=30)
    assert process.returncode == 2 and "The till refused (400): 没有编号为 “oops” 的商品" in err
    assert till.http.get(till.url("/api/sales")).json()["sales"] == []


def test_unreachable_till_exits_3(tmp_path):
    config = write_config(tmp_path / "en.toml", '[store]\nlanguage = "en"\n')
    process = pos("sale", "1.00", "--url", "http://127.0.0.1:9", config=config)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 3 and "is `pos till` running?" in err and "Traceback" not in err


# -- pos till -------------------------------------------------------------------------------------------


def till_toml(tmp_path: Path, sim, extra: str = "", *, database_url: str = "") -> Path:
    """The till's config; without ``database_url`` a SQLite file under data/ (for the refusals
    below, which stop at the config and never open the ledger)."""
    data = tmp_path / "data"
    database_url = database_url or f"sqlite:///{data / 'pos.sqlite3'}"
    return write_config(
        tmp_path / "till.toml",
        f"""
[merchant]
appid = "{sim.appid}"
mch_id = "{sim.mch_id}"
api_key = "{sim.api_key}"
api_base = "{sim.base_url}"

[database]
url = "{database_url}"

[till]
data_dir = "{data}"

[printer]
device = "dir:{tmp_path / "printer"}"
{extra}
[[products]]
id = "LATTE"
name = "拿铁"
price = "18.00"
barcode = "6901234567892"
""",
    )


def test_pos_till_serves_prints_and_stops(sim, tmp_path, database_url):
    process = pos("till", "--port", "0", config=till_toml(tmp_path, sim, database_url=database_url))
    try:
        line = read_until(process, "http://")[-1]
        url = line[line.index("http://") :].split()[0].rstrip("/")
        assert url.startswith("http://127.0.0.1:")
        page = requests.get(url + "/", timeout=10)
        assert page.status_code == 200 and "拿铁" in page.text
        sale = requests.post(url + "/api/sales", json={"items": [{"product_id": "LATTE"}]}, timeout=30).json()
        assert sale["state"] == "AWAITING_PAYMENT"
        printer = tmp_path / "printer"
        deadline = time.monotonic() + 20
        while not (printer / "job-1.bin").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (printer / "job-1.bin").exists()  # the spooler runs inside `pos till`
        sim.pay(sale["code_url"], notify=False)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if requests.get(f"{url}/api/sales/{sale['id']}", timeout=10).json()["state"] == "PAID":
                break
            time.sleep(0.1)
        assert (
            requests.get(f"{url}/api/sales/{sale['id']}", timeout=10).json()["state"] == "PAID"
        )  # the watcher
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert "收银台已停止" in out and "Traceback" not in err


def test_pos_till_refuses_a_bad_config(sim, tmp_path):
    config = till_toml(tmp_path, sim, extra='profile = "no-such-printer"\n')
    process = pos("till", "--port", "0", config=config)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 2
    assert "configuration error" in err and "no-such-printer" in err and "Traceback" not in err


def test_pos_till_refuses_a_raster_font_without_the_slips_characters(sim, tmp_path, latin_font):
    config = till_toml(tmp_path, sim, extra=f'raster_font = "{latin_font}"\n')
    process = pos("till", "--port", "0", config=config)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 2 and "Traceback" not in err
    (line,) = err.strip().splitlines()
    assert "configuration error" in line and "[printer] raster_font" in line and latin_font in line
    assert "拿" in line and "￥" in line  # the product's name and the yuan sign are missing


def test_pos_till_on_a_busy_port_says_so_in_one_line_and_creates_nothing(
    tmp_path, database, busy_port, run_pos
):
    shop = tmp_path / "shop"
    database_url = database.url_in(shop, empty=True)
    config = write_config(
        tmp_path / "pos.toml",
        f"""
[database]
url = "{database_url}"

[printer]
device = "dir:{shop / "printer"}"

[till]
port = {busy_port}
data_dir = "{shop}"
""",
    )
    result = run_pos("--config", str(config), "till", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == f"pos: port {busy_port} is in use (set [till] port or --port)\n"
    assert sorted(tmp_path.iterdir()) == [config]  # neither the data folder nor the ledger: bound first

    result = run_pos("--config", str(config), "till", "--port", "0", "--host", "192.0.2.1", cwd=tmp_path)
    assert result.returncode == 1  # TEST-NET-1 is no address of this machine
    assert result.stderr.startswith("pos: cannot listen on 192.0.2.1:0: ")
    assert result.stderr.endswith("(set [till] host or --host)\n") and "Traceback" not in result.stderr
    assert sorted(tmp_path.iterdir()) == [config]
    assert database.untouched(database_url)  # on PostgreSQL: no table either
