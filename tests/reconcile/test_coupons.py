"""Coupons and reconciliation over real HTTP: the simulator's coupon switch, the listener's notices, the
watcher's queries and WeChat's bill. The ledger keeps what the customer paid (cash_fee), the coupons and
what the merchant settles (应结订单金额); the bill is matched on the order amount AND the settlement,
so a coupon payment matches and a wrong settlement is a ``settlement`` difference."""

from __future__ import annotations

import pytest

from pos.ledger import FlagKind, PaymentSource, SaleState
from pos.ledger.reconciliation import DifferenceKind, latest_reconciliation

# funded_by -> (customer paid, coupons, merchant settles) of an 18.00 sale with a 3.00 coupon
FIGURES = {"merchant": (1500, 300, 1500), "wechat": (1500, 300, 1800)}


def _figures(sale) -> tuple[int | None, int | None, int | None]:
    return sale.cash_fee, sale.coupon_fee, sale.settlement_total_fee


def _payment_figures(ledger, sale) -> tuple[int, int | None, int | None, int | None]:
    (payment,) = ledger.payments_for_sale(sale.id)
    return payment.total_fee, payment.cash_fee, payment.coupon_fee, payment.settlement_total_fee


@pytest.mark.parametrize("funded_by", ["merchant", "wechat"])
def test_a_notice_keeps_what_the_customer_paid_and_what_the_merchant_settles(shop, sim, funded_by):
    sim.set_faults(coupon={"fee": 300, "funded_by": funded_by})
    paid = shop.pay_by_notice(shop.ring_up(1800))
    assert paid.state is SaleState.PAID and paid.total_fee == 1800
    assert _figures(paid) == FIGURES[funded_by]
    assert _payment_figures(shop.ledger, paid) == (1800, *FIGURES[funded_by])
    assert shop.ledger.payments_for_sale(paid.id)[0].source is PaymentSource.NOTICE
    result = shop.reconcile()
    assert result.status == "matched" and result.matched == 1, result.differences


@pytest.mark.parametrize("funded_by", ["merchant", "wechat"])
def test_a_query_keeps_both_figures_and_the_day_reconciles(shop, sim, funded_by):
    sim.set_faults(coupon={"fee": 300, "funded_by": funded_by})
    sale = shop.ring_up(1800)
    shop.pay_silently(sale)
    shop.advance(3)
    shop.watcher.poll_once()  # the notice never came: the watcher's query finds the payment
    paid = shop.ledger.get_sale(sale.id)
    assert paid.state is SaleState.PAID and _figures(paid) == FIGURES[funded_by]
    assert shop.ledger.payments_for_sale(sale.id)[0].source is PaymentSource.QUERY
    result = shop.reconcile()
    assert result.status == "matched" and result.matched == 1, result.differences


def test_a_payment_found_only_by_the_bill_takes_its_figures_from_the_bill(shop, sim):
    sim.set_faults(coupon={"fee": 300, "funded_by": "merchant"})
    missed = shop.ring_up(1800)
    shop.pay_silently(missed)  # no notice, no watcher: only the bill knows
    result = shop.reconcile()
    (difference,) = result.problems
    assert difference.kind is DifferenceKind.PAID_AT_WECHAT_ONLY
    fixed = shop.ledger.get_sale(missed.id)
    assert fixed.state is SaleState.PAID and _figures(fixed) == (1500, 300, 1500)
    assert [f.kind for f in shop.ledger.flags_for_sale(missed.id)] == [FlagKind.MISSED_PAYMENT]
    assert shop.ledger.payments_for_sale(missed.id)[0].source is PaymentSource.BILL
    again = shop.reconcile()
    assert again.status == "matched" and again.matched == 1, again.differences


def test_a_wrong_settlement_is_a_settlement_difference_and_the_rest_still_matches(shop, sim):
    sim.set_faults(coupon={"fee": 300, "funded_by": "merchant"})
    wrong = shop.pay_by_notice(shop.ring_up(1800))
    honest = shop.pay_by_notice(shop.ring_up(900))
    # The ledger believes the merchant settles the whole price (as if it never heard of the coupon).
    shop.sql("UPDATE sales SET settlement_total_fee = total_fee WHERE id = :id", id=wrong.id)

    result = shop.reconcile()

    assert result.status == "differences" and result.matched == 1
    (difference,) = result.problems
    assert difference.kind is DifferenceKind.SETTLEMENT
    assert (difference.out_trade_no, difference.transaction_id) == (wrong.out_trade_no, wrong.transaction_id)
    assert (difference.ledger_fee, difference.bill_fee) == (1800, 1500)
    assert "应结订单金额不符" in difference.detail
    assert "￥15.00" in difference.detail and "￥18.00" in difference.detail
    assert honest.out_trade_no not in {d.out_trade_no for d in result.differences}
    stored = latest_reconciliation(shop.ledger, shop.day)  # kept with its kind in the database
    assert stored is not None and [d.kind for d in stored.problems] == [DifferenceKind.SETTLEMENT]
    # Nothing about the sale changed: it is paid at its price, as before.
    assert shop.ledger.get_sale(wrong.id).state is SaleState.PAID


def test_a_wrong_order_amount_is_still_an_amount_difference_not_a_settlement_one(shop, sim):
    sim.set_faults(coupon={"fee": 300, "funded_by": "merchant"})
    sale = shop.pay_by_notice(shop.ring_up(1800))
    shop.sql("UPDATE sales SET total_fee = 1700 WHERE id = :id", id=sale.id)
    (difference,) = shop.reconcile().problems
    assert difference.kind is DifferenceKind.AMOUNT
    assert (difference.ledger_fee, difference.bill_fee) == (1700, 1800)
