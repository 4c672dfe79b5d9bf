"""The bill download answers SYSTEMERROR or hangs (the simulator's ``calls`` switch): an error run
that changes nothing, and the next run reconciles the day."""

from __future__ import annotations

import dataclasses

import pytest

from pos.ledger import SaleState
from pos.reconcile import reconcile_day
from pos.wechatpay import WeChatPayClient


@pytest.mark.parametrize("fault", ["systemerror", "timeout"])
def test_a_bill_that_fails_is_an_error_run_then_the_day_reconciles(shop, sim, fault):
    paid = shop.pay_by_notice(shop.ring_up(1800))
    sim.set_faults(calls={"download_bill": {"fault": fault, "times": 1}}, hang_seconds=0.6)
    quick = dataclasses.replace(shop.config.merchant, timeout=0.3)
    with WeChatPayClient.from_config(quick, retries=0, backoff=0) as client:
        failed = reconcile_day(shop.ledger, client, shop.config, shop.day)
    assert sim.sim.settings.faults.calls == {}  # the spoiled download happened
    assert failed.status == "error" and failed.matched == 0 and failed.differences == ()
    assert failed.message
    assert shop.ledger.get_sale(paid.id).state is SaleState.PAID
    assert shop.ledger.flags_for_sale(paid.id) == []  # nothing touched
    later = shop.reconcile()
    assert later.status == "matched" and later.matched == 1


@pytest.mark.parametrize("funded_by", ["merchant", "wechat"])
def test_a_coupon_payment_is_paid_in_full_keeps_the_cash_and_reconciles(shop, sim, funded_by):
    sim.set_faults(coupon={"fee": 300, "funded_by": funded_by})
    paid = shop.pay_by_notice(shop.ring_up(1800))
    assert paid.state is SaleState.PAID
    assert shop.ledger.flags_for_sale(paid.id) == []  # not an amount mismatch
    [payment] = shop.ledger.payments_for_sale(paid.id)
    assert (payment.total_fee, payment.cash_fee) == (1800, 1500)  # the sale's price; what the customer paid
    result = shop.reconcile()
    assert result.status == "matched" and result.matched == 1, result.message
