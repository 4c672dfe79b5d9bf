"""Coupons on the wire: a payment code paid with the simulator's coupon switch on answers with the
coupons' total and 应结订单金额 but no per-coupon list (as WeChat's micropay answer), and the order query
has the list; the client reads both figures from either (reference/wechatpay-micropay.md §5.2)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from pos.sandbox.testing import RunningSimulator, running_simulator
from pos.wechatpay.client import WeChatPayClient
from pos.wechatpay.micropay import micropay


@pytest.fixture
def sim() -> Iterator[RunningSimulator]:
    with running_simulator(time_scale=0.001) as running:
        yield running


@pytest.mark.parametrize(("funded_by", "settled"), [("merchant", 580), ("wechat", None)])
def test_the_micropay_answer_and_the_query_carry_the_coupon(sim, funded_by, settled):
    sim.set_faults(coupon={"fee": 300, "funded_by": funded_by})
    code = requests.post(sim.base_url + "/_sim/paycode", json={"outcome": "paid"}, timeout=5).json()[
        "auth_code"
    ]
    with WeChatPayClient(
        sim.appid, sim.mch_id, sim.api_key, api_base=sim.base_url, timeout=5, backoff=0
    ) as client:
        paid = micropay(client, out_trade_no=f"S01-01-COUPON-{funded_by}", total_fee=880, body="店-咖啡",
                        auth_code=code, spbill_create_ip="127.0.0.1")  # fmt: skip
        assert (paid.total_fee, paid.cash_fee, paid.coupon_fee, paid.settlement_total_fee) == (
            880,
            580,
            300,
            settled,
        )
        assert "coupon_count" not in paid.fields and "coupon_fee_0" not in paid.fields
        status = client.query_order(paid.out_trade_no)
    assert (status.total_fee, status.cash_fee, status.coupon_fee, status.settlement_total_fee) == (
        880,
        580,
        300,
        settled,
    )
    assert status.fields["coupon_count"] == "1" and status.fields["coupon_fee_0"] == "300"
    assert status.fields["coupon_type_0"] == {"merchant": "NO_CASH", "wechat": "CASH"}[funded_by]
