"""Refunds of a coupon payment on v3's wire, our v3 client against the simulator: the refund answer
and query carry ``amount.settlement_refund``, ``discount_refund``, ``payer_refund`` and a
``promotion_detail`` entry with its ``refund_amount``; the refund notice carries the documented
amount only (total, refund, payer_total, payer_refund: wechatpay-v3.md §8.3), so it reads no
settlement refund rather than a wrong one."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from pos.wechatpay.times import BEIJING
from pos.wechatpay.v3 import Verifier
from pos.wechatpay.v3.notices import parse_notice

# funded_by -> promotion type in v3's refund words, 应结退款金额 of a 6.00 refund (coupon share 1.00)
KINDS = {"merchant": ("DISCOUNT", 500), "wechat": ("COUPON", 600)}


@pytest.mark.parametrize("funded_by", ["merchant", "wechat"])
def test_a_coupon_refund_on_v3_carries_the_settlement_refund(sim, merchant, helpers, funded_by):
    kind, settled = KINDS[funded_by]
    client = helpers.v3_client(sim)
    sim.set_faults(coupon={"fee": 300, "funded_by": funded_by})
    no = f"V3CR{funded_by[:3].upper()}0001"
    placed = client.unified_order(
        out_trade_no=no, total_fee=1800, body="拿铁", notify_url=merchant.url + "/notify",
        product_id="SKU", spbill_create_ip="127.0.0.1",
        time_expire=datetime.now(BEIJING) + timedelta(minutes=15),
    )  # fmt: skip
    sim.pay(placed.code_url)

    accepted = client.refund(out_refund_no=no + "R1", total_fee=1800, refund_fee=600, out_trade_no=no)
    assert (accepted.refund_fee, accepted.settlement_refund_fee) == (600, settled)
    assert (accepted.coupon_refund_fee, accepted.cash_refund_fee) == (100, 500)
    assert accepted.fields["promotion_detail.0.type"] == kind
    assert accepted.fields["promotion_detail.0.refund_amount"] == "100"
    (item,) = client.refund_query(out_refund_no=no + "R1").refunds
    assert (item.refund_fee, item.settlement_refund_fee, item.coupon_refund_fee) == (600, settled, 100)

    seen = helpers.wait_for(merchant, "/refund-notify")[0]
    v3 = sim.v3
    notice = parse_notice(
        seen.headers, seen.body, apiv3_key=v3["apiv3_key"], mchid=v3["mchid"], appid=v3["appid"],
        verifier=Verifier.public_key(v3["wechatpay_public_key_id"], v3["wechatpay_public_key"]),
    )  # fmt: skip
    assert notice.refund_fee == 600 and notice.fields["amount.payer_refund"] == "500"
    assert notice.settlement_refund_fee is None  # not in the notice; payer_refund is not it
