"""reconcile_day over real HTTP: the simulator's bill of a simulated day against a real SQLite ledger."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from pos.ledger import FlagKind, PaymentSource, SaleState
from pos.ledger.reconciliation import latest_reconciliation
from pos.reconcile import DifferenceKind, reconcile_day
from pos.wechatpay import WeChatPayClient


def test_a_full_day_reconciles_with_zero_differences(shop):
    by_notice = shop.pay_by_notice(shop.ring_up(1800))
    lost = shop.ring_up(1250)
    shop.pay_silently(lost)
    expired = shop.ring_up(900, name="柠檬茶")
    voided = shop.ring_up(2600, name="芝士蛋糕")
    partly = shop.pay_by_notice(shop.ring_up(3000))
    fully = shop.pay_by_notice(shop.ring_up(1500))
    other_store = shop.pay_by_notice(shop.ring_up(700, store="S02"))  # a shared ledger, one mch_id
    shop.advance(3)
    shop.watcher.poll_once()  # the lost notice: the watcher's query finds the payment
    assert shop.ledger.get_sale(lost.id).state is SaleState.PAID
    assert shop.ledger.payments_for_sale(lost.id)[0].source is PaymentSource.QUERY
    shop.advance(301)
    assert shop.checkout.void(voided.id).state is SaleState.VOIDED
    shop.refund(partly, 1000)
    shop.refund(fully, 1500)
    shop.advance(16 * 60)
    shop.watcher.poll_once()  # the deadline passed: closed at WeChat, EXPIRED
    states = {s.id: s.state for s in shop.ledger.sales_for_day(shop.day)}
    assert states[expired.id] is SaleState.EXPIRED
    assert states[partly.id] is SaleState.PARTLY_REFUNDED
    assert states[fully.id] is SaleState.REFUNDED
    assert states[by_notice.id] is states[other_store.id] is SaleState.PAID

    result = shop.reconcile()

    assert result.status == "matched", [d.detail for d in result.differences]
    assert result.differences == ()
    assert result.bill_rows == 7  # five payments, two refunds
    assert result.matched == 7
    assert result.id is not None
    assert latest_reconciliation(shop.ledger, shop.day) == result
    assert not [f for f in shop.ledger.open_flags() if f.kind is FlagKind.MISSED_PAYMENT]


def test_a_payment_the_ledger_missed_is_found_marked_paid_and_flagged(shop):
    paid = shop.pay_by_notice(shop.ring_up(1800))
    missed = shop.ring_up(2600)
    transaction_id = shop.pay_silently(missed)  # no notice, and no watcher running
    assert shop.ledger.get_sale(missed.id).state is SaleState.AWAITING_PAYMENT

    result = shop.reconcile()

    assert result.status == "differences"
    (difference,) = result.problems
    assert difference.kind is DifferenceKind.PAID_AT_WECHAT_ONLY
    assert (difference.out_trade_no, difference.transaction_id) == (missed.out_trade_no, transaction_id)
    assert (difference.ledger_fee, difference.bill_fee) == (2600, 2600)
    assert "已支付" in difference.detail and "待支付" in difference.detail
    assert result.matched == 1 and paid.out_trade_no not in {d.out_trade_no for d in result.differences}
    fixed = shop.ledger.get_sale(missed.id)
    assert fixed.state is SaleState.PAID and fixed.flagged and fixed.transaction_id == transaction_id
    assert [f.kind for f in shop.ledger.flags_for_sale(missed.id)] == [FlagKind.MISSED_PAYMENT]
    assert shop.ledger.payments_for_sale(missed.id)[0].source is PaymentSource.BILL
    assert [j.kind for j in shop.ledger.jobs_for_sale(missed.id)].count("confirmation") == 1

    again = shop.reconcile()  # fixed: the day matches now, and nothing is marked twice
    assert again.status == "matched" and again.matched == 2 and again.differences == ()
    assert len(shop.ledger.flags_for_sale(missed.id)) == 1
    assert latest_reconciliation(shop.ledger, shop.day) == again


def test_a_tampered_ledger_amount_is_reported(shop):
    sale = shop.pay_by_notice(shop.ring_up(1800))
    honest = shop.pay_by_notice(shop.ring_up(900))
    shop.sql("UPDATE sales SET total_fee = 1500 WHERE id = :id", id=sale.id)

    result = shop.reconcile()

    assert result.status == "differences"
    (difference,) = result.problems
    assert difference.kind is DifferenceKind.AMOUNT
    assert difference.out_trade_no == sale.out_trade_no
    assert (difference.ledger_fee, difference.bill_fee) == (1500, 1800)
    assert "￥18.00" in difference.detail and "￥15.00" in difference.detail
    assert result.matched == 1 and honest.out_trade_no not in difference.out_trade_no


def _foreign_order(shop, out_trade_no: str, fee: int) -> str:
    """An order another system placed on the same merchant account, paid: unknown to our ledger."""
    order = shop.client.unified_order(
        out_trade_no=out_trade_no,
        total_fee=fee,
        body="商城订单",
        notify_url="http://127.0.0.1:9/nowhere",
        product_id="mall",
        spbill_create_ip="127.0.0.1",
    )
    return shop.sim.pay(order.code_url, notify=False)


def test_an_order_unknown_to_the_ledger_is_a_difference_unless_its_channel_is_configured(shop):
    shop.pay_by_notice(shop.ring_up(1800))
    transaction_id = _foreign_order(shop, "MALL20261127000123", 4990)
    shop.client.refund(
        out_refund_no="MALL-R-1", total_fee=4990, refund_fee=990, out_trade_no="MALL20261127000123"
    )

    result = shop.reconcile()
    assert result.status == "differences"
    kinds = sorted((d.kind, d.out_trade_no, d.bill_fee, d.out_refund_no) for d in result.problems)
    assert kinds == [
        (DifferenceKind.MISSING_IN_LEDGER, "MALL20261127000123", 990, "MALL-R-1"),
        (DifferenceKind.MISSING_IN_LEDGER, "MALL20261127000123", 4990, ""),
    ]
    assert transaction_id in {d.transaction_id for d in result.problems}

    ours = shop.reconcile(shop.with_store(other_channels=("WEB", "MALL")))
    assert ours.status == "matched" and ours.problems == ()
    assert [d.kind for d in ours.differences] == [DifferenceKind.OTHER_CHANNEL] * 2
    assert all("MALL" in d.detail for d in ours.differences)
    assert "其他渠道" in ours.message
    assert ours.matched == 1


def test_refunds_that_one_side_lacks_are_state_differences(shop):
    first = shop.pay_by_notice(shop.ring_up(3000))
    second = shop.pay_by_notice(shop.ring_up(2000))
    third = shop.pay_by_notice(shop.ring_up(1000))
    fourth = shop.pay_by_notice(shop.ring_up(1200))
    # WeChat refunded, the ledger never heard (someone refunded in WeChat's merchant platform)
    shop.client.refund(
        out_refund_no="PLATFORM-1", total_fee=3000, refund_fee=500, out_trade_no=first.out_trade_no
    )
    # the ledger says refunded, WeChat never got the request
    only_ours = shop.refund(second, 700, at_wechat=False)
    # WeChat refunded, the ledger still waits for the confirmation
    pending = shop.refund(third, 1000, complete=False)
    # a refund both agree on
    shop.refund(fourth, 200)

    result = shop.reconcile()

    assert result.status == "differences"
    found = {(d.kind, d.out_trade_no, d.out_refund_no, d.ledger_fee, d.bill_fee) for d in result.problems}
    assert found == {
        (DifferenceKind.STATE, first.out_trade_no, "PLATFORM-1", None, 500),
        (DifferenceKind.STATE, second.out_trade_no, only_ours.out_refund_no, 700, None),
        (DifferenceKind.STATE, third.out_trade_no, pending.out_refund_no, 1000, 1000),
    }
    assert result.matched == 5  # four payments and the agreed refund


def test_no_bill_exist_is_not_an_error(shop):
    yesterday = shop.day - timedelta(days=1)
    result = shop.reconcile(day=yesterday)
    assert result.status == "no_bill"
    assert result.matched == 0 and result.differences == () and result.bill_rows == 0
    assert "没有账单" in result.message
    assert latest_reconciliation(shop.ledger, yesterday) == result


def test_no_bill_but_payments_in_the_ledger_is_a_difference(shop):
    sale = shop.ring_up(1800)
    # The ledger believes a payment WeChat never took (a forged notice would do this).
    shop.ledger.mark_paid(
        sale.out_trade_no,
        transaction_id="4200000000FORGED",
        total_fee=1800,
        time_end=shop.now(),
        source="notice",
    )
    result = shop.reconcile()
    assert result.status == "differences"
    (difference,) = result.problems
    assert difference.kind is DifferenceKind.MISSING_AT_WECHAT
    assert (difference.out_trade_no, difference.transaction_id) == (sale.out_trade_no, "4200000000FORGED")
    assert (difference.ledger_fee, difference.bill_fee) == (1800, None)
    assert "没有账单" in result.message


@pytest.mark.parametrize("sim", [{"bill_creating": True}], indirect=True)
def test_bill_creating_is_not_ready_then_the_day_reconciles(shop, sim):
    shop.pay_by_notice(shop.ring_up(1800))
    early = shop.reconcile()
    assert early.status == "not_ready"
    assert early.differences == () and early.matched == 0
    assert "尚未生成" in early.message
    assert shop.ledger.get_sale(1).state is SaleState.PAID  # nothing touched
    now = sim.sim.clock.beijing()
    next_morning = (now + timedelta(days=1)).replace(hour=10, minute=1)
    shop.advance((next_morning - now).total_seconds())
    later = shop.reconcile()
    assert later.status == "matched" and later.matched == 1
    assert latest_reconciliation(shop.ledger, shop.day) == later


def test_wechat_unreachable_or_refusing_is_an_error_run(shop):
    shop.pay_by_notice(shop.ring_up(1800))
    down = dataclasses.replace(shop.config.merchant, api_base="http://127.0.0.1:9")
    with WeChatPayClient.from_config(down, retries=0, backoff=0) as client:
        result = reconcile_day(shop.ledger, client, shop.config, shop.day)
    assert result.status == "error" and "无法连接" in result.message
    wrong_key = dataclasses.replace(shop.config.merchant, api_key="0" * 32)
    with WeChatPayClient.from_config(wrong_key, retries=0, backoff=0) as client:
        refused = reconcile_day(shop.ledger, client, shop.config, shop.day)
    assert refused.status == "error" and "api_key" in refused.message
    assert shop.ledger.get_sale(1).state is SaleState.PAID  # nothing touched


def test_messages_follow_the_store_language(shop):
    sale = shop.ring_up(1800)
    shop.pay_silently(sale)
    result = shop.reconcile(shop.with_store(language="en"))
    assert result.message.startswith(f"{shop.day}: 1 difference")
    assert "marked PAID" in result.problems[0].detail


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_the_result_prints_as_rows_of_the_z_report(shop, language):
    from pos.receipts import templates
    from pos.reconcile import queue_print, slip_rows
    from pos.reconcile.slip import rows_for_job

    sale = shop.ring_up(1800)
    shop.pay_silently(sale)
    result = shop.reconcile()
    job = queue_print(shop.ledger, result)
    assert job.kind == "z_report"
    assert job.payload == {"business_date": shop.day.isoformat(), "reconciliation": result.id}
    rows = slip_rows(result, language)
    assert rows_for_job(shop.ledger, job.payload, language) == rows  # what the Z report job appends
    assert rows_for_job(shop.ledger, {"business_date": shop.day.isoformat()}, language) == ()
    later = shop.reconcile()  # a job naming an older run prints that run
    assert rows_for_job(shop.ledger, job.payload, language) == rows != slip_rows(later, language)
    assert (sale.out_trade_no, rows[-1][1]) == rows[-1] and "￥18.00" in rows[-1][1]
    document = templates.z_report(
        templates.ZReportData(
            store_name="演示小店",
            business_day=shop.day,
            printed_at=shop.now(),
            by_state=(),
            paid_fen=1800,
            refunded_fen=0,
            extra=rows,
        ),
        48,
        language,
    )
    assert sale.out_trade_no in repr(document)
    # The till's spooler renders the queued job as the day's Z report with these rows under it.
    from pos.till.documents import render_job

    printed = render_job(job, shop.ledger, shop.with_store(language=language), 48)
    assert [row for row in printed.blocks if getattr(row, "left", None) == sale.out_trade_no]
