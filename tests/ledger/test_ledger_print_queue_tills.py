"""Many tills, one ledger: each job names the till that prints it, and a till's spooler sees only
its own (and those of no till in particular, which it makes its own). On PostgreSQL the enqueue
NOTIFYs the till's channel when, and only if, the job commits."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pos.ledger import InvalidInput, JobKind, JobState, LedgerError, LineItem, SaleState
from pos.ledger.jobs import enqueue
from pos.ledger.wakeups import JobSignals, job_channel

A = {"store": "S01", "lane": "01"}
B = {"store": "S01", "lane": "02"}
C = {"store": "S02", "lane": "01"}  # another store, same lane number


def awaiting(ledger, clock, till):
    sale = ledger.create_sale(**till, items=[LineItem("拿铁", 1800)])
    return ledger.record_order(
        sale.id,
        code_url=f"weixin://wxpay/bizpayurl?pr={sale.id:07d}",
        prepay_id=f"wx{sale.id:030d}",
        expires_at=clock.now + timedelta(minutes=15),
    )


def pay(ledger, clock, sale, n: int):
    outcome = ledger.mark_paid(
        sale.out_trade_no,
        transaction_id=f"42000{n:023d}",
        total_fee=sale.total_fee,
        time_end=clock.now,
        source="notice",
    )
    assert outcome.sale.state is SaleState.PAID
    return outcome


def till_of(job) -> dict[str, str]:
    return {"store": job.store, "lane": job.lane}


def test_a_sales_slips_go_to_its_till_whoever_queues_them(ledger, clock):
    a, b, c = (awaiting(ledger, clock, t) for t in (A, B, C))
    pay(ledger, clock, b, 1)  # as the listener would: its confirmation goes to b's till
    assert [till_of(j) for j in ledger.jobs_for_sale(a.id)] == [A]
    assert [till_of(j) for j in ledger.jobs_for_sale(b.id)] == [B, B]
    assert [till_of(j) for j in ledger.jobs_for_sale(c.id)] == [C]
    assert [j.kind for j in ledger.jobs_for_sale(b.id)] == [JobKind.SALE_SLIP, JobKind.CONFIRMATION]
    closed = ledger.mark_expired(c.id, now=clock.now + timedelta(minutes=20))  # c's notice: c's till too
    assert closed.state is SaleState.EXPIRED and closed.items == c.items
    assert [(j.kind, till_of(j)) for j in ledger.jobs_for_sale(c.id)][1:] == [(JobKind.EXPIRED_NOTICE, C)]


def test_each_till_claims_only_its_own_jobs_oldest_first(ledger, clock):
    a1, b1, c1 = (awaiting(ledger, clock, t) for t in (A, B, C))
    pay(ledger, clock, a1, 1)
    z_b = ledger.enqueue_job(JobKind.Z_REPORT, payload={"business_date": "2026-11-27"}, **B)
    claimed_b = [ledger.claim_next_job(**B), ledger.claim_next_job(**B)]
    assert [(j.sale_id, j.kind) for j in claimed_b] == [(b1.id, JobKind.SALE_SLIP), (None, JobKind.Z_REPORT)]
    assert claimed_b[1].id == z_b.id
    assert ledger.claim_next_job(**B) is None  # a's and c's jobs are still queued: not b's
    claimed_a = [ledger.claim_next_job(**A), ledger.claim_next_job(**A)]
    assert [(j.sale_id, j.kind) for j in claimed_a] == [
        (a1.id, JobKind.SALE_SLIP),
        (a1.id, JobKind.CONFIRMATION),
    ]
    assert ledger.claim_next_job(**A) is None
    assert [j.sale_id for j in ledger.unfinished_jobs(**C)] == [c1.id]
    assert ledger.claim_next_job(**C).sale_id == c1.id


def test_a_job_for_no_till_is_taken_by_the_first_till_that_looks_and_becomes_its_own(ledger, clock):
    label = ledger.enqueue_job(JobKind.LABEL, payload={"product": "latte"})  # as a tool without a till
    assert till_of(label) == {"store": "", "lane": ""}
    assert [j.id for j in ledger.unfinished_jobs(**A)] == [label.id]
    assert [j.id for j in ledger.unfinished_jobs(**B)] == [label.id]
    claimed = ledger.claim_next_job(**B)
    assert (claimed.id, till_of(claimed)) == (label.id, B)
    assert ledger.claim_next_job(**A) is None
    # b crashes while printing it: only b's restart may re-queue it, and then it is b's again.
    assert ledger.requeue_interrupted_jobs(**A) == []
    [again] = ledger.requeue_interrupted_jobs(**B)
    assert (again.id, again.state, till_of(again)) == (label.id, JobState.QUEUED, B)
    assert ledger.claim_next_job(**A) is None
    assert ledger.claim_next_job(**B).id == label.id


def test_a_till_restarting_re_queues_only_its_own_interrupted_jobs(ledger, clock):
    a, b = awaiting(ledger, clock, A), awaiting(ledger, clock, B)
    job_a, job_b = ledger.claim_next_job(**A), ledger.claim_next_job(**B)
    assert (job_a.sale_id, job_b.sale_id) == (a.id, b.id)
    [requeued] = ledger.requeue_interrupted_jobs(**A)
    assert requeued.id == job_a.id
    assert ledger.get_job(job_b.id).state is JobState.PRINTING  # b is printing it right now
    assert [j.id for j in ledger.unfinished_jobs(**B)] == [job_b.id]
    assert {j.id for j in ledger.unfinished_jobs()} == {job_a.id, job_b.id}  # no till: the whole queue


def test_a_reprint_prints_at_the_till_that_asked_else_at_the_sales_till(ledger, clock):
    sale = awaiting(ledger, clock, A)
    ledger.job_done(ledger.claim_next_job(**A).id)
    at_b = ledger.reprint(sale.id, JobKind.SALE_SLIP, by="小王", **B)
    at_sales_till = ledger.reprint(sale.id, JobKind.SALE_SLIP)
    assert (till_of(at_b), till_of(at_sales_till)) == (B, A)
    assert ledger.claim_next_job(**B).id == at_b.id
    assert ledger.claim_next_job(**A).id == at_sales_till.id


def test_a_till_is_a_store_and_a_lane_both_well_formed(ledger, clock):
    for bad in (
        {"store": "S01"},
        {"lane": "01"},
        {"store": "S 01", "lane": "01"},
        {"store": "S01", "lane": "x-1"},
    ):
        with pytest.raises(InvalidInput):
            ledger.claim_next_job(**bad)
        with pytest.raises(InvalidInput):
            ledger.enqueue_job(JobKind.TEST, **bad)
    assert ledger.unfinished_jobs() == []


def test_each_till_sees_only_its_own_pending_sales(ledger, clock):
    a, b, c = (awaiting(ledger, clock, t) for t in (A, B, C))
    assert [s.id for s in ledger.pending_sales(**A)] == [a.id]
    assert [s.id for s in ledger.pending_sales(**B)] == [b.id]
    assert [s.id for s in ledger.pending_sales(**C)] == [c.id]
    assert [s.id for s in ledger.pending_sales()] == [a.id, b.id, c.id]


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_committed_job_notifies_its_till_alone(ledger, clock):
    signals_a = JobSignals(ledger.engine, **A)
    signals_b = JobSignals(ledger.engine, **B)
    try:
        assert signals_a.channels == (job_channel(**A), job_channel("", ""))
        sale = awaiting(ledger, clock, A)  # its sale slip: one notification for a
        assert signals_a.wait(10) == 1
        pay(ledger, clock, sale, 1)
        assert signals_a.wait(10) == 1
        ledger.enqueue_job(JobKind.TEST, **B)
        assert signals_b.wait(10) == 1  # b's first: a's jobs never reached it
        assert signals_b.wait(0.2) == 0
        ledger.enqueue_job(JobKind.TEST)  # no till in particular: every till hears it
        assert (signals_a.wait(10), signals_b.wait(10)) == (1, 1)
        with pytest.raises(InvalidInput), ledger._write() as conn:  # a failed transaction
            enqueue(conn, JobKind.TEST, None, None, clock.now, till=("S01", "01"))
            raise InvalidInput("rolled back")
        ledger.enqueue_job(JobKind.TEST, **A)
        assert signals_a.wait(10) == 1
        assert signals_a.wait(0.2) == 0  # the rolled-back job sent nothing
    finally:
        signals_a.close()
        signals_b.close()


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_job_signals_need_postgresql(ledger):
    with pytest.raises(LedgerError, match="PostgreSQL"):
        JobSignals(ledger.engine, **A)
