"""The notice handler's fast paths: copies of a recorded notice, and payments written in batches."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from pos.ledger import JobKind, PaidStatus, SaleState
from pos.listener import notify
from pos.listener.notify import GroupCommit, PaymentNotices


def test_a_byte_for_byte_copy_of_a_recorded_notice_is_not_parsed_again(stack, monkeypatch):
    handler = PaymentNotices(stack.config, stack.ledger)
    sale = stack.ring_up(1800)
    body = stack.signed(stack.notice_for(sale))
    assert handler.handle(body).verdict == PaidStatus.PAID.value

    def must_not_parse(*args, **kwargs):
        raise AssertionError("a copy of a recorded notice was parsed again")

    with monkeypatch.context() as patched:
        patched.setattr(notify.notices, "read_notice", must_not_parse)
        assert handler.handle(body).verdict == "duplicate"

    # Anything but an exact copy takes the full path: a re-signed repeat is a duplicate after checks,
    # the same body with one byte of its signature changed is a forgery.
    resigned = stack.signed(stack.notice_for(sale, nonce_str="another0nonce"))
    assert resigned != body
    assert handler.handle(resigned).verdict == "duplicate"
    sign_at = body.index(b"<sign>") + len(b"<sign><![CDATA[")
    forged = body[:sign_at] + (b"0" if body[sign_at : sign_at + 1] != b"0" else b"1") + body[sign_at + 1 :]
    assert handler.handle(forged).verdict == "signature"
    assert stack.ledger.get_sale(sale.id).state is SaleState.PAID
    assert len([j for j in stack.ledger.jobs_for_sale(sale.id) if j.kind is JobKind.CONFIRMATION]) == 1


def test_an_unrecorded_copy_is_not_remembered(stack):
    """A notice whose amount does not fit is flagged, not remembered: its copies reach the ledger."""
    handler = PaymentNotices(stack.config, stack.ledger)
    sale = stack.ring_up(1800)
    body = stack.signed(stack.notice_for(sale, total_fee="1700"))
    assert handler.handle(body).verdict == PaidStatus.AMOUNT_MISMATCH.value
    assert handler.handle(body).verdict == PaidStatus.AMOUNT_MISMATCH.value
    assert stack.ledger.get_sale(sale.id).state is SaleState.AWAITING_PAYMENT


def _reports(stack, count):
    sales = [stack.ring_up(1000 + i) for i in range(count)]
    reports = [
        stack.ledger.payment_report(
            sale.out_trade_no,
            transaction_id=f"4200000000202611{i:012d}",
            total_fee=sale.total_fee,
            time_end=stack.ledger.get_sale(sale.id).created_at,
            source="notice",
        )
        for i, sale in enumerate(sales)
    ]
    return sales, reports


def test_concurrent_reports_are_written_in_shared_transactions_each_decided_alone(stack, monkeypatch):
    sales, reports = _reports(stack, 12)
    batches = []
    real = stack.ledger.mark_paid_many
    gate = threading.Event()

    def recording(batch, **kwargs):
        batches.append(len(batch))
        gate.wait(5)  # hold the first batch until every thread has queued its report
        return real(batch, **kwargs)

    monkeypatch.setattr(stack.ledger, "mark_paid_many", recording)
    writer = GroupCommit(stack.ledger)
    reports = reports + reports[:4]  # four payments reported twice
    outcomes = [None] * len(reports)

    def pay(i):
        outcomes[i] = writer.mark_paid(reports[i])

    threads = [threading.Thread(target=pay, args=(i,)) for i in range(len(reports))]
    for thread in threads:
        thread.start()
    stack.wait_for(lambda: len(writer._queue) == len(reports) - 1)
    gate.set()
    for thread in threads:
        thread.join(10)

    assert sum(batches) == len(reports) and len(batches) < len(reports) and max(batches) > 1
    statuses = [o.status for o in outcomes]
    assert statuses.count(PaidStatus.PAID) == 12 and statuses.count(PaidStatus.ALREADY_PAID) == 4
    for sale in sales:
        assert stack.ledger.get_sale(sale.id).state is SaleState.PAID
        assert len([j for j in stack.ledger.jobs_for_sale(sale.id) if j.kind is JobKind.CONFIRMATION]) == 1


def test_one_bad_report_does_not_fail_the_others_in_its_batch(stack, monkeypatch):
    sales, reports = _reports(stack, 3)
    real = stack.ledger.mark_paid_many

    def failing_on_the_second(batch, **kwargs):
        if any(r.out_trade_no == sales[1].out_trade_no for r in batch):
            raise IntegrityError("INSERT", {}, Exception("constraint"))
        return real(batch, **kwargs)

    monkeypatch.setattr(stack.ledger, "mark_paid_many", failing_on_the_second)
    writer = GroupCommit(stack.ledger)
    waiting = [notify._Waiting(r) for r in reports]
    writer._write(waiting)
    assert [w.done for w in waiting] == [True, True, True]
    assert waiting[0].outcome.status is PaidStatus.PAID and waiting[2].outcome.status is PaidStatus.PAID
    assert isinstance(waiting[1].error, IntegrityError) and waiting[1].outcome is None


def test_a_database_that_is_down_fails_the_whole_batch_at_once(stack, monkeypatch):
    _, reports = _reports(stack, 3)
    calls = []

    def down(batch, **kwargs):
        calls.append(len(batch))
        raise OperationalError("BEGIN IMMEDIATE", {}, Exception("database is locked"))

    monkeypatch.setattr(stack.ledger, "mark_paid_many", down)
    writer = GroupCommit(stack.ledger)
    waiting = [notify._Waiting(r) for r in reports]
    writer._write(waiting)
    assert calls == [3]  # not retried one by one: WeChat sends them again
    assert all(isinstance(w.error, OperationalError) for w in waiting)
    with pytest.raises(OperationalError):
        writer.mark_paid(reports[0])


def test_the_lead_passes_from_batch_to_batch_until_every_thread_has_its_outcome(stack, monkeypatch):
    sales, reports = _reports(stack, 9)
    real = stack.ledger.mark_paid_many
    batches = []
    gate = threading.Event()

    def recording(batch, **kwargs):
        batches.append([r.out_trade_no for r in batch])
        gate.wait(5)
        return real(batch, **kwargs)

    monkeypatch.setattr(stack.ledger, "mark_paid_many", recording)
    writer = GroupCommit(stack.ledger, max_batch=2)
    outcomes = [None] * len(reports)

    def pay(i):
        outcomes[i] = writer.mark_paid(reports[i])

    threads = [threading.Thread(target=pay, args=(i,)) for i in range(len(reports))]
    for thread in threads:
        thread.start()
    stack.wait_for(lambda: len(writer._queue) == len(reports) - 1)
    gate.set()
    for thread in threads:
        thread.join(10)
    assert not any(thread.is_alive() for thread in threads)
    assert [len(b) for b in batches] == [1, 2, 2, 2, 2]  # the first alone, then the queue two by two
    assert sorted(otn for batch in batches for otn in batch) == sorted(s.out_trade_no for s in sales)
    assert [o.status for o in outcomes] == [PaidStatus.PAID] * len(reports)
    assert writer._queue == [] and not writer._busy
