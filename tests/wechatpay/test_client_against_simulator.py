"""Every client call, and the notices that follow, against the real simulator over HTTP.

The simulator (pos.sandbox) is the server side of the same protocol written
independently from its reference; these tests check the two sides agree on the
wire: signatures both ways, field shapes, notices, refund crypto and bill text.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from pos.sandbox.testing import RunningSimulator, running_simulator
from pos.wechatpay import notices
from pos.wechatpay.bills import parse_bill
from pos.wechatpay.client import WeChatPayClient
from pos.wechatpay.errors import BillNotReady, BusinessError, NoBill, ProtocolFail
from pos.wechatpay.modeone import bizpayurl
from pos.wechatpay.testing import FakeGateway
from pos.wechatpay.times import BEIJING


@pytest.fixture
def sim(merchant) -> Iterator[RunningSimulator]:
    with running_simulator(
        time_scale=0.001,
        close_min_age=0,
        callback_url=merchant.url + "/callback",
        refund_notify_url=merchant.url + "/refund-notify",
    ) as running:
        yield running


def client_for(sim: RunningSimulator, **options) -> WeChatPayClient:
    return WeChatPayClient(
        sim.appid, sim.mch_id, sim.api_key, api_base=sim.base_url, timeout=5, backoff=0, **options
    )


def order_args(merchant: FakeGateway, out_trade_no: str, total_fee: int = 1250) -> dict:
    now = datetime.now(BEIJING)
    return {
        "out_trade_no": out_trade_no,
        "total_fee": total_fee,
        "body": "演示小店-咖啡",
        "notify_url": merchant.url + "/notify",
        "product_id": "SKU-001",
        "spbill_create_ip": "127.0.0.1",
        "time_start": now,
        "time_expire": now + timedelta(minutes=15),
        "attach": "till-01",
    }


def wait_for(merchant: FakeGateway, path: str, count: int = 1, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while len(merchant.requests_to(path)) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return merchant.requests_to(path)


def sim_today(sim: RunningSimulator):
    return datetime.fromtimestamp(sim.advance(0), BEIJING).date()


@pytest.mark.parametrize("sign_type", ["MD5", "HMAC-SHA256"])
def test_order_pay_notice_query_refund_bill(sim, merchant, sign_type):
    client = client_for(sim, sign_type=sign_type)
    out_trade_no = f"S01-01-{sign_type[:3]}-0001"

    order = client.unified_order(**order_args(merchant, out_trade_no))
    assert order.code_url.startswith("weixin://") and order.prepay_id
    assert client.query_order(out_trade_no).trade_state == "NOTPAY"

    transaction_id = sim.pay(order.code_url)

    # The notice: read, then verify with the order's sign type (the notice names none).
    (seen,) = wait_for(merchant, "/notify")
    fields = notices.read_notice(seen.body)
    assert "sign_type" not in fields
    notice = notices.verify_payment_notice(
        fields, api_key=sim.api_key, appid=sim.appid, mch_id=sim.mch_id, order_sign_type=sign_type
    )
    assert (notice.out_trade_no, notice.transaction_id, notice.total_fee) == (
        out_trade_no,
        transaction_id,
        1250,
    )
    assert notice.trade_type == "NATIVE" and notice.attach == "till-01"

    status = client.query_order(out_trade_no)
    assert status.trade_state == "SUCCESS" and status.paid
    assert (status.transaction_id, status.total_fee, status.time_end) == (
        transaction_id,
        1250,
        notice.time_end,
    )
    assert status.openid == notice.openid
    assert client.query_order(transaction_id=transaction_id).out_trade_no == out_trade_no

    # A partial refund, its notice, and the refund query.
    accepted = client.refund(
        out_refund_no=out_trade_no + "-R1", out_trade_no=out_trade_no, total_fee=1250, refund_fee=250
    )
    assert accepted.refund_fee == 250 and accepted.refund_id
    again = client.refund(
        out_refund_no=out_trade_no + "-R1", out_trade_no=out_trade_no, total_fee=1250, refund_fee=250
    )
    assert again.refund_id == accepted.refund_id  # same out_refund_no: the same refund, not a second one
    (refund_seen, *_) = wait_for(merchant, "/refund-notify")
    refund_notice = notices.parse_refund_notice(
        refund_seen.body, api_key=sim.api_key, appid=sim.appid, mch_id=sim.mch_id
    )
    assert (refund_notice.out_refund_no, refund_notice.refund_fee, refund_notice.total_fee) == (
        out_trade_no + "-R1",
        250,
        1250,
    )
    refunds = client.refund_query(out_trade_no=out_trade_no)
    assert refunds.refund_count == 1
    (item,) = refunds.refunds
    assert (item.out_refund_no, item.refund_fee, item.refund_id) == (
        out_trade_no + "-R1",
        250,
        accepted.refund_id,
    )
    assert item.refund_status in ("SUCCESS", "PROCESSING")

    # The day's bills, read by our parser.
    day = sim_today(sim)
    for gzip in (True, False):
        bill = parse_bill(client.download_bill(day, "ALL", gzip=gzip))
        assert bill.layout == "ALL"
        ours = [row for row in bill.rows if row.out_trade_no == out_trade_no]
        assert {row.trade_state for row in ours} == {"SUCCESS", "REFUND"}
        paid_row = next(row for row in ours if row.trade_state == "SUCCESS")
        assert paid_row.total_fee == 1250 and paid_row.transaction_id == transaction_id
        assert bill.summary.count == len(bill.rows)
    success = parse_bill(client.download_bill(day, "SUCCESS"))
    assert success.layout == "SUCCESS" and [r.total_fee for r in success.rows] == [1250]
    refund_bill = parse_bill(client.download_bill(day, "REFUND"))
    assert refund_bill.layout == "REFUND" and [r.refund_fee for r in refund_bill.rows] == [250]


def test_close_unpaid_then_reuse_is_refused(sim, merchant):
    client = client_for(sim)
    client.unified_order(**order_args(merchant, "S01-01-CLOSE-0001"))
    closed = client.close_order("S01-01-CLOSE-0001")
    assert closed.out_trade_no == "S01-01-CLOSE-0001"
    assert client.query_order("S01-01-CLOSE-0001").trade_state == "CLOSED"
    with pytest.raises(BusinessError) as info:
        client.unified_order(**order_args(merchant, "S01-01-CLOSE-0001"))
    assert info.value.err_code == "ORDERCLOSED"


def test_close_paid_order_says_orderpaid(sim, merchant):
    client = client_for(sim)
    order = client.unified_order(**order_args(merchant, "S01-01-PAID-0001"))
    sim.pay(order.code_url, notify=False)
    with pytest.raises(BusinessError) as info:
        client.close_order("S01-01-PAID-0001")
    assert info.value.err_code == "ORDERPAID"


def test_reentry_same_arguments_and_changed_amount(sim, merchant):
    client = client_for(sim)
    args = order_args(merchant, "S01-01-AGAIN-0001")
    first = client.unified_order(**args)
    second = client.unified_order(**args)
    assert second.code_url and second.prepay_id
    assert first.code_url.startswith("weixin://")
    with pytest.raises(BusinessError) as info:
        client.unified_order(**{**args, "total_fee": 999})
    assert info.value.err_code in ("INVALID_REQUEST", "OUT_TRADE_NO_USED")


def test_unknown_order(sim):
    with pytest.raises(BusinessError) as info:
        client_for(sim).query_order("S01-01-NOPE-0001")
    assert info.value.err_code == "ORDERNOTEXIST"


def test_wrong_key_is_a_protocol_fail(sim, merchant):
    client = WeChatPayClient(sim.appid, sim.mch_id, "0" * 32, api_base=sim.base_url, backoff=0)
    with pytest.raises(ProtocolFail) as info:
        client.unified_order(**order_args(merchant, "S01-01-KEY-0001"))
    assert "签名" in info.value.return_msg


def test_mode_one_short_url_scan_and_callback(sim, merchant):
    client = client_for(sim)
    answered = []

    def callback(fields):
        scan = notices.verify_scan_callback(fields, api_key=sim.api_key, appid=sim.appid, mch_id=sim.mch_id)
        order = client.unified_order(
            **{**order_args(merchant, "S01-01-M1-0001"), "product_id": scan.product_id}, openid=scan.openid
        )
        answered.append(scan)
        return notices.scan_reply(order.prepay_id, appid=sim.appid, mch_id=sim.mch_id, api_key=sim.api_key)

    merchant.answer("/callback", callback)
    long_url = bizpayurl("SKU-001", appid=sim.appid, mch_id=sim.mch_id, api_key=sim.api_key)
    short = client.short_url(long_url)
    assert short.startswith("weixin://wxpay/s/")

    sim.scan(short)
    assert [scan.product_id for scan in answered] == ["SKU-001"]
    (seen,) = wait_for(merchant, "/notify")
    notice = notices.parse_payment_notice(seen.body, api_key=sim.api_key, appid=sim.appid, mch_id=sim.mch_id)
    assert notice.out_trade_no == "S01-01-M1-0001" and notice.openid == answered[0].openid


def test_mode_one_refusal_reaches_the_customer(sim, merchant):
    merchant.answer(
        "/callback",
        lambda fields: notices.scan_fail_reply(
            "商品已售完", appid=sim.appid, mch_id=sim.mch_id, api_key=sim.api_key
        ),
    )
    from pos.sandbox.testing import SimulatorError

    with pytest.raises(SimulatorError, match="商品已售完"):
        sim.scan(bizpayurl("SKU-001", appid=sim.appid, mch_id=sim.mch_id, api_key=sim.api_key))


def test_no_bill_for_a_day_without_trades(sim):
    with pytest.raises(NoBill):
        client_for(sim).download_bill(sim_today(sim) - timedelta(days=30))


def test_bill_creating_before_ten_the_next_day():
    with running_simulator(bill_creating=True) as sim, pytest.raises(BillNotReady):
        client_for(sim).download_bill(sim_today(sim))


def test_simulator_writes_the_same_bill_columns():
    """The simulator keeps its own copy of the layouts; they must stay the ones we read."""
    from pos.sandbox import bills as sim_bills
    from pos.wechatpay import bills

    assert sim_bills.ALL_COLUMNS == bills.ALL_COLUMNS
    assert sim_bills.SUCCESS_COLUMNS == bills.SUCCESS_COLUMNS
    assert sim_bills.REFUND_COLUMNS == bills.REFUND_COLUMNS
    assert sim_bills.SUMMARY_COLUMNS == bills.SUMMARY_COLUMNS
