"""The print queue: oldest first, one claimer per job, retries, crash recovery, reprints."""

from __future__ import annotations

import threading

import pytest

from pos.ledger import (
    InvalidInput,
    InvalidJobState,
    JobKind,
    JobState,
    NothingToReprint,
    SaleState,
    UnknownJob,
    open_ledger,
)


def test_jobs_come_out_oldest_first_and_each_once(ledger, clock, make):
    sale = make.awaiting()  # queues its sale slip
    z = ledger.enqueue_job(JobKind.Z_REPORT, payload={"business_date": "2026-11-27"})
    label = ledger.enqueue_job("label", payload={"product": "latte"})
    clock.advance(seconds=1)
    first = ledger.claim_next_job()
    assert (first.kind, first.sale_id, first.state, first.claimed_at) == (
        JobKind.SALE_SLIP,
        sale.id,
        JobState.PRINTING,
        clock.now,
    )
    second, third = ledger.claim_next_job(), ledger.claim_next_job()
    assert (second.id, third.id) == (z.id, label.id)
    assert second.payload == {"business_date": "2026-11-27"}
    assert ledger.claim_next_job() is None


def test_done_job_is_finished_for_good(ledger, clock):
    job = ledger.enqueue_job("test")
    claimed = ledger.claim_next_job()
    clock.advance(seconds=2)
    done = ledger.job_done(claimed.id)
    assert (done.state, done.printed_at, done.attempts) == (JobState.DONE, clock.now, 0)
    assert ledger.claim_next_job() is None
    assert ledger.unfinished_jobs() == []
    with pytest.raises(InvalidJobState) as caught:
        ledger.job_done(job.id)
    assert caught.value.current is JobState.DONE


def test_failed_write_puts_the_job_back_at_its_place(ledger):
    first = ledger.enqueue_job("test")
    second = ledger.enqueue_job("test")
    ledger.claim_next_job()
    failed = ledger.job_failed(first.id, "printer offline (paper out)")
    assert (failed.state, failed.attempts, failed.last_error) == (
        JobState.QUEUED,
        1,
        "printer offline (paper out)",
    )
    assert ledger.claim_next_job().id == first.id  # a receipt is not overtaken by later ones
    ledger.job_failed(first.id, "still offline")
    assert ledger.get_job(first.id).attempts == 2
    assert [j.id for j in ledger.unfinished_jobs()] == [first.id, second.id]


def test_sending_marks_the_job_and_answers_it_as_stored(ledger):
    job = ledger.enqueue_job("test")
    ledger.claim_next_job()
    sending = ledger.job_sending(job.id)
    assert sending.sent_at is not None and sending.state is JobState.PRINTING
    assert sending == ledger.get_job(job.id)
    ledger.job_done(job.id)
    with pytest.raises(InvalidJobState, match="done"):
        ledger.job_sending(job.id)
    with pytest.raises(UnknownJob):
        ledger.job_sending(999)


def test_done_and_failed_need_a_printing_job(ledger):
    job = ledger.enqueue_job("test")
    with pytest.raises(InvalidJobState, match="queued"):
        ledger.job_done(job.id)
    with pytest.raises(InvalidJobState):
        ledger.job_failed(job.id, "x")
    with pytest.raises(UnknownJob):
        ledger.job_done(999)
    with pytest.raises(InvalidInput, match="kind"):
        ledger.enqueue_job("poster")


def test_a_crash_while_printing_prints_the_job_again_once(db_url, clock):
    with open_ledger(db_url, clock=clock) as till:
        job = till.enqueue_job("confirmation")
        other = till.enqueue_job("test")
        till.claim_next_job()  # ... and the process dies here, before job_done
    with open_ledger(db_url, clock=clock) as restarted:
        assert restarted.get_job(job.id).state is JobState.PRINTING  # opening alone changes nothing
        [requeued] = restarted.requeue_interrupted_jobs()
        assert (requeued.id, requeued.state, requeued.attempts) == (job.id, JobState.QUEUED, 1)
        assert "interrupted" in requeued.last_error
        assert restarted.requeue_interrupted_jobs() == []  # a second call finds nothing
        assert restarted.claim_next_job().id == job.id
        assert restarted.claim_next_job().id == other.id


def test_many_spoolers_never_share_a_job(ledger):
    jobs = 60
    for _ in range(jobs):
        ledger.enqueue_job("test")
    spoolers = 8
    barrier = threading.Barrier(spoolers)
    claimed: list[int] = []
    errors: list[BaseException] = []

    def spool():
        try:
            barrier.wait()
            while (job := ledger.claim_next_job()) is not None:
                claimed.append(job.id)
                ledger.job_done(job.id)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=spool) for _ in range(spoolers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(claimed) == jobs
    assert len(set(claimed)) == jobs
    assert ledger.unfinished_jobs() == []


def test_reprint_is_a_new_job_linked_to_the_original(ledger, make):
    sale = make.sale_in(SaleState.PAID)
    [_slip, confirmation] = ledger.jobs_for_sale(sale.id)
    for _ in range(2):
        ledger.job_done(ledger.claim_next_job().id)
    copy = ledger.reprint(sale.id, "confirmation")
    assert (copy.kind, copy.state, copy.reprint_of, copy.sale_id) == (
        JobKind.CONFIRMATION,
        JobState.QUEUED,
        confirmation.id,
        sale.id,
    )
    assert ledger.get_job(confirmation.id).state is JobState.DONE  # the original is untouched
    assert ledger.events_for_sale(sale.id)[-1].event == "reprint"
    with pytest.raises(NothingToReprint):
        ledger.reprint(sale.id, JobKind.REFUND_SLIP)
