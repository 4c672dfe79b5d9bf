"""The match itself, on hand-made bill rows and ledger records: the cases a simulated day rarely makes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pos.ledger import RefundState, SaleState
from pos.ledger.reconciliation import KnownSale, LedgerRefund
from pos.reconcile.matcher import LedgerSide, match
from pos.wechatpay.bills import BillRow

AT = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)


def sale(
    n: int, fee: int = 1800, state: SaleState = SaleState.PAID, tx: str | None = None, **kw
) -> KnownSale:
    paid = state.is_paid
    return KnownSale(
        id=n,
        out_trade_no=f"S01-01-20261127-{n:04d}",
        store="S01",
        state=state,
        total_fee=fee,
        transaction_id=(tx or f"T{n}") if paid else None,
        paid_fee=kw.get("paid_fee", fee if paid else None),
        time_end=AT if paid else None,
    )


def pay_row(s: KnownSale, fee: int | None = None, tx: str | None = None, state: str = "SUCCESS") -> BillRow:
    return BillRow(
        trade_time=AT,
        out_trade_no=s.out_trade_no,
        transaction_id=tx or s.transaction_id or f"T{s.id}",
        trade_state=state,
        total_fee=s.total_fee if fee is None else fee,
    )


def refund_row(s: KnownSale, number: str, fee: int, status: str = "SUCCESS") -> BillRow:
    return BillRow(
        trade_time=AT,
        out_trade_no=s.out_trade_no,
        transaction_id=s.transaction_id or "",
        trade_state="REFUND",
        out_refund_no=number,
        refund_fee=fee,
        refund_status=status,
    )


def refund(
    s: KnownSale,
    number: str,
    fee: int,
    state: RefundState = RefundState.SUCCEEDED,
    resolution: str | None = None,
) -> LedgerRefund:
    return LedgerRefund(number, s.out_trade_no, s.id, fee, state, None, AT, resolution)


def side(sales, paid=None, refunds=(), day_refunds=None) -> LedgerSide:
    return LedgerSide(
        sales={s.out_trade_no: s for s in sales},
        paid=[s for s in sales if s.state.is_paid] if paid is None else paid,
        refunds={r.out_refund_no: r for r in refunds},
        day_refunds=list(refunds) if day_refunds is None else day_refunds,
    )


def kinds(result) -> list[tuple[str, str]]:
    return [(d.kind.value, d.out_trade_no) for d in result.differences]


def test_agreeing_rows_match():
    a, b = sale(1), sale(2, 3000, SaleState.PARTLY_REFUNDED)
    rows = [pay_row(a), pay_row(b), refund_row(b, "R1", 1000)]
    result = match(rows, side([a, b], refunds=[refund(b, "R1", 1000)]))
    assert (result.matched, result.differences, result.unpaid) == (3, [], [])


def test_a_known_unpaid_sale_is_left_to_the_runner():
    waiting = sale(1, state=SaleState.EXPIRED)
    row = pay_row(waiting, tx="T9")
    result = match([row], side([waiting]))
    assert result.unpaid == [(row, waiting)] and result.differences == [] and result.matched == 0


def test_another_transaction_or_amount_for_a_paid_sale():
    a, b, c = sale(1), sale(2), sale(3, paid_fee=1700)
    result = match([pay_row(a, tx="OTHER"), pay_row(b, fee=1900), pay_row(c)], side([a, b, c]))
    assert kinds(result) == [
        ("state", a.out_trade_no),
        ("amount", b.out_trade_no),
        ("amount", c.out_trade_no),
    ]
    assert "OTHER" in result.differences[0].detail


def test_a_second_payment_row_for_one_order_is_a_difference():
    a = sale(1)
    result = match([pay_row(a), pay_row(a)], side([a]))
    assert result.matched == 1 and kinds(result) == [("state", a.out_trade_no)]


def test_a_reversed_payment_is_a_difference_only_when_the_ledger_has_it_paid():
    paid, waiting = sale(1), sale(2, state=SaleState.EXPIRED)
    result = match(
        [pay_row(paid, state="REVOKED"), pay_row(waiting, state="REVOKED")], side([paid, waiting], paid=[])
    )
    assert kinds(result) == [("state", paid.out_trade_no)] and result.matched == 1


@pytest.mark.parametrize(
    ("wechat", "ours", "agree"),
    [
        ("SUCCESS", RefundState.SUCCEEDED, True),
        ("PROCESSING", RefundState.PENDING, True),
        ("REFUNDCLOSE", RefundState.FAILED, True),
        ("CHANGE", RefundState.HELD, True),
        ("CHANGE", RefundState.FAILED, False),  # held, never released: the amount is still owed
        ("CHANGE", RefundState.SUCCEEDED, False),  # SUCCEEDED without the manager's resolution
        ("SUCCESS", RefundState.HELD, False),
        ("SUCCESS", RefundState.PENDING, False),
        ("REFUNDCLOSE", RefundState.SUCCEEDED, False),
        ("PROCESSING", RefundState.SUCCEEDED, False),
    ],
)
def test_refund_states(wechat, ours, agree):
    a = sale(1, state=SaleState.PARTLY_REFUNDED)
    result = match(
        [pay_row(a), refund_row(a, "R1", 500, wechat)], side([a], refunds=[refund(a, "R1", 500, ours)])
    )
    assert result.matched == (2 if agree else 1)
    assert kinds(result) == ([] if agree else [("state", a.out_trade_no)])
    if not agree:
        assert result.differences[0].out_refund_no == "R1"


def test_refund_amounts_and_numbers_of_another_sale():
    a, b = sale(1, state=SaleState.PARTLY_REFUNDED), sale(2, state=SaleState.PARTLY_REFUNDED)
    rows = [refund_row(a, "R1", 600), refund_row(a, "R2", 100)]
    result = match(rows, side([a, b], paid=[], refunds=[refund(a, "R1", 500), refund(b, "R2", 100)]))
    assert [(d.kind.value, d.ledger_fee, d.bill_fee) for d in result.differences] == [
        ("amount", 500, 600),
        ("state", None, 100),
    ]


def test_ledger_only_payments_and_refunds_failed_refunds_aside():
    a, b = sale(1), sale(2, state=SaleState.PARTLY_REFUNDED)
    refunds = [
        refund(b, "R1", 100),
        refund(b, "R2", 200, RefundState.FAILED),
        refund(b, "R3", 300, RefundState.PENDING),
    ]
    result = match([pay_row(b)], side([a, b], refunds=refunds))
    assert [(d.kind.value, d.out_trade_no, d.out_refund_no) for d in result.differences] == [
        ("missing_at_wechat", a.out_trade_no, ""),
        ("state", b.out_trade_no, "R1"),
        ("state", b.out_trade_no, "R3"),
    ]


def test_unknown_orders_and_other_channels_which_come_last():
    stranger = BillRow(
        trade_time=AT, out_trade_no="WEB-0001", transaction_id="T7", trade_state="SUCCESS", total_fee=990
    )
    mall = BillRow(
        trade_time=AT, out_trade_no="MALL-0001", transaction_id="T8", trade_state="SUCCESS", total_fee=500
    )
    result = match([mall, stranger], side([]), other_channels=("", "MALL-"))
    assert kinds(result) == [("missing_in_ledger", "WEB-0001"), ("other_channel", "MALL-0001")]
    assert [d.is_difference for d in result.differences] == [True, False]
    assert result.differences[1].bill_fee == 500


def test_an_empty_prefix_does_not_make_everything_another_channel():
    stranger = BillRow(
        trade_time=AT, out_trade_no="WEB-0001", transaction_id="T7", trade_state="SUCCESS", total_fee=990
    )
    assert kinds(match([stranger], side([]), other_channels=("",))) == [("missing_in_ledger", "WEB-0001")]


def test_details_follow_the_language():
    a = sale(1)
    en = match([pay_row(a, fee=1900)], side([a]), language="en").differences[0]
    zh = match([pay_row(a, fee=1900)], side([a]), language="zh-CN").differences[0]
    assert en.detail == "amounts differ: WeChat ￥19.00, ledger ￥18.00"
    assert zh.detail == "金额不符：微信 ￥19.00，账本 ￥18.00"


@pytest.mark.parametrize("resolution", ["resent", "other_means"])
def test_a_held_refund_the_manager_resolved_agrees_with_a_bill_that_still_says_change(resolution):
    a = sale(1, state=SaleState.REFUNDED)
    ours = refund(a, "R1", 500, RefundState.SUCCEEDED, resolution)
    result = match([pay_row(a), refund_row(a, "R1", 500, "CHANGE")], side([a], refunds=[ours]))
    assert result.matched == 2 and kinds(result) == []
