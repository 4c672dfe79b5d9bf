"""Void requests: kept on the sale until the watcher may close the order at WeChat."""

from __future__ import annotations

import threading

import pytest

from pos.ledger import InvalidTransition, SaleState, UnknownSale, open_ledger


def test_request_void_keeps_the_sale_awaiting_and_records_who_and_when(ledger, clock, make):
    sale = make.awaiting()
    asked_at = clock.advance(minutes=1)
    requested = ledger.request_void(sale.id, by="小王")
    assert requested.state is SaleState.AWAITING_PAYMENT
    assert requested.void_requested and requested.void_requested_at == asked_at
    assert requested.void_requested_by == "小王"
    assert ledger.get_sale(sale.id).void_requested_at == asked_at
    assert [e.event for e in ledger.events_for_sale(sale.id)][-1] == "void_requested"
    assert not make.awaiting().void_requested


def test_asking_twice_keeps_the_first_request(ledger, clock, make):
    sale = make.awaiting()
    first = ledger.request_void(sale.id, by="小王")
    clock.advance(minutes=1)
    again = ledger.request_void(sale.id, by="小李")
    assert (again.void_requested_at, again.void_requested_by) == (first.void_requested_at, "小王")
    assert [e.event for e in ledger.events_for_sale(sale.id)].count("void_requested") == 1


@pytest.mark.parametrize(
    "state", [SaleState.NEW, SaleState.FAILED, SaleState.PAID, SaleState.EXPIRED, SaleState.VOIDED]
)
def test_only_an_awaiting_sale_can_have_a_void_request(ledger, make, state):
    sale = make.sale_in(state)
    with pytest.raises(InvalidTransition) as caught:
        ledger.request_void(sale.id, by="小王")
    assert caught.value.current is state
    assert ledger.get_sale(sale.id).void_requested_at is None


def test_unknown_sale(ledger):
    with pytest.raises(UnknownSale):
        ledger.request_void(404)


def test_a_requested_void_still_becomes_paid_when_the_customer_pays(ledger, make):
    sale = make.awaiting()
    ledger.request_void(sale.id, by="小王")
    outcome = make.pay(sale)
    assert outcome.status.value == "paid" and outcome.sale.state is SaleState.PAID
    with pytest.raises(InvalidTransition):
        ledger.mark_voided(sale.id)


def test_the_request_then_the_close_makes_it_voided(ledger, make):
    sale = make.awaiting()
    ledger.request_void(sale.id, by="小王")
    voided = ledger.mark_voided(sale.id, by="小王")
    assert voided.state is SaleState.VOIDED and voided.void_requested_by == "小王"
    assert ledger.pending_sales() == []


def test_pending_sales_put_void_requests_first_oldest_request_first(ledger, clock, make):
    plain = make.awaiting()
    fresh = make.new()
    later = make.awaiting()
    earlier = make.awaiting()
    ledger.request_void(earlier.id, by="a")
    clock.advance(seconds=5)
    ledger.request_void(later.id, by="b")
    assert [s.id for s in ledger.pending_sales()] == [earlier.id, later.id, plain.id, fresh.id]


def test_racing_requests_write_one(ledger, make):
    sale = make.awaiting()
    barrier = threading.Barrier(8)
    results = []

    def ask(name: str) -> None:
        barrier.wait()
        results.append(ledger.request_void(sale.id, by=name))

    threads = [threading.Thread(target=ask, args=(f"c{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({(s.void_requested_at, s.void_requested_by) for s in results}) == 1
    assert [e.event for e in ledger.events_for_sale(sale.id)].count("void_requested") == 1


def test_the_request_survives_reopening_the_ledger(db_url, ledger, make):
    sale = make.awaiting()
    ledger.request_void(sale.id, by="小王")
    ledger.close()
    with open_ledger(db_url) as reopened:
        [pending] = reopened.pending_sales()
        assert pending.id == sale.id and pending.void_requested_by == "小王"
