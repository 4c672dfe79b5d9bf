"""Refunds: never more than was paid, idempotent by out_refund_no, ending in PARTLY_REFUNDED / REFUNDED."""

from __future__ import annotations

import threading

import pytest

from pos.ledger import (
    FlagKind,
    InvalidInput,
    InvalidTransition,
    JobKind,
    RefundRefused,
    RefundState,
    SaleState,
    UnknownRefund,
)


def test_partial_then_full_refund(ledger, clock, make):
    sale = make.sale_in(SaleState.PAID)  # 1800 fen
    first = ledger.start_refund(sale.id, 500, reason="少了一块蛋糕")
    assert (first.out_refund_no, first.state, first.refund_fee) == (
        f"{sale.out_trade_no}-R1",
        RefundState.PENDING,
        500,
    )
    assert ledger.get_sale(sale.id).state is SaleState.PAID  # not before WeChat confirms
    assert ledger.get_sale(sale.id).refundable_fee == 1300
    clock.advance(minutes=1)
    done = ledger.complete_refund(first.out_refund_no, refund_id="50300000012026112700001")
    assert not done.already_done
    assert done.sale.state is SaleState.PARTLY_REFUNDED
    assert (done.refund.state, done.refund.refund_id, done.refund.completed_at) == (
        RefundState.SUCCEEDED,
        "50300000012026112700001",
        clock.now,
    )
    second = ledger.start_refund(sale.id, 1300)
    assert second.out_refund_no == f"{sale.out_trade_no}-R2"
    last = ledger.complete_refund(second.out_refund_no)
    assert last.sale.state is SaleState.REFUNDED
    assert (last.sale.refunded_fee, last.sale.refundable_fee) == (1800, 0)
    slips = [j for j in ledger.jobs_for_sale(sale.id) if j.kind is JobKind.REFUND_SLIP]
    assert [j.payload["out_refund_no"] for j in slips] == [first.out_refund_no, second.out_refund_no]
    assert [r.out_refund_no for r in ledger.refunds_for_sale(sale.id)] == [
        first.out_refund_no,
        second.out_refund_no,
    ]


def test_refunds_never_exceed_the_payment(ledger, make):
    sale = make.sale_in(SaleState.PAID)
    ledger.start_refund(sale.id, 1000)
    with pytest.raises(RefundRefused, match="only 800 fen of 1800"):
        ledger.start_refund(sale.id, 801)  # the pending 1000 counts already
    ledger.start_refund(sale.id, 800)
    with pytest.raises(RefundRefused, match="only 0 fen"):
        ledger.start_refund(sale.id, 1)
    assert len(ledger.refunds_for_sale(sale.id)) == 2


def test_concurrent_refunds_cannot_overdraw(ledger, make):
    sale = make.sale_in(SaleState.PAID)  # 1800 fen: at most three of 500 fit
    barrier = threading.Barrier(10)
    started, refused = [], []

    def refund():
        barrier.wait()
        try:
            started.append(ledger.start_refund(sale.id, 500))
        except RefundRefused as exc:
            refused.append(exc)

    threads = [threading.Thread(target=refund) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert (len(started), len(refused)) == (3, 7)
    assert len({r.out_refund_no for r in started}) == 3
    assert ledger.get_sale(sale.id).refund_reserved_fee == 1500


def test_starting_again_with_the_same_out_refund_no_is_the_same_refund(ledger, make):
    sale = make.sale_in(SaleState.PAID)
    first = ledger.start_refund(sale.id, 600, out_refund_no="RF-0001")
    again = ledger.start_refund(sale.id, 600, out_refund_no="RF-0001")
    assert again == first
    assert ledger.get_sale(sale.id).refund_reserved_fee == 600
    with pytest.raises(RefundRefused, match="already used"):
        ledger.start_refund(sale.id, 700, out_refund_no="RF-0001")


def test_completing_twice_is_harmless(ledger, make):
    sale = make.sale_in(SaleState.PAID)
    refund = ledger.start_refund(sale.id, 1800)
    first = ledger.complete_refund(refund.out_refund_no, refund_id="503")
    second = ledger.complete_refund(refund.out_refund_no, refund_id="503")
    assert second.already_done and second.job_id is None
    assert second.sale == first.sale
    assert second.sale.refunded_fee == 1800
    assert len([j for j in ledger.jobs_for_sale(sale.id) if j.kind is JobKind.REFUND_SLIP]) == 1


def test_a_closed_refund_releases_its_amount_and_flags_the_manager(ledger, make):
    sale = make.sale_in(SaleState.PAID)
    refund = ledger.start_refund(sale.id, 1800)
    failed = ledger.fail_refund(refund.out_refund_no, "REFUNDCLOSE")
    assert (failed.state, failed.failure) == (RefundState.FAILED, "REFUNDCLOSE")
    assert ledger.get_sale(sale.id).refundable_fee == 1800
    assert ledger.get_sale(sale.id).state is SaleState.PAID
    assert [f.kind for f in ledger.flags_for_sale(sale.id)] == [FlagKind.REFUND_FAILED]
    assert ledger.fail_refund(refund.out_refund_no, "REFUNDCLOSE") == failed
    with pytest.raises(RefundRefused, match="FAILED"):
        ledger.complete_refund(refund.out_refund_no)
    retry = ledger.start_refund(sale.id, 1800)
    assert retry.out_refund_no.endswith("-R2")


@pytest.mark.parametrize(
    "state",
    [SaleState.NEW, SaleState.AWAITING_PAYMENT, SaleState.FAILED, SaleState.EXPIRED, SaleState.VOIDED],
    ids=str,
)
def test_only_paid_sales_can_be_refunded(ledger, make, state):
    sale = make.sale_in(state)
    with pytest.raises(InvalidTransition) as caught:
        ledger.start_refund(sale.id, 100)
    assert caught.value.current is state
    assert ledger.refunds_for_sale(sale.id) == []


def test_a_fully_refunded_sale_takes_no_more_refunds(ledger, make):
    sale = make.sale_in(SaleState.REFUNDED)
    with pytest.raises(InvalidTransition) as caught:
        ledger.start_refund(sale.id, 1)
    assert caught.value.current is SaleState.REFUNDED


@pytest.mark.parametrize("fee", [0, -100, 1.5, "100"])
def test_refund_amount_must_be_whole_positive_fen(ledger, make, fee):
    sale = make.sale_in(SaleState.PAID)
    with pytest.raises(InvalidInput, match="refund_fee"):
        ledger.start_refund(sale.id, fee)


def test_unknown_refunds_raise(ledger):
    with pytest.raises(UnknownRefund):
        ledger.complete_refund("nope")
    with pytest.raises(UnknownRefund):
        ledger.get_refund("nope")
