"""The till's JSON API over real HTTP: waitress on loopback, a SQLite ledger, the simulator as WeChat,
a dir: printer. Every bad input answers 400/404/409 with a message in the store's language."""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime, timedelta

import pytest

from pos.config import TillConfig
from pos.sandbox.testing import running_simulator
from pos.testing.clock import FakeClock
from pos.till.testing import running_till, till_config


@pytest.fixture
def sim():  # one per test: each test's fresh ledger numbers its sales from 0001 again
    with running_simulator() as running:
        yield running


@pytest.fixture
def till(database, sim, tmp_path):
    with running_till(till_config(tmp_path, sim, database=database.config)) as running:
        yield running


@pytest.fixture(scope="module")
def refusing_till(tmp_path_factory, module_database):
    """One till for the many refusal cases (per database): none of them may ring anything up."""
    folder = tmp_path_factory.mktemp("refusals")
    with (
        running_simulator() as sim,
        running_till(
            till_config(folder, sim, database=module_database.config_in(folder / "data"))
        ) as running,
    ):
        yield running


def post_sale(till, body):
    return till.http.post(till.url("/api/sales"), json=body)


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


# -- ringing up -------------------------------------------------------------------------------------


def test_amount_sale_is_ordered_at_the_simulator(till, sim):
    response = post_sale(till, {"amount": "12.50", "body": "测试"})
    assert response.status_code == 201
    sale = response.json()
    assert response.headers["Location"] == f"/api/sales/{sale['id']}"
    assert sale["state"] == "AWAITING_PAYMENT" and sale["status"] == "awaiting"
    assert sale["total_fee"] == 1250 and sale["total_text"] == "￥12.50" and sale["total"] == "12.50"
    assert sale["code_url"].startswith("weixin://wxpay/bizpayurl?pr=")
    orders = {o["out_trade_no"]: o for o in sim.orders()}
    assert sale["out_trade_no"] in orders  # the simulator issued that code_url for our number
    expires = datetime.fromisoformat(sale["expires_at"])
    assert expires.utcoffset() == timedelta(hours=8)  # the store's zone, with its offset
    created = datetime.fromisoformat(sale["created_at"])
    assert timedelta(minutes=14) < expires - created <= timedelta(minutes=16)
    assert sale["items"] == [] and sale["failure"] is None and sale["paid_at"] is None
    assert sale["qr_svg_url"] == f"/api/sales/{sale['id']}/qr.svg"


def test_items_by_name_and_by_product_id(till):
    response = post_sale(
        till,
        {"items": [{"product_id": "LATTE", "qty": 2}, {"name": "矿泉水", "price": "2.50"}]},
    )
    assert response.status_code == 201, response.text
    sale = response.json()
    assert sale["total_fee"] == 2 * 1800 + 250
    assert [(i["name"], i["qty"], i["unit_price"], i["amount_text"]) for i in sale["items"]] == [
        ("拿铁", 2, 1800, "￥36.00"),
        ("矿泉水", 1, 250, "￥2.50"),
    ]


def test_product_ids_match_in_any_case_barcodes_do_not_stand_for_ids(till):
    sale = post_sale(till, {"items": [{"product_id": "latte", "qty": 2}, {"product_id": "Tea"}]}).json()
    assert [(i["name"], i["qty"]) for i in sale["items"]] == [("拿铁", 2), ("柠檬茶", 1)]
    assert sale["total_fee"] == 2 * 1800 + 1250
    refused = post_sale(till, {"items": [{"product_id": "6901234567892"}]})
    assert refused.status_code == 400 and "6901234567892" in refused.json()["error"]


def test_get_sale_and_list_of_the_day(till):
    first = post_sale(till, {"amount": "1.00"}).json()
    second = post_sale(till, {"items": [{"product_id": "TEA"}]}).json()
    got = till.http.get(till.url(f"/api/sales/{first['id']}"))
    assert got.status_code == 200 and got.json()["out_trade_no"] == first["out_trade_no"]
    day = till.http.get(till.url("/api/sales")).json()
    assert day["date"] == first["business_date"]
    assert [s["id"] for s in day["sales"]] == [first["id"], second["id"]]
    assert day["summary"]["count"] == 2 and day["summary"]["awaiting_count"] == 2
    assert day["summary"]["paid_count"] == 0 and day["summary"]["paid_text"] == "￥0.00"
    same = till.http.get(till.url("/api/sales"), params={"date": first["business_date"]}).json()
    assert [s["id"] for s in same["sales"]] == [first["id"], second["id"]]
    other = till.http.get(till.url("/api/sales"), params={"date": "2001-01-01"}).json()
    assert other["sales"] == [] and other["date"] == "2001-01-01"


def test_paid_by_the_watcher_shows_in_the_day(till, sim):
    sale = post_sale(till, {"amount": "8.80"}).json()
    sim.pay(sale["code_url"], notify=False)
    # The watcher's thread asks within 2 s; one deterministic pass at "2 s later" instead of waiting.
    till.till.watcher.poll_once(now=datetime.now(UTC) + timedelta(seconds=3))
    paid = till.http.get(till.url(f"/api/sales/{sale['id']}")).json()
    assert paid["state"] == "PAID" and paid["status"] == "paid" and paid["final"]
    assert paid["transaction_id"] and paid["paid_at"]
    assert paid["code_url"] == sale["code_url"] and paid["qr_svg_url"] is None  # no QR on screen once paid
    assert till.http.get(till.url(sale["qr_svg_url"])).status_code == 404
    summary = till.http.get(till.url("/api/sales")).json()["summary"]
    assert summary["paid_count"] == 1 and summary["paid_fee"] == 880 and summary["paid_text"] == "￥8.80"


def test_products(till):
    products = till.http.get(till.url("/api/products")).json()["products"]
    assert products[0] == {
        "id": "LATTE",
        "name": "拿铁",
        "price_fen": 1800,
        "price": "18.00",
        "price_text": "￥18.00",
        "barcode": "6901234567892",
    }
    assert [p["id"] for p in products] == ["LATTE", "TEA", "CAKE"] and products[2]["barcode"] is None


# -- void, retry, reprint, printer ---------------------------------------------------------------


def test_void_waits_for_the_five_minute_rule_then_voids(database, sim, tmp_path):
    clock = FakeClock()
    with running_till(
        till_config(tmp_path, sim, database=database.config), clock=clock, workers=False
    ) as till:
        sale = post_sale(till, {"amount": "3.00"}).json()
        early = till.http.post(till.url(f"/api/sales/{sale['id']}/void"), json={})
        assert early.status_code == 200
        assert early.json()["state"] == "AWAITING_PAYMENT" and early.json()["status"] == "voiding"
        assert early.json()["status_text"] == "正在作废…"
        clock.advance(301)
        sim.advance(301)
        till.till.watcher.poll_once()
        voided = till.http.get(till.url(f"/api/sales/{sale['id']}")).json()
        assert voided["state"] == "VOIDED" and voided["status"] == "voided" and voided["closed_at"]
        again = till.http.post(till.url(f"/api/sales/{sale['id']}/void"), json={})
        assert again.status_code == 409 and "不能作废" in again.json()["error"]


def test_void_after_five_minutes_closes_at_once(database, sim, tmp_path):
    clock = FakeClock()
    with running_till(
        till_config(tmp_path, sim, database=database.config), clock=clock, workers=False
    ) as till:
        sale = post_sale(till, {"amount": "3.00"}).json()
        clock.advance(360)
        sim.advance(360)
        voided = till.http.post(till.url(f"/api/sales/{sale['id']}/void"), json={"by": "小王"})
        assert voided.status_code == 200 and voided.json()["state"] == "VOIDED"
        assert {o["out_trade_no"]: o for o in sim.orders()}[sale["out_trade_no"]]["state"] == "CLOSED"


def test_failed_order_then_retry_keeps_the_number(database, sim, tmp_path):
    clock = FakeClock()
    sim.advance(3600)  # WeChat's clock is an hour ahead: our time_expire is "too short", the order fails
    with running_till(
        till_config(tmp_path, sim, database=database.config), clock=clock, workers=False
    ) as till:
        failed = post_sale(till, {"amount": "5.00"})
        assert failed.status_code == 201
        sale = failed.json()
        assert sale["state"] == "FAILED" and sale["status"] == "failed" and sale["failure"]
        assert sale["code_url"] is None and sale["qr_svg_url"] is None
        assert till.http.post(till.url(f"/api/sales/{sale['id']}/reprint"), json={}).status_code == 409
        clock.advance(3600 + 60)  # the till's clock catches up
        retried = till.http.post(till.url(f"/api/sales/{sale['id']}/retry"), json={})
        assert retried.status_code == 200, retried.text
        body = retried.json()
        assert body["state"] == "AWAITING_PAYMENT" and body["out_trade_no"] == sale["out_trade_no"]
        assert body["code_url"].startswith("weixin://")
        again = till.http.post(till.url(f"/api/sales/{sale['id']}/retry"), json={})
        assert again.status_code == 409 and again.json()["error"]


def test_reprint_prints_another_copy(till):
    printer = till.till.config.printer.device.removeprefix("dir:")
    sale = post_sale(till, {"amount": "6.00"}).json()
    wait_for(lambda: till.http.get(till.url("/api/printer")).json()["last_printed_at"])
    response = till.http.post(till.url(f"/api/sales/{sale['id']}/reprint"), json={})
    assert response.status_code == 202
    job = response.json()["job"]
    assert job["kind"] == "sale_slip" and job["reprint_of"] is not None and job["sale_id"] == sale["id"]
    wait_for(lambda: (tmp := __import__("pathlib").Path(printer) / f"job-{job['id']}.bin").exists() and tmp)
    explicit = till.http.post(till.url(f"/api/sales/{sale['id']}/reprint"), json={"kind": "confirmation"})
    assert explicit.status_code == 409 and explicit.json()["error"]  # never paid: no confirmation to copy


def test_printer_status(till):
    status = till.http.get(till.url("/api/printer"))
    assert status.status_code == 200
    body = status.json()
    assert body["printer"] == "virtual" and body["ok"] is True and body["text"] == "虚拟打印机"
    assert body["queued"] >= 0 and "queued_text" in body


# -- refusals ----------------------------------------------------------------------------------------

LONG_NAME = "很长的名字" * 13  # 65 characters
BAD_SALES = [
    ({}, "请提供商品"),
    ({"amount": "1.00", "items": [{"product_id": "TEA"}]}, "二选一"),
    ({"amount": "-1"}, "负数"),
    ({"amount": "-0.01"}, "负数"),
    ({"amount": "0"}, "大于 0.00"),
    ({"amount": "0.00"}, "大于 0.00"),
    ({"amount": "12.345"}, "两位小数"),
    ({"amount": "abc"}, "两位小数"),
    ({"amount": "1e3"}, "两位小数"),
    ({"amount": "1,000.00"}, "两位小数"),
    ({"amount": ""}, "两位小数"),
    ({"amount": "NaN"}, "两位小数"),
    ({"amount": 12.5}, "字符串"),
    ({"amount": 12}, "字符串"),
    ({"amount": True}, "字符串"),
    ({"amount": None}, "字符串"),
    ({"amount": "99999999999"}, "过大：单笔最多 ￥10000000.00"),
    ({"amount": "100000000"}, "金额过大：单笔最多 ￥10000000.00"),
    ({"amount": "10000000.01"}, "金额过大：单笔最多 ￥10000000.00"),
    ({"amount": "9" * 5000}, "金额过大"),
    ({"items": [{"name": "水", "price": "100000000"}]}, "第 1 行商品价格过大：单笔最多 ￥10000000.00"),
    ({"items": [{"name": "水", "price": "9000000.00", "qty": 2}]}, "合计金额过大：单笔最多 ￥10000000.00"),
    ({"items": []}, "为空"),
    ({"items": "LATTE"}, "列表"),
    ({"items": [1]}, "对象"),
    ({"items": [{"name": "水"}]}, "name 和 price"),
    ({"items": [{"price": "1.00"}]}, "name 和 price"),
    ({"items": [{"name": "", "price": "1.00"}]}, "名称"),
    ({"items": [{"name": "   ", "price": "1.00"}]}, "名称"),
    ({"items": [{"name": LONG_NAME, "price": "1.00"}]}, "名称"),
    ({"items": [{"name": "水\n", "price": "1.00"}, {"name": "a\x00b", "price": "1.00"}]}, "第 2 行商品名称"),
    ({"items": [{"name": "水", "price": "-2.00"}]}, "负数"),
    ({"items": [{"name": "水", "price": "0"}]}, "大于 0.00"),
    ({"items": [{"name": "水", "price": 2}]}, "字符串"),
    ({"items": [{"name": "水", "price": "2.00", "qty": 0}]}, "数量"),
    ({"items": [{"name": "水", "price": "2.00", "qty": 1000}]}, "数量"),
    ({"items": [{"name": "水", "price": "2.00", "qty": "2"}]}, "数量"),
    ({"items": [{"name": "水", "price": "2.00", "qty": True}]}, "数量"),
    ({"items": [{"name": "水", "price": "2.00", "qty": 1.5}]}, "数量"),
    ({"items": [{"product_id": "NOPE"}]}, "NOPE"),
    ({"items": [{"product_id": 7}]}, "7"),
    ({"items": [{"product_id": "TEA", "name": "x"}]}, "product_id"),
    ({"items": [{"product_id": "TEA", "colour": "red"}]}, "colour"),
    ({"items": [{"name": "水", "price": "1.00"}] * 101}, "100"),
    ({"amount": "1.00", "ammount": "2.00"}, "ammount"),
    ({"amount": "1.00", "body": "x" * 65}, "描述"),
    ({"amount": "1.00", "body": ""}, "描述"),
    ({"amount": "1.00", "cashier": 5}, "收银员"),
]


def assert_clean_refusal(response, status=400):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"]
    assert not body["error"].startswith("error.")  # translated, not a key
    assert "Traceback" not in response.text and 'File "' not in response.text
    return body["error"]


@pytest.mark.parametrize(("body", "fragment"), BAD_SALES, ids=range(len(BAD_SALES)))
def test_bad_sales_are_refused_with_a_message(refusing_till, body, fragment):
    message = assert_clean_refusal(post_sale(refusing_till, body))
    assert fragment in message
    assert (
        refusing_till.http.get(refusing_till.url("/api/sales")).json()["sales"] == []
    )  # nothing was rung up


@pytest.mark.parametrize(
    ("data", "content_type", "fragment"),
    [
        (b'{"amount": "1.00"', "application/json", "JSON 格式错误"),
        (b'{"amount": "1.00"}', "text/plain", "Content-Type"),
        (b"amount=1.00", "application/x-www-form-urlencoded", "Content-Type"),
        (b'{"amount": "1.00"}', None, "Content-Type"),
        (b'["amount", "1.00"]', "application/json", "对象"),
        (b'"1.00"', "application/json", "对象"),
        (b'{"amount": "\xff1.00"}', "application/json", "UTF-8"),
        (b"", "application/json", "请提供商品"),
    ],
)
def test_bad_bodies_are_refused(refusing_till, data, content_type, fragment):
    headers = {"Content-Type": content_type} if content_type else {}
    response = refusing_till.http.post(refusing_till.url("/api/sales"), data=data, headers=headers)
    assert fragment in assert_clean_refusal(response)


def test_oversized_body_is_refused_as_json(refusing_till):
    response = refusing_till.http.post(
        refusing_till.url("/api/sales"),
        data=b'{"amount": "' + b"1" * 70_000 + b'"}',
        headers={"Content-Type": "application/json"},
    )
    assert assert_clean_refusal(response, 413) == "请求过大"


@pytest.mark.parametrize("date", ["2026-13-01", "2026-02-30", "yesterday", "20261127", "2026-1-1"])
def test_bad_dates(refusing_till, date):
    assert "YYYY-MM-DD" in assert_clean_refusal(
        refusing_till.http.get(refusing_till.url("/api/sales"), params={"date": date})
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/sales/999"),
        ("GET", "/api/sales/999/qr.svg"),
        ("POST", "/api/sales/999/void"),
        ("POST", "/api/sales/999/retry"),
        ("POST", "/api/sales/999/reprint"),
        ("GET", "/api/sales/abc"),
        ("GET", "/api/sales/-1"),
        ("GET", "/api/nothing-here"),
    ],
)
def test_unknown_ids_and_paths_are_404(refusing_till, method, path):
    body = {} if method == "POST" else None  # a change must be JSON (pos.till.guard)
    assert assert_clean_refusal(refusing_till.http.request(method, refusing_till.url(path), json=body), 404)


# Ids no ledger row can have: beyond PostgreSQL's 32-bit INTEGER, SQLite's 64 bits, and int()'s digits.
HUGE_IDS = [str(2**31), str(2**64), "9" * 30, "9" * 5000]


@pytest.mark.parametrize("sale_id", HUGE_IDS, ids=["2^31", "2^64", "30 digits", "5000 digits"])
@pytest.mark.parametrize(
    ("method", "suffix"),
    [("GET", ""), ("GET", "/qr.svg"), ("POST", "/void"), ("POST", "/retry"), ("POST", "/reprint")],
)
def test_ids_beyond_the_ledgers_range_are_404(refusing_till, method, suffix, sale_id):
    response = refusing_till.http.request(method, refusing_till.url(f"/api/sales/{sale_id}{suffix}"))
    assert assert_clean_refusal(response, 404)


def test_non_ascii_digits_are_no_sale_id(till):
    sale = post_sale(till, {"amount": "1.00"}).json()
    arabic_indic = chr(0x0660 + sale["id"])  # int() reads it as the sale's id; a URL must not
    assert assert_clean_refusal(till.http.get(till.url(f"/api/sales/{arabic_indic}")), 404)


@pytest.mark.parametrize("date", ["0001-01-01", "1969-12-31", "9999-12-31", "9999-01-01"])
def test_days_outside_the_ledgers_calendar_are_refused(refusing_till, date):
    message = assert_clean_refusal(
        refusing_till.http.get(refusing_till.url("/api/sales"), params={"date": date})
    )
    assert "1970-01-01" in message and "9998-12-31" in message


@pytest.mark.parametrize("opener", [b"[", b'{"a":'])
@pytest.mark.parametrize("path", ["/api/sales", "/api/sales/1/void", "/api/sales/1/reprint"])
def test_deeply_nested_json_is_refused_before_parsing(refusing_till, opener, path):
    body = opener * 30_000
    response = refusing_till.http.post(
        refusing_till.url(path), data=body[:60_000], headers={"Content-Type": "application/json"}
    )
    assert "嵌套" in assert_clean_refusal(response)


def test_nesting_inside_strings_is_only_text(refusing_till):
    body = {"amount": "-1", "body": "[{" * 30, "cashier": "]}" * 10}  # brackets in strings count not
    assert "负数" in assert_clean_refusal(post_sale(refusing_till, body))  # refused for the amount


def test_wrong_method_is_405_json(refusing_till):
    response = refusing_till.http.delete(refusing_till.url("/api/sales"))
    assert assert_clean_refusal(response, 405) == "不支持此请求方法"
    assert "GET" in response.headers["Allow"]


def test_action_bodies_are_checked(till):
    sale = post_sale(till, {"amount": "1.00"}).json()
    url = till.url(f"/api/sales/{sale['id']}/reprint")
    assert "补打" in assert_clean_refusal(till.http.post(url, json={"kind": "z_report"}))
    assert "copies" in assert_clean_refusal(till.http.post(url, json={"copies": 2}))
    assert "Content-Type" in assert_clean_refusal(
        till.http.post(url, data=b"{}", headers={"Content-Type": "text/plain"})
    )
    void = till.url(f"/api/sales/{sale['id']}/void")
    assert "JSON" in assert_clean_refusal(
        till.http.post(void, data=b"{", headers={"Content-Type": "application/json"})
    )
    assert till.http.get(till.url(f"/api/sales/{sale['id']}")).json()["state"] == "AWAITING_PAYMENT"


def test_unexpected_errors_answer_a_plain_500(till, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("secret database detail")

    till.till.ledger.sales_for_day = broken  # an unforeseen failure deep inside
    response = till.http.get(till.url("/api/sales"))
    message = assert_clean_refusal(response, 500)
    assert "secret" not in response.text and "RuntimeError" not in response.text
    assert "已记录" in message
    assert any(
        "secret database detail" in (r.exc_text or "") for r in caplog.records
    )  # logged, with its cause


def test_english_store_answers_in_english(database, sim, tmp_path):
    config = till_config(tmp_path, sim, database=database.config, language="en")
    with running_till(config, workers=False) as till:
        assert assert_clean_refusal(post_sale(till, {"amount": "-5"})) == "The amount must not be negative"
        assert assert_clean_refusal(till.http.get(till.url("/api/sales/42")), 404) == "No sale with id 42"
        assert (
            assert_clean_refusal(post_sale(till, {"amount": "100000000"}))
            == "The amount is too large: at most ￥10000000.00 for one sale"
        )
        sale = post_sale(till, {"amount": "5.00"}).json()
        assert sale["status_text"] == "Awaiting payment"
        assert till.http.get(till.url("/api/printer")).json()["text"] == "Virtual printer"


def test_default_cashier_comes_from_the_config(database, sim, tmp_path):
    config = till_config(tmp_path, sim, database=database.config)
    config = config.replace(till=dataclasses.replace(config.till, cashier="小李"))
    with running_till(config, workers=False) as till:
        assert post_sale(till, {"amount": "1.00"}).json()["cashier"] == "小李"
        assert post_sale(till, {"amount": "1.00", "cashier": "小王"}).json()["cashier"] == "小王"
    assert isinstance(config.till, TillConfig)
