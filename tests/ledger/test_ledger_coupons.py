"""Coupons in the ledger: each payment keeps what the customer paid, the coupons and what the merchant
settles; the sale keeps its accepted payment's figures; the price (total_fee) decides the amount."""

from __future__ import annotations

import pytest

from pos.ledger import InvalidInput, PaidStatus, SaleState
from pos.ledger.payments import coupon_figures


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ((1000, None, None, None), (1000, 0, 1000)),  # no coupon fields at all
        ((1000, 1000, None, None), (1000, 0, 1000)),
        ((1000, 700, None, None), (700, 300, 1000)),  # a WeChat-funded coupon: settles in full
        ((1000, 700, 300, 700), (700, 300, 700)),  # the merchant's own coupon: settles less
        ((1000, None, 300, 800), (700, 300, 800)),  # the bill: coupons and settlement, no cash
        ((1000, 700, 300, 900), (700, 300, 900)),  # what WeChat sent is kept, even if odd
    ],
)
def test_coupon_figures_complete_what_wechat_left_out(given, kept):
    assert coupon_figures(*given) == kept


def test_a_merchant_coupon_payment_pays_the_sale_at_its_price_and_keeps_both_figures(ledger, make):
    sale = make.awaiting(total_fee=1800)
    assert (sale.cash_fee, sale.coupon_fee, sale.settlement_total_fee) == (None, None, None)
    outcome = make.pay(sale, cash_fee=1500, coupon_fee=300, settlement_total_fee=1500)
    assert outcome.status is PaidStatus.PAID
    paid = ledger.get_sale(sale.id)
    assert paid.state is SaleState.PAID and paid.total_fee == 1800
    assert (paid.cash_fee, paid.coupon_fee, paid.settlement_total_fee) == (1500, 300, 1500)
    assert paid.used_coupon
    (payment,) = ledger.payments_for_sale(sale.id)
    assert (payment.total_fee, payment.cash_fee, payment.coupon_fee, payment.settlement_total_fee) == (
        1800,
        1500,
        300,
        1500,
    )
    assert outcome.sale is not None and outcome.sale.settlement_total_fee == 1500


def test_a_plain_payment_settles_its_total(ledger, make):
    sale = make.awaiting(total_fee=990)
    make.pay(sale, cash_fee=990)
    paid = ledger.get_sale(sale.id)
    assert (paid.cash_fee, paid.coupon_fee, paid.settlement_total_fee) == (990, 0, 990)
    assert not paid.used_coupon


def test_a_customer_paying_less_than_the_price_is_not_a_wrong_amount(ledger, make):
    """cash_fee below the price is a coupon, not an underpayment: total_fee alone is compared."""
    sale = make.awaiting(total_fee=1800)
    assert make.pay(sale, cash_fee=1, coupon_fee=1799).status is PaidStatus.PAID


def test_a_wrong_total_with_a_coupon_is_still_a_wrong_amount_and_keeps_its_figures(ledger, make):
    sale = make.awaiting(total_fee=1800)
    outcome = make.pay(sale, total_fee=1700, cash_fee=1400, coupon_fee=300, settlement_total_fee=1400)
    assert outcome.status is PaidStatus.AMOUNT_MISMATCH
    after = ledger.get_sale(sale.id)
    assert after.state is SaleState.AWAITING_PAYMENT and after.settlement_total_fee is None
    (kept,) = ledger.payments_for_sale(sale.id)
    assert not kept.accepted and (kept.cash_fee, kept.settlement_total_fee) == (1400, 1400)


@pytest.mark.parametrize("field", ["coupon_fee", "settlement_total_fee", "cash_fee"])
def test_a_negative_coupon_figure_is_refused_without_writing(ledger, make, field):
    sale = make.awaiting()
    with pytest.raises(InvalidInput, match=field):
        make.pay(sale, **{field: -1})
    assert ledger.get_sale(sale.id).state is SaleState.AWAITING_PAYMENT
    assert ledger.payments_for_sale(sale.id) == []
