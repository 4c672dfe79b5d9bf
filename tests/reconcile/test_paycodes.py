"""Payment codes in the day's reconciliation, over real HTTP: WeChat's bill lists a code payment
under its attempt's number (``<sale's number>-M<n>``); the simulator's bill of a simulated day is
matched against a real ledger (SQLite and PostgreSQL) where the codes were charged."""

from __future__ import annotations

import requests

from pos.ledger import FlagKind, Sale, SaleState
from pos.ledger.micropay import attempt_number, sale_number
from pos.orders.micropay import CodePayment
from pos.reconcile import DifferenceKind


def make_code(shop, outcome: str) -> str:
    return shop.sim.paycode(outcome)


def desk(shop) -> CodePayment:
    # The shop's clock is the simulator's; sleeping moves it (60 s of queries take no real time).
    return CodePayment(shop.ledger, shop.client, language="en", clock=shop.now, sleep=shop.advance,
                       interval=5, deadline=60)  # fmt: skip


def code_sale(shop, fee: int) -> Sale:
    return shop.checkout.ring_up_unordered(amount_fen=fee)


def test_attempt_numbers_map_to_their_sale():
    assert attempt_number("S01-01-20261127-0042", 2) == "S01-01-20261127-0042-M2"
    assert sale_number("S01-01-20261127-0042-M12") == "S01-01-20261127-0042"
    assert sale_number("S01-01-20261127-0042") == "S01-01-20261127-0042"
    assert sale_number("S01-01-20261127-0042-M0") == "S01-01-20261127-0042-M0"  # never allocated


def test_a_sale_paid_by_code_matches_its_attempts_row(shop):
    by_qr = shop.pay_by_notice(shop.ring_up(1250))
    sale = code_sale(shop, 1880)
    outcome = desk(shop).pay(sale.id, make_code(shop, "paid"))
    assert outcome.paid and outcome.out_trade_no == sale.out_trade_no + "-M1"
    result = shop.reconcile()
    assert result.status == "matched", [d.detail for d in result.differences]
    assert result.bill_rows == 2 and result.matched == 2
    assert shop.ledger.get_sale(by_qr.id).state is SaleState.PAID


def test_a_reversed_attempt_then_a_paid_one_is_no_difference(shop):
    sale = code_sale(shop, 1880)
    first = desk(shop).pay(sale.id, make_code(shop, "unknown"))
    assert first.status == "reversed"
    second = desk(shop).pay(sale.id, make_code(shop, "paid"))
    assert second.paid and second.out_trade_no == sale.out_trade_no + "-M2"
    result = shop.reconcile()
    assert result.status == "matched", [d.detail for d in result.differences]
    assert result.differences == ()


def test_a_reversed_attempt_charged_after_all_is_named_and_never_pays_the_sale(shop):
    sale = code_sale(shop, 1880)
    code = make_code(shop, "unknown")
    first = desk(shop).pay(sale.id, code)
    assert first.status == "reversed"
    late = requests.post(shop.sim.base_url + f"/_sim/paycode/{code}", json={"action": "pay", "late": True},
                         timeout=5)  # fmt: skip
    assert late.status_code == 200  # WeChat's back end settled the reversed order after all
    result = shop.reconcile()
    assert result.status == "differences"
    [difference] = result.differences
    assert difference.kind is DifferenceKind.STATE and difference.out_trade_no == first.out_trade_no
    assert difference.bill_fee == 1880 and "撤销" in difference.detail and "退还" in difference.detail
    assert shop.ledger.get_sale(sale.id).state is SaleState.NEW  # not marked paid from the bill


def test_a_code_payment_the_ledger_missed_is_found_under_the_sales_number(shop):
    sale = code_sale(shop, 1880)
    code = make_code(shop, "password")
    pending = desk(shop).pay(sale.id, code, wait=False)  # the till went down while the customer typed
    assert pending.status == "userpaying"
    requests.post(shop.sim.base_url + f"/_sim/paycode/{code}", json={"action": "pay"}, timeout=5)
    result = shop.reconcile()
    [difference] = result.differences
    assert difference.kind is DifferenceKind.PAID_AT_WECHAT_ONLY
    assert difference.out_trade_no == pending.out_trade_no
    paid = shop.ledger.get_sale(sale.id)
    assert paid.state is SaleState.PAID and paid.transaction_id == difference.transaction_id
    assert shop.reconcile().status == "matched"  # run again: the bill and the ledger now agree


def test_the_watchers_flag_and_the_reconciliation_agree_on_the_late_success(shop):
    sale = code_sale(shop, 900)
    code = make_code(shop, "unknown")
    payment = desk(shop)
    first = payment.pay(sale.id, code)
    requests.post(
        shop.sim.base_url + f"/_sim/paycode/{code}", json={"action": "pay", "late": True}, timeout=5
    )
    assert payment.recheck(sale.id) == [first.out_trade_no]
    assert [f.kind for f in shop.ledger.flags_for_sale(sale.id)] == [FlagKind.PAID_AFTER_REVERSE]
    assert [d.out_trade_no for d in shop.reconcile().differences] == [first.out_trade_no]
