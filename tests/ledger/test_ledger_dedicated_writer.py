"""Ledger.dedicated_writer: the same transactions through one kept connection, one at a time."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import event
from sqlalchemy.exc import InvalidRequestError

from pos.ledger import JobKind, PaidStatus, SaleState

pytestmark = pytest.mark.timeout(30)


def _begins(ledger) -> list[int]:
    """The DBAPI connection (by id) every write transaction on ``ledger``'s engine begins on."""
    seen: list[int] = []

    @event.listens_for(ledger.engine, "begin")
    def _record(connection) -> None:
        if connection.get_execution_options().get("pos_begin", "BEGIN IMMEDIATE") == "BEGIN IMMEDIATE":
            seen.append(id(connection.connection.driver_connection))

    return seen


def _sqlite_only(ledger) -> None:
    if ledger.engine.dialect.name != "sqlite":
        pytest.skip("the dedicated writer is SQLite's; elsewhere dedicated_writer() is the ledger itself")


def test_every_call_gives_the_same_view_and_a_view_gives_itself(ledger):
    writer = ledger.dedicated_writer()
    assert ledger.dedicated_writer() is writer
    assert writer.dedicated_writer() is writer
    if ledger.engine.dialect.name != "sqlite":
        assert writer is ledger


def test_the_views_writes_use_one_connection(ledger, make):
    _sqlite_only(ledger)
    sales = [make.awaiting() for _ in range(6)]
    begins = _begins(ledger)
    writer = ledger.dedicated_writer()
    # Several idle connections in the pool: pooled transactions would take them in turn.
    for connection in [ledger.engine.connect() for _ in range(3)]:
        connection.close()
    for sale in sales:
        outcome = writer.mark_paid(
            sale.out_trade_no,
            transaction_id=make.transaction_id(),
            total_fee=sale.total_fee,
            time_end=make.clock.now,
            source="notice",
        )
        assert outcome.status is PaidStatus.PAID
        ledger.get_sale(sale.id)  # reads still come from the pool
        writer.log_event("checked", sale_id=sale.id)
    assert len(begins) == 12
    assert len(set(begins)) == 1
    # What the view wrote is what the ledger reads: PAID once, one slip each.
    for sale in sales:
        assert ledger.get_sale(sale.id).state is SaleState.PAID
        assert [j.kind for j in ledger.jobs_for_sale(sale.id)].count(JobKind.CONFIRMATION) == 1


def test_a_failed_transaction_is_rolled_back_and_the_view_starts_afresh(ledger, make):
    _sqlite_only(ledger)
    sale = make.awaiting()
    writer = ledger.dedicated_writer()
    writer.log_event("before", sale_id=sale.id)
    first = writer._writer._connection
    # A transaction that fails half-way, as a bug or a full disk would make it.
    with pytest.raises(RuntimeError), writer._write() as conn:
        conn.exec_driver_sql(
            "INSERT INTO events (sale_id, event, at) VALUES (?, 'half_way', '2026-11-27 02:00:00')",
            (sale.id,),
        )
        raise RuntimeError("boom")
    assert first.closed  # given back to the pool (rolled back), never used by the view again
    assert "half_way" not in [e.event for e in ledger.events_for_sale(sale.id)]
    writer.log_event("after", sale_id=sale.id)
    assert writer._writer._connection is not first
    assert [e.event for e in ledger.events_for_sale(sale.id)][-2:] == ["before", "after"]


def test_a_nested_write_fails_instead_of_deadlocking(ledger, make):
    _sqlite_only(ledger)
    sale = make.awaiting()
    writer = ledger.dedicated_writer()
    with pytest.raises(InvalidRequestError), writer._write():
        writer.log_event("nested", sale_id=sale.id)
    assert "nested" not in [e.event for e in ledger.events_for_sale(sale.id)]
    writer.log_event("later", sale_id=sale.id)  # the view is usable again
    assert [e.event for e in ledger.events_for_sale(sale.id)][-1] == "later"


@pytest.mark.parametrize("state", [SaleState.AWAITING_PAYMENT, SaleState.EXPIRED])
def test_fifty_threads_through_the_view_make_one_payment_and_one_slip(ledger, make, state):
    sale = make.sale_in(state)
    writer = ledger.dedicated_writer()
    transaction_id = make.transaction_id()
    barrier = threading.Barrier(50)
    outcomes, errors = [], []

    def report() -> None:
        barrier.wait()
        try:
            outcomes.append(
                writer.mark_paid(
                    sale.out_trade_no,
                    transaction_id=transaction_id,
                    total_fee=sale.total_fee,
                    time_end=make.clock.now,
                    source="notice",
                )
            )
        except Exception as exc:  # pragma: no cover - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=report) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sum(o.newly_paid for o in outcomes) == 1
    assert [o.status for o in outcomes].count(PaidStatus.ALREADY_PAID) == 49
    assert ledger.get_sale(sale.id).state is SaleState.PAID
    assert len(ledger.payments_for_sale(sale.id)) == 1
    assert [j.kind for j in ledger.jobs_for_sale(sale.id)].count(JobKind.CONFIRMATION) == 1


def test_closing_the_ledger_closes_the_views_connection(ledger, make):
    _sqlite_only(ledger)
    writer = ledger.dedicated_writer()
    writer.log_event("opened")
    kept = writer._writer._connection
    assert kept is not None and not kept.closed
    ledger.close()
    assert kept.closed


def test_closing_the_view_leaves_the_ledger_open(ledger, make):
    writer = ledger.dedicated_writer()
    sale = make.awaiting()
    writer.log_event("one", sale_id=sale.id)
    writer.close()
    assert ledger.get_sale(sale.id).state is SaleState.AWAITING_PAYMENT
    writer.log_event("two", sale_id=sale.id)  # a closed view opens a new connection when it writes again
    assert [e.event for e in ledger.events_for_sale(sale.id)][-2:] == ["one", "two"]
