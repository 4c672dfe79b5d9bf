"""downloadbill builds the day's bill from the simulator's own orders, in WeChat's layouts."""

from __future__ import annotations

import gzip

import pytest
import requests

from pos.money import parse_bill_yuan
from pos.sandbox import bills
from pos.sandbox.testing import running_simulator
from pos.wechatpay import sign as signing
from pos.wechatpay import xmlcodec


def fetch(sim, bill_date: str, **extra: str) -> requests.Response:
    fields = {"appid": sim.appid, "mch_id": sim.mch_id, "nonce_str": "n", "bill_date": bill_date, **extra}
    sign_type = extra.get("sign_type", signing.MD5)
    return requests.post(
        sim.base_url + "/pay/downloadbill",
        data=xmlcodec.encode(signing.signed(fields, sim.api_key, sign_type)),
    )


def today(sim) -> str:
    return sim.sim.clock.beijing().strftime("%Y%m%d")


def split(text: str) -> tuple[list[str], list[list[str]], list[str], list[str]]:
    lines = text.rstrip("\n").split("\n")
    header, *rows, summary_header, summary = lines
    for line in [*rows, summary]:
        assert all(value.startswith("`") for value in line.split(","))
    strip = lambda line: [v[1:] for v in line.split(",")]  # noqa: E731
    return header.split(","), [strip(r) for r in rows], summary_header.split(","), strip(summary)


@pytest.fixture
def day_with_sales(sim, api):
    """Three paid orders (12.50, 0.01, 100.00), one unpaid, one refund of 2.50."""
    paid = []
    for fee in ("1250", "1", "10000"):
        order = api.place_order(sim, total_fee=fee, attach="lane-01")
        paid.append((order, sim.pay(order["code_url"], notify=False)))
    api.place_order(sim)  # never paid: not in the bill
    refund = {"transaction_id": paid[0][1], "out_refund_no": "RF1", "total_fee": "1250", "refund_fee": "250"}
    assert api.call(sim, "/secapi/pay/refund", refund)["result_code"] == "SUCCESS"
    return paid


def test_all_bill(sim, day_with_sales):
    response = fetch(sim, today(sim))
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/plain")
    header, rows, summary_header, summary = split(response.content.decode("utf-8"))
    assert tuple(header) == bills.ALL_COLUMNS and len(header) == 27
    assert tuple(summary_header) == bills.SUMMARY_COLUMNS
    assert len(rows) == 4  # three payments and one refund
    by_state = {}
    for row in rows:
        record = dict(zip(header, row, strict=True))
        by_state.setdefault(record["交易状态"], []).append(record)
    assert sorted(parse_bill_yuan(r["订单金额"]) for r in by_state["SUCCESS"]) == [1, 1250, 10000]
    (refund,) = by_state["REFUND"]
    assert (
        refund["商户退款单号"] == "RF1" and refund["退款金额"] == "2.50" and refund["退款类型"] == "ORIGINAL"
    )
    paid_numbers = {o["out_trade_no"] for o, _ in day_with_sales}
    assert {r["商户订单号"] for r in by_state["SUCCESS"]} == paid_numbers
    first = next(r for r in by_state["SUCCESS"] if r["订单金额"] == "12.50")
    assert first["手续费"] == "0.08000" and first["费率"] == "0.60%" and first["商户数据包"] == "lane-01"
    assert first["交易类型"] == "NATIVE" and first["公众账号ID"] == sim.appid
    totals = dict(zip(summary_header, summary, strict=True))
    assert totals["总交易单数"] == "4" and totals["订单总金额"] == "112.51"
    assert totals["应结订单总金额"] == "112.51" and totals["退款总金额"] == "2.50"
    assert totals["申请退款总金额"] == "2.50"


def test_success_and_refund_layouts(sim, day_with_sales):
    header, rows, _, summary = split(fetch(sim, today(sim), bill_type="SUCCESS").content.decode())
    assert tuple(header) == bills.SUCCESS_COLUMNS and len(header) == 20 and len(rows) == 3
    assert summary[0] == "3"
    header, rows, _, summary = split(fetch(sim, today(sim), bill_type="REFUND").content.decode())
    assert tuple(header) == bills.REFUND_COLUMNS and len(header) == 29 and len(rows) == 1
    record = dict(zip(header, rows[0], strict=True))
    assert (
        record["交易状态"] == "REFUND" and record["申请退款金额"] == "2.50" and record["手续费"] == "-0.02000"
    )


def test_gzip_variant_is_the_same_text(sim, day_with_sales):
    plain = fetch(sim, today(sim)).content
    packed = fetch(sim, today(sim), tar_type="GZIP", sign_type="HMAC-SHA256").content
    assert gzip.decompress(packed) == plain


def test_empty_day_and_bad_requests(sim, day_with_sales):
    def failure(response):
        fields = xmlcodec.decode(response.content)
        assert fields["return_code"] == "FAIL"
        return fields["return_msg"], fields["error_code"]

    assert failure(fetch(sim, "20200101")) == ("No Bill Exist", "20002")
    assert failure(fetch(sim, today(sim), bill_type="RECHARGE_REFUND")) == ("No Bill Exist", "20002")
    assert failure(fetch(sim, today(sim), bill_type="EVERYTHING")) == ("invalid bill_type", "20001")
    assert failure(fetch(sim, "2024-01-01")) == ("data format error", "20001")
    bad_sign = {
        "appid": sim.appid,
        "mch_id": sim.mch_id,
        "nonce_str": "n",
        "bill_date": today(sim),
        "sign": "0" * 32,
    }
    assert (
        failure(requests.post(sim.base_url + "/pay/downloadbill", data=xmlcodec.encode(bad_sign)))[1]
        == "20001"
    )


def test_a_payment_lands_on_the_day_it_was_paid(sim, api):
    first = api.place_order(sim)
    sim.pay(first["code_url"], notify=False)
    day_before = today(sim)
    sim.advance(24 * 3600)
    second = api.place_order(sim)
    sim.pay(second["code_url"], notify=False)
    for day, order in ((day_before, first), (today(sim), second)):
        _, rows, _, _ = split(fetch(sim, day).content.decode())
        assert [row[6] for row in rows] == [order["out_trade_no"]]


def test_bill_creating_until_ten_the_next_day(api):
    with running_simulator(bill_creating=True) as sim:
        order = api.place_order(sim)
        sim.pay(order["code_url"], notify=False)
        day = today(sim)
        assert xmlcodec.decode(fetch(sim, day).content)["return_msg"] == "Bill Creating"
        now = sim.sim.clock.beijing()
        ready = bills.ready_at(now.date())
        sim.advance((ready - now).total_seconds() + 1)
        assert fetch(sim, day).content.startswith("交易时间".encode())


def test_fee_rounding():
    assert bills.fee_fen(1250) == 8  # 7.5 fen rounds half up
    assert bills.fee_fen(1) == 0 and bills.fee_fen(600) == 4 and bills.fee_fen(-250) == -2
    assert bills.fee_text(8) == "0.08000" and bills.fee_text(-2) == "-0.02000"


def test_a_backtick_in_the_body_cannot_break_the_bill(sim, api):
    order = api.place_order(sim, body="咖啡`拿铁", attach="a`b")
    sim.pay(order["code_url"], notify=False)
    header, rows, _, _ = split(fetch(sim, today(sim)).content.decode())
    record = dict(zip(header, rows[0], strict=True))
    assert record["商品名称"] == "咖啡 拿铁" and record["商户数据包"] == "a b"
