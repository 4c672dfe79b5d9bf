"""Refunds of a coupon payment on v2's wire, our client against the simulator over HTTP: the refund
answer, the refund notice's req_info, refundquery and the bill carry the refund's settlement
figures, and the client reads them (reference/wechatpay-v2.md §7, §8.3).

The order is 18.00 paid with a 3.00 coupon; refunds of 6.00 then 12.00 give the coupon back in
proportion (1.00, then the remaining 2.00: pos.sandbox.coupons).
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
from pos.wechatpay.testing import FakeGateway
from pos.wechatpay.times import BEIJING

# funded_by -> coupon_type, and each refund's (refund, coupon share, 应结退款金额, 充值券退款金额)
KINDS = {
    "merchant": ("NO_CASH", [(600, 100, 500, 0), (1200, 200, 1000, 0)]),
    "wechat": ("CASH", [(600, 100, 600, 100), (1200, 200, 1200, 200)]),
}


@pytest.fixture
def sim(merchant) -> Iterator[RunningSimulator]:
    with running_simulator(time_scale=0.001, refund_notify_url=merchant.url + "/refund-notify") as running:
        yield running


def refund_notices(merchant: FakeGateway, sim: RunningSimulator, count: int) -> list[notices.RefundNotice]:
    deadline = time.monotonic() + 10
    while len(merchant.requests_to("/refund-notify")) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return [
        notices.parse_refund_notice(seen.body, api_key=sim.api_key, appid=sim.appid, mch_id=sim.mch_id)
        for seen in merchant.requests_to("/refund-notify")
    ]


@pytest.mark.parametrize("funded_by", ["merchant", "wechat"])
def test_a_coupon_payments_refunds_carry_their_settlement_figures(sim, merchant, funded_by):
    coupon_type, refunds = KINDS[funded_by]
    client = WeChatPayClient(sim.appid, sim.mch_id, sim.api_key, api_base=sim.base_url, timeout=5, backoff=0)
    sim.set_faults(coupon={"fee": 300, "funded_by": funded_by})
    no = f"S01-01-CR{funded_by[:3]}-0001"
    placed = client.unified_order(
        out_trade_no=no, total_fee=1800, body="拿铁", notify_url=merchant.url + "/notify",
        product_id="SKU", spbill_create_ip="127.0.0.1",
        time_expire=datetime.now(BEIJING) + timedelta(minutes=15),
    )  # fmt: skip
    sim.pay(placed.code_url)

    for n, (fee, share, settled, _) in enumerate(refunds, start=1):
        accepted = client.refund(out_refund_no=f"{no}-R{n}", out_trade_no=no, total_fee=1800, refund_fee=fee)
        assert (accepted.refund_fee, accepted.settlement_refund_fee) == (fee, settled)
        assert (accepted.coupon_refund_fee, accepted.cash_refund_fee) == (share, fee - share)
        assert accepted.fields["coupon_refund_count"] == "1"
        assert accepted.fields["coupon_type_0"] == coupon_type
        assert accepted.fields["coupon_refund_fee_0"] == str(share)

    received = refund_notices(merchant, sim, 2)
    assert sorted((n.refund_fee, n.settlement_refund_fee) for n in received) == [
        (f, s) for f, _, s, _ in refunds
    ]
    assert {n.fields["settlement_total_fee"] for n in received} == {
        "1500" if funded_by == "merchant" else "1800"
    }

    status = client.refund_query(out_trade_no=no)
    assert [(i.refund_fee, i.coupon_refund_fee, i.settlement_refund_fee) for i in status.refunds] == [
        (f, c, s) for f, c, s, _ in refunds
    ]
    assert status.refunds[0].fields["coupon_type_0"] == coupon_type

    day = datetime.fromtimestamp(sim.advance(0), BEIJING).date()
    for bill_type in ("ALL", "REFUND"):
        bill = parse_bill(client.download_bill(day, bill_type))
        rows = [r for r in bill.rows if r.out_trade_no == no and r.trade_state == "REFUND"]
        # 申请退款金额, 退款金额 (= 应结退款金额), 充值券退款金额
        assert [(r.refund_request_fee, r.refund_fee, r.coupon_refund_fee) for r in rows] == [
            (f, s, cash) for f, _, s, cash in refunds
        ]
        assert bill.summary.refund_fee == sum(s for _, _, s, _ in refunds)
        assert bill.summary.refund_request_fee == 1800


def test_a_refund_without_a_coupon_settles_back_what_it_refunds(sim, merchant):
    client = WeChatPayClient(sim.appid, sim.mch_id, sim.api_key, api_base=sim.base_url, timeout=5, backoff=0)
    placed = client.unified_order(
        out_trade_no="S01-01-CRNONE-1", total_fee=900, body="茶", notify_url=merchant.url + "/notify",
        product_id="SKU", spbill_create_ip="127.0.0.1",
    )  # fmt: skip
    sim.pay(placed.code_url)
    accepted = client.refund(out_refund_no="S01-01-CRNONE-1-R1", out_trade_no="S01-01-CRNONE-1",
                             total_fee=900, refund_fee=400)  # fmt: skip
    assert (accepted.settlement_refund_fee, accepted.coupon_refund_fee, accepted.cash_refund_fee) == (
        400,
        0,
        400,
    )
    (notice,) = refund_notices(merchant, sim, 1)
    assert notice.settlement_refund_fee == 400
