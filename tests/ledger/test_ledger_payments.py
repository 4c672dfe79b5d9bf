"""mark_paid: one payment, one PAID transition, one confirmation slip, whoever reports and however often."""

from __future__ import annotations

import multiprocessing
import threading
from datetime import UTC, datetime

import pytest

from pos.ledger import (
    FlagKind,
    InvalidInput,
    JobKind,
    MessageKind,
    PaidStatus,
    PaymentSource,
    SaleState,
    open_ledger,
)

TIME_END = datetime(2026, 11, 27, 2, 3, 4, tzinfo=UTC)


def _confirmations(ledger, sale_id):
    return [j for j in ledger.jobs_for_sale(sale_id) if j.kind is JobKind.CONFIRMATION]


def test_a_payment_marks_the_sale_paid_and_queues_one_confirmation(ledger, clock, make):
    sale = make.awaiting()
    clock.advance(minutes=1)
    outcome = ledger.mark_paid(
        sale.out_trade_no,
        transaction_id="4200000540202611277407409907",
        total_fee=sale.total_fee,
        time_end=TIME_END,
        source=PaymentSource.NOTICE,
        cash_fee=sale.total_fee,
        openid="oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
    )
    assert outcome.status is PaidStatus.PAID
    assert outcome.newly_paid and outcome.is_paid
    paid = outcome.sale
    assert paid.state is SaleState.PAID
    assert paid.paid_at == clock.now
    assert paid.transaction_id == "4200000540202611277407409907"
    [payment] = ledger.payments_for_sale(sale.id)
    assert payment.accepted
    assert (payment.total_fee, payment.cash_fee, payment.openid, payment.time_end, payment.source) == (
        1800,
        1800,
        "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
        TIME_END,
        PaymentSource.NOTICE,
    )
    [job] = _confirmations(ledger, sale.id)
    assert job.id == outcome.job_id
    assert ledger.flags_for_sale(sale.id) == []
    assert not paid.flagged


def test_repeated_reports_change_nothing(ledger, clock, make):
    sale = make.awaiting()
    first = make.pay(sale, transaction_id="4200000001")
    snapshot = ledger.get_sale(sale.id)
    clock.advance(seconds=15)  # WeChat's retry, then the watcher's query
    again = make.pay(sale, transaction_id="4200000001")
    queried = make.pay(sale, transaction_id="4200000001", source="query")
    assert first.status is PaidStatus.PAID
    assert again.status is PaidStatus.ALREADY_PAID and queried.status is PaidStatus.ALREADY_PAID
    assert not again.newly_paid and again.is_paid and again.job_id is None
    assert ledger.get_sale(sale.id) == snapshot
    assert len(ledger.payments_for_sale(sale.id)) == 1
    assert len(_confirmations(ledger, sale.id)) == 1


@pytest.mark.parametrize("state", [SaleState.NEW, SaleState.FAILED])
def test_an_order_we_thought_unplaced_can_still_be_paid(ledger, make, state):
    sale = make.sale_in(state)
    outcome = make.pay(sale)
    assert outcome.status is PaidStatus.PAID
    assert outcome.sale.state is SaleState.PAID
    assert len(_confirmations(ledger, sale.id)) == 1
    assert ledger.flags_for_sale(sale.id) == []


@pytest.mark.parametrize("state", [SaleState.VOIDED, SaleState.EXPIRED])
def test_payment_after_close_is_paid_and_flagged_prominently(ledger, make, state):
    sale = make.sale_in(state)
    outcome = make.pay(sale)
    assert outcome.status is PaidStatus.PAID_AFTER_CLOSE
    assert outcome.newly_paid
    assert outcome.sale.state is SaleState.PAID  # the money was taken: it counts, and can be refunded
    assert outcome.sale.flagged
    assert outcome.sale.closed_at is not None  # the close stays on record
    [flag] = ledger.flags_for_sale(sale.id)
    assert flag.kind is FlagKind.PAID_AFTER_CLOSE
    assert flag.detail["closed_as"] == state.value
    assert flag.id == outcome.flag_id
    assert flag in ledger.open_flags()
    assert len(_confirmations(ledger, sale.id)) == 1
    assert make.pay(sale, transaction_id=outcome.sale.transaction_id).status is PaidStatus.ALREADY_PAID
    assert len(ledger.flags_for_sale(sale.id)) == 1


def test_wrong_amount_is_stored_and_flagged_but_not_paid(ledger, make):
    sale = make.awaiting(total_fee=1800)
    outcome = make.pay(sale, transaction_id="4200000009", total_fee=1)
    assert outcome.status is PaidStatus.AMOUNT_MISMATCH
    assert not outcome.is_paid and not outcome.newly_paid
    assert outcome.sale.state is SaleState.AWAITING_PAYMENT
    assert outcome.sale.flagged
    [payment] = ledger.payments_for_sale(sale.id)
    assert (payment.transaction_id, payment.total_fee, payment.accepted) == ("4200000009", 1, False)
    [flag] = ledger.flags_for_sale(sale.id)
    assert flag.kind is FlagKind.AMOUNT_MISMATCH
    assert (flag.detail["total_fee"], flag.detail["sale_total_fee"]) == (1, 1800)
    assert _confirmations(ledger, sale.id) == []
    # The same bad report again: still one payment row, one flag.
    assert make.pay(sale, transaction_id="4200000009", total_fee=1).status is PaidStatus.AMOUNT_MISMATCH
    assert len(ledger.payments_for_sale(sale.id)) == 1
    assert len(ledger.flags_for_sale(sale.id)) == 1


def test_a_second_transaction_for_a_paid_sale_is_kept_and_flagged(ledger, make):
    sale = make.awaiting()
    make.pay(sale, transaction_id="4200000001")
    outcome = make.pay(sale, transaction_id="4200000002")
    assert outcome.status is PaidStatus.CONFLICTING_PAYMENT
    assert outcome.sale.transaction_id == "4200000001"
    payments = ledger.payments_for_sale(sale.id)
    assert [(p.transaction_id, p.accepted) for p in payments] == [("4200000001", True), ("4200000002", False)]
    [flag] = ledger.flags_for_sale(sale.id)
    assert flag.kind is FlagKind.SECOND_PAYMENT
    assert len(_confirmations(ledger, sale.id)) == 1


def test_one_transaction_reported_for_two_sales_is_flagged(ledger, make):
    first, second = make.awaiting(), make.awaiting()
    make.pay(first, transaction_id="4200000001")
    outcome = make.pay(second, transaction_id="4200000001")
    assert outcome.status is PaidStatus.CONFLICTING_PAYMENT
    assert ledger.get_sale(second.id).state is SaleState.AWAITING_PAYMENT
    assert [f.kind for f in ledger.flags_for_sale(second.id)] == [FlagKind.SECOND_PAYMENT]


def test_unknown_order_is_flagged_and_writes_no_sale(ledger, make):
    outcome = ledger.mark_paid(
        "S09-01-20261127-0001",
        transaction_id="4200000077",
        total_fee=500,
        time_end=TIME_END,
        source="notice",
        raw=b"<xml><out_trade_no>S09-01-20261127-0001</out_trade_no></xml>",
    )
    assert outcome.status is PaidStatus.UNKNOWN_SALE
    assert outcome.sale is None and not outcome.is_paid
    assert ledger.sales_for_day(TIME_END.date()) == []
    [flag] = ledger.open_flags()
    assert (flag.kind, flag.out_trade_no, flag.sale_id) == (
        FlagKind.UNKNOWN_ORDER,
        "S09-01-20261127-0001",
        None,
    )
    assert flag.detail["transaction_id"] == "4200000077"
    [message] = ledger.messages_for("S09-01-20261127-0001")
    assert message.verdict == "unknown_sale"


def test_raw_report_is_audited_with_its_outcome_in_the_same_step(ledger, make):
    sale = make.awaiting()
    make.pay(sale, transaction_id="4200000001", raw=b"<xml>first</xml>")
    make.pay(sale, transaction_id="4200000001", raw={"trade_state": "SUCCESS"}, source="query")
    messages = ledger.messages_for(sale.out_trade_no)
    assert [(m.kind, m.verdict) for m in messages] == [
        (MessageKind.NOTICE, "paid"),
        (MessageKind.QUERY, "already_paid"),
    ]
    assert messages[0].raw == "<xml>first</xml>"
    assert '"trade_state": "SUCCESS"' in messages[1].raw


def test_the_event_log_tells_the_story(ledger, make):
    sale = make.awaiting()
    make.pay(sale, transaction_id="4200000001", source="query")
    events = ledger.events_for_sale(sale.id)
    assert [e.event for e in events] == ["created", "ordered", "paid"]
    assert events[-1].detail == {
        "transaction_id": "4200000001",
        "source": "query",
        "from": "AWAITING_PAYMENT",
    }


@pytest.mark.parametrize(
    "change, message",
    [
        ({"total_fee": 0}, "total_fee"),
        ({"total_fee": "1800"}, "total_fee"),
        ({"transaction_id": ""}, "transaction_id"),
        ({"source": "carrier-pigeon"}, "source"),
        ({"time_end": datetime(2026, 11, 27, 10, 0)}, "time_end"),
        ({"cash_fee": -1}, "cash_fee"),
    ],
)
def test_malformed_reports_are_refused_without_writing(ledger, make, change, message):
    sale = make.awaiting()
    with pytest.raises(InvalidInput, match=message):
        make.pay(sale, **change)
    assert ledger.get_sale(sale.id).state is SaleState.AWAITING_PAYMENT
    assert ledger.payments_for_sale(sale.id) == []


def test_resolving_a_flag_keeps_it_on_record(ledger, clock, make):
    sale = make.sale_in(SaleState.VOIDED)
    flag_id = make.pay(sale).flag_id
    clock.advance(hours=1)
    resolved = ledger.resolve_flag(flag_id, by="店长", note="refunded at the counter")
    assert (resolved.resolved_by, resolved.resolution, resolved.resolved_at) == (
        "店长",
        "refunded at the counter",
        clock.now,
    )
    assert ledger.open_flags() == []
    assert ledger.resolve_flag(flag_id, by="someone else").resolved_by == "店长"


# -- concurrency ----------------------------------------------------------------------------


def _race(ledger, sale, reporters: int, transaction_id: str = "4200000540202611277407409907"):
    barrier = threading.Barrier(reporters)
    outcomes = []
    errors: list[BaseException] = []

    def report(i: int):
        try:
            barrier.wait()
            outcomes.append(
                ledger.mark_paid(
                    sale.out_trade_no,
                    transaction_id=transaction_id,
                    total_fee=sale.total_fee,
                    time_end=TIME_END,
                    source="notice" if i % 2 else "query",
                )
            )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=report, args=(i,)) for i in range(reporters)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    return outcomes


@pytest.mark.parametrize("state", [SaleState.AWAITING_PAYMENT, SaleState.VOIDED])
def test_fifty_simultaneous_reports_make_one_payment_and_one_slip(ledger, make, state):
    sale = make.sale_in(state)
    outcomes = _race(ledger, sale, 50)
    statuses = sorted(o.status.value for o in outcomes)
    newly = [o for o in outcomes if o.newly_paid]
    assert len(outcomes) == 50
    assert len(newly) == 1, statuses
    assert statuses.count(PaidStatus.ALREADY_PAID.value) == 49
    assert ledger.get_sale(sale.id).state is SaleState.PAID
    assert len(ledger.payments_for_sale(sale.id)) == 1
    [job] = _confirmations(ledger, sale.id)
    assert job.id == newly[0].job_id
    assert len(ledger.flags_for_sale(sale.id)) == (1 if state is SaleState.VOIDED else 0)


def _void_and_pay_at_once(ledger, make, sale) -> dict:
    barrier = threading.Barrier(2)
    results: dict = {}

    def void():
        barrier.wait()
        try:
            results["void"] = ledger.mark_voided(sale.id).state
        except Exception as exc:
            results["void"] = exc

    def paid():
        barrier.wait()
        results["paid"] = make.pay(sale).status

    threads = [threading.Thread(target=void), threading.Thread(target=paid)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_reports_racing_a_void_end_paid_and_never_lose_the_payment(ledger, make):
    """The cashier voids while the customer pays: whichever wins, the money is on the books."""
    for _ in range(5):
        sale = make.awaiting()
        results = _void_and_pay_at_once(ledger, make, sale)
        assert ledger.get_sale(sale.id).state is SaleState.PAID
        assert results["paid"] in (PaidStatus.PAID, PaidStatus.PAID_AFTER_CLOSE)
        assert len(_confirmations(ledger, sale.id)) == 1
        flagged = bool(ledger.flags_for_sale(sale.id))
        assert flagged is (results["paid"] is PaidStatus.PAID_AFTER_CLOSE)


def _report_from_another_process(url: str, out_trade_no: str, total_fee: int, threads: int, start, queue):
    """Runs in a child process: its own engine, its own connections, several threads."""
    with open_ledger(url) as ledger:
        barrier = threading.Barrier(threads)
        statuses = []

        def report():
            barrier.wait()
            statuses.append(
                ledger.mark_paid(
                    out_trade_no,
                    transaction_id="4200000540202611277407409907",
                    total_fee=total_fee,
                    time_end=TIME_END,
                    source="notice",
                ).status.value
            )

        start.wait()
        workers = [threading.Thread(target=report) for _ in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    queue.put(statuses)


@pytest.mark.timeout(60)
def test_reports_from_several_processes_make_one_payment(db_url, ledger, make):
    sale = make.awaiting()
    context = multiprocessing.get_context("spawn")
    processes, threads = 3, 8
    start = context.Event()
    queue = context.Queue()
    children = [
        context.Process(
            target=_report_from_another_process,
            args=(db_url, sale.out_trade_no, sale.total_fee, threads, start, queue),
        )
        for _ in range(processes)
    ]
    for child in children:
        child.start()
    start.set()
    statuses = [status for _ in children for status in queue.get(timeout=50)]
    for child in children:
        child.join(timeout=10)
        assert child.exitcode == 0
    assert len(statuses) == processes * threads
    assert statuses.count("paid") == 1
    assert statuses.count("already_paid") == processes * threads - 1
    assert len(ledger.payments_for_sale(sale.id)) == 1
    assert len(_confirmations(ledger, sale.id)) == 1


def _write_together(writes: list) -> list:
    """Run ``(ledger, reports)`` batches through mark_paid_many at the same moment, each in its own
    thread; returns each batch's outcomes, or the exception it raised."""
    barrier = threading.Barrier(len(writes))
    results: list[object] = [None] * len(writes)

    def write(n: int) -> None:
        who, batch = writes[n]
        barrier.wait(timeout=10)
        try:
            results[n] = who.mark_paid_many(batch)
        except Exception as exc:  # the failure is the finding: kept for the caller's assert
            results[n] = exc

    threads = [threading.Thread(target=write, args=(n,)) for n in range(len(writes))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


@pytest.mark.timeout(90)
def test_batches_of_the_same_payments_in_any_order_never_deadlock(db_url, ledger, make):
    """Two listener processes each write a batch of the same notices (WeChat's copies of a burst),
    in the order they happened to arrive: here opposite orders. On PostgreSQL each batch locks the
    sales it pays; taken in arrival order, two batches that cross would each hold a row the other
    waits for, and the database would abort one (a deadlock) and fail every notice in it. Both
    batches must succeed: one pays each sale, the other finds it paid."""
    other = open_ledger(db_url)  # a second engine: another process's connections
    try:
        for _ in range(4):
            sales = [make.awaiting(100 + n) for n in range(30)]
            reports = [
                ledger.payment_report(
                    s.out_trade_no,
                    transaction_id=make.transaction_id(),
                    total_fee=s.total_fee,
                    time_end=TIME_END,
                    source="notice",
                )
                for s in sales
            ]
            writes = [(ledger, reports), (other, reports[::-1])]
            results = _write_together(writes)
            assert all(isinstance(r, list) for r in results), results
            by_sale: dict[str, list[str]] = {}
            for (_, batch), outcomes in zip(writes, results, strict=True):
                for report, outcome in zip(batch, outcomes, strict=True):
                    by_sale.setdefault(report.out_trade_no, []).append(outcome.status.value)
            assert all(sorted(v) == ["already_paid", "paid"] for v in by_sale.values()), by_sale
            for sale in sales:
                assert ledger.get_sale(sale.id).state is SaleState.PAID
                assert len(ledger.payments_for_sale(sale.id)) == 1
                assert len(_confirmations(ledger, sale.id)) == 1
    finally:
        other.close()
