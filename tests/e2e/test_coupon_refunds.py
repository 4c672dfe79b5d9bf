"""Refunds of coupon payments on API v2 and v3 (``api``) and both databases (``database``).

An 18.00 sale paid with a 3.00 coupon is refunded 6.00, then the rest (12.00), through the
manager's RefundService, against the simulator over real HTTP (v2: mutual TLS). The simulator
gives the coupon back in proportion (pos.sandbox.coupons: 1.00 of the first refund, 2.00 of the
second); a merchant-funded (免充值) coupon's share is not the merchant's to give back, so the
refunds' settlement figures (应结退款金额) are 5.00 and 10.00, and what the merchant keeps is 0.
A WeChat-funded coupon's share goes back to its fund out of the merchant's settlement: there the
settlement refunds are the refunds. The ledger keeps WeChat's figures; the day view, ``pos report``
and the Z report show settled refunds and the settled net; WeChat's bill (退款金额 = the settlement
refund, 申请退款金额 = the refund) reconciles without a false difference, and a bill whose
settlement refund is not the ledger's is a ``settlement`` difference naming the refund.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pos.ledger import RefundState, SaleState
from pos.ledger.reconciliation import DifferenceKind
from pos.manager.cli import format_figures
from pos.manager.words import Words
from pos.orders.refunds import RefundService
from pos.receipts import templates
from pos.reconcile import reconcile_day
from pos.reports import day as report
from pos.sandbox.testing import running_simulator
from pos.wechatpay.factory import client_for

# funded_by -> (what the merchant settles for the sale, the two refunds' settlement figures)
SETTLES = {"merchant": (1500, 500, 1000), "wechat": (1800, 600, 1200)}


@pytest.fixture
def sim():
    """The simulator with its HTTPS port too: v2 refunds need the merchant's client certificate."""
    with running_simulator(tls=True, time_scale=0.001) as running:
        yield running


def coupon_sale(shop, sim, e2e, funded_by: str) -> dict:
    sim.set_faults(coupon={"fee": 300, "funded_by": funded_by})
    sale = shop.ring_up("18.00")
    sim.pay(sale["code_url"], notify=True)
    e2e.wait_until(lambda: shop.state(sale["id"]) is SaleState.PAID, "PAID by the notice")
    sim.set_faults(coupon={})
    return sale


def reconcile(shop):
    with client_for(shop.config.merchant) as client:
        return reconcile_day(shop.ledger, client, shop.config, shop.day)


def refunds_service(shop) -> RefundService:
    return RefundService(shop.ledger, shop.till.till.client, shop.config, clock=shop.till.till.clock)


def figures_shown(shop, e2e) -> tuple[dict, str, str, list[str]]:
    """The day as the manager's JSON and page, ``pos report`` and the printed Z report show it."""
    http, _ = e2e.manager_session(shop.till)
    day = http.get(shop.till.url(f"/manager/api/day?date={shop.day.isoformat()}"), timeout=30).json()
    page = http.get(shop.till.url(f"/manager/day?date={shop.day.isoformat()}"), timeout=30).text
    figures = report.day_figures(shop.ledger, shop.day, store=shop.config.store.id)
    terminal = format_figures(figures, shop.config, Words("en"))
    data = report.z_report_data(shop.ledger, shop.config, shop.day, printed_at=datetime.now(UTC))
    z = templates.z_report(data, 42, "en").text_lines()
    return day, page, terminal, z


@pytest.mark.parametrize("funded_by", ["merchant", "wechat"])
def test_a_coupon_sale_refunded_in_part_then_in_full_settles_and_reconciles(api, shop, sim, e2e, funded_by):
    settled, first_back, second_back = SETTLES[funded_by]
    sale = coupon_sale(shop, sim, e2e, funded_by)
    refunds = refunds_service(shop)

    first = refunds.refund(sale["id"], 600)
    assert first.state is RefundState.SUCCEEDED
    kept = shop.ledger.get_refund(first.out_refund_no)
    assert kept.settled_refund_fee == first_back
    assert kept.cash_refund_fee == 500  # 1.00 of the coupon went back to the coupon
    assert kept.settlement_refund_fee == (None if funded_by == "wechat" else first_back)  # NULL: = refund
    assert shop.state(sale["id"]) is SaleState.PARTLY_REFUNDED

    day, page, terminal, z = figures_shown(shop, e2e)
    assert (day["paid_fee"], day["refunded_fee"], day["net_fee"]) == (1800, 600, 1200), day
    assert (day["settled_fee"], day["settled_refunded_fee"], day["settled_net_fee"]) == (
        settled,
        first_back,
        settled - first_back,
    ), day
    assert 'id="settled-refunded-total"' in page and 'id="settled-net-total"' in page
    assert "Settled net" in terminal and f"{(settled - first_back) / 100:.2f}" in terminal
    assert any("Settled refunds" in line and f"{first_back / 100:.2f}" in line for line in z), z
    assert any("Settled net" in line and f"{(settled - first_back) / 100:.2f}" in line for line in z), z

    result = reconcile(shop)
    assert (result.status, result.matched) == ("matched", 2), result.differences

    second = refunds.refund(sale["id"], 1200)
    assert second.state is RefundState.SUCCEEDED
    assert shop.ledger.get_refund(second.out_refund_no).settled_refund_fee == second_back
    assert shop.ledger.get_refund(second.out_refund_no).cash_refund_fee == 1000
    assert shop.state(sale["id"]) is SaleState.REFUNDED

    day, _, _, z = figures_shown(shop, e2e)
    assert (day["refunded_fee"], day["net_fee"]) == (1800, 0), day
    assert (day["settled_refunded_fee"], day["settled_net_fee"]) == (settled, 0), day
    assert any("Settled net" in line and "0.00" in line for line in z), z

    result = reconcile(shop)
    assert (result.status, result.matched) == ("matched", 3), result.differences


def test_a_sale_without_a_coupon_keeps_its_refund_as_the_settled_refund(api, shop, sim, e2e):
    sale = shop.ring_up("9.00")
    sim.pay(sale["code_url"], notify=True)
    e2e.wait_until(lambda: shop.state(sale["id"]) is SaleState.PAID, "PAID by the notice")
    refund = refunds_service(shop).refund(sale["id"], 400)
    kept = shop.ledger.get_refund(refund.out_refund_no)
    assert (kept.settlement_refund_fee, kept.cash_refund_fee) == (None, None)  # NULL: the refund's amount
    figures = report.day_figures(shop.ledger, shop.day, store=shop.config.store.id)
    assert (figures.settled_refunds, figures.settled_net_fee, figures.used_coupons) == (400, 500, False)
    assert (reconcile(shop).status, reconcile(shop).matched) == ("matched", 2)


def test_a_bill_whose_settlement_refund_is_not_the_ledgers_is_a_settlement_difference(api, shop, sim, e2e):
    sale = coupon_sale(shop, sim, e2e, "merchant")
    honest = shop.ring_up("7.00")
    sim.pay(honest["code_url"], notify=True)
    e2e.wait_until(lambda: shop.state(honest["id"]) is SaleState.PAID, "PAID by the notice")
    refund = refunds_service(shop).refund(sale["id"], 600)
    assert shop.ledger.get_refund(refund.out_refund_no).settled_refund_fee == 500
    # WeChat's bill then says the whole refund came out of the settlement (the coupon's 1.00 too).
    with sim.sim.state.lock:
        for order in sim.sim.state.orders.values():
            for at_wechat in order.refunds:
                if at_wechat.out_refund_no == refund.out_refund_no:
                    at_wechat.coupon_refund_fee = 0

    result = reconcile(shop)

    assert result.status == "differences" and result.matched == 2  # the two payments
    (difference,) = result.problems
    assert difference.kind is DifferenceKind.SETTLEMENT
    assert (difference.out_trade_no, difference.out_refund_no) == (sale["out_trade_no"], refund.out_refund_no)
    assert (difference.ledger_fee, difference.bill_fee) == (500, 600)
    assert refund.out_refund_no in difference.detail
    # Nothing in the ledger changed: the refund is as WeChat's answers said.
    assert shop.ledger.get_refund(refund.out_refund_no).settled_refund_fee == 500
    assert shop.state(sale["id"]) is SaleState.PARTLY_REFUNDED
