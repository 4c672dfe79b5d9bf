"""A v3 payment notice that carries coupons (``amount.payer_total`` and ``promotion_detail``) through the
real listener: the ledger keeps what the customer paid, the coupons and what the merchant settles, as
for v2. WeChat's side is the simulator's key signing a notice we seal (its own v3 notices carry no
``promotion_detail`` yet)."""

from __future__ import annotations

import pytest

from pos.ledger import SaleState
from pos.wechatpay.errors import InvalidField
from pos.wechatpay.v3 import results

from .test_v3_notices import post, ring_up, sealed_notice, stack, transaction, wechat_signed

__all__ = ["stack"]  # the fixture, imported to be used here


def coupon(amount: int, kind: str) -> dict:
    return {"coupon_id": f"C{amount}{kind}", "name": "店庆券", "scope": "GLOBAL", "type": kind,
            "amount": amount, "currency": "CNY"}  # fmt: skip


@pytest.mark.parametrize(
    ("promotions", "figures"),
    [
        ([coupon(300, "NOCASH")], (1500, 300, 1500)),  # the merchant's own coupon: settles less
        ([coupon(300, "CASH")], (1500, 300, 1800)),  # a funded coupon: settles the price
        ([coupon(100, "CASH"), coupon(200, "NOCASH")], (1500, 300, 1600)),
    ],
)
def test_a_v3_notice_with_coupons_keeps_both_figures(stack, promotions, figures):
    sale = ring_up(stack, 1800)
    inner = transaction(stack, sale)
    inner["amount"]["payer_total"] = 1500
    inner["promotion_detail"] = promotions
    body = sealed_notice(stack, inner)
    assert post(stack, body, wechat_signed(stack, body)).status_code == 204
    paid = stack.ledger.get_sale(sale.id)
    assert paid.state is SaleState.PAID and paid.total_fee == 1800
    assert (paid.cash_fee, paid.coupon_fee, paid.settlement_total_fee) == figures
    (payment,) = stack.ledger.payments_for_sale(sale.id)
    assert (payment.cash_fee, payment.coupon_fee, payment.settlement_total_fee) == figures
    assert stack.ledger.flags_for_sale(sale.id) == []


def test_a_v3_notice_without_promotions_settles_the_price(stack):
    sale = ring_up(stack, 1800)
    body = sealed_notice(stack, transaction(stack, sale))
    assert post(stack, body, wechat_signed(stack, body)).status_code == 204
    paid = stack.ledger.get_sale(sale.id)
    assert (paid.cash_fee, paid.coupon_fee, paid.settlement_total_fee) == (1800, 0, 1800)


@pytest.mark.parametrize("detail", ["not a list", [1], [{"type": "NOCASH", "amount": "300"}]])
def test_an_unreadable_promotion_detail_is_an_invalid_field(detail):
    with pytest.raises(InvalidField, match=r"promotion_detail|amount"):
        results.coupons({"amount": {"total": 1800}, "promotion_detail": detail})


def test_the_v3_figures_as_v2_names_them():
    data = {"amount": {"total": 1000, "payer_total": 700},
            "promotion_detail": [coupon(100, "CASH"), coupon(200, "NOCASH")]}  # fmt: skip
    assert results.coupons(data) == (300, 800)  # reference/wechatpay-micropay.md §5.4's example
    assert results.coupons({"amount": {"total": 1000}}) == (None, None)
    status = results.order_status({**data, "trade_state": "SUCCESS"})
    assert (status.cash_fee, status.coupon_fee, status.settlement_total_fee) == (700, 300, 800)
