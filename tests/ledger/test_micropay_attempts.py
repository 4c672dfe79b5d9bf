"""The ledger's record of payment-code attempts, on SQLite and PostgreSQL: what the watcher
follows (open attempts), what the page shows (the latest), what reconciliation maps."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from pos.ledger import SaleState
from pos.ledger import micropay as codes


def test_attempts_fold_into_their_outcomes(ledger, clock):
    sale = ledger.create_sale(store="S01", lane="01", total_fee=1880, body="咖啡")
    first = codes.start_attempt(ledger, sale.id)
    codes.record_waiting(ledger, sale.id, first, "USERPAYING")
    assert codes.code_attempt_open(ledger, sale.id)
    [open_one] = codes.attempts_since(ledger, clock() - timedelta(minutes=1))
    assert (open_one.sale_id, open_one.out_trade_no, open_one.waiting) == (sale.id, first, "USERPAYING")
    assert open_one.open and open_one.started_at == clock()
    clock.advance(60)
    codes.record_reversed(ledger, sale.id, first, cancelled=True)
    assert not codes.code_attempt_open(ledger, sale.id)
    second = codes.start_attempt(ledger, sale.id)
    assert second == codes.attempt_number(sale.out_trade_no, 2)
    codes.record_settled(ledger, sale.id, second, "declined", err_code="NOTENOUGH")
    found = codes.attempts_of_sale(ledger, sale.id)
    assert [(a.out_trade_no, a.outcome, a.given_up) for a in found] == [
        (first, "reversed", True), (second, "declined", False)
    ]  # fmt: skip
    assert found[0].detail["cancelled"] is True and found[0].ended_at == clock()
    assert codes.last_attempt(ledger, sale.id).detail["err_code"] == "NOTENOUGH"
    assert codes.attempts_since(ledger, clock() + timedelta(seconds=1)) == []
    assert codes.given_up_among(ledger, [sale], [first, second, "S09-01-20261127-0001-M1"]) == {first}


def test_a_sale_never_charged_by_code_has_no_attempt(ledger):
    sale = ledger.create_sale(store="S01", lane="01", total_fee=100, body="x")
    assert codes.last_attempt(ledger, sale.id) is None and not codes.code_attempt_open(ledger, sale.id)


def test_attempts_are_read_by_id_from_the_first_one_still_followed(ledger):
    sale = ledger.create_sale(store="S01", lane="01", total_fee=1880, body="咖啡")
    number = codes.start_attempt(ledger, sale.id)
    [attempt] = codes.attempts_since(ledger, ledger._now(None) - timedelta(minutes=1))
    found, next_id = codes.attempts_from(ledger, attempt.event_id)
    assert [a.out_trade_no for a in found] == [number] and next_id <= attempt.event_id
    assert codes.attempts_from(ledger, attempt.event_id + 1)[0] == []  # its first event is before


def test_a_reverse_failed_attempt_ends_reversed_or_flagged_later(ledger, clock):
    sale = ledger.create_sale(store="S01", lane="01", total_fee=1880, body="咖啡")
    first = codes.start_attempt(ledger, sale.id)
    codes.record_reverse_failed(ledger, sale.id, first)
    [attempt] = codes.attempts_of_sale(ledger, sale.id)
    assert attempt.outcome == "reverse_failed" and attempt.reversing and attempt.given_up
    second = codes.start_attempt(ledger, sale.id)  # the cashier tries another code meanwhile
    clock.advance(60)
    codes.record_reversed(ledger, sale.id, first)  # the first one's reverse went through at last
    found = codes.attempts_of_sale(ledger, sale.id)
    assert [(a.outcome, a.reversing) for a in found] == [("reversed", False), ("", False)]
    assert found[0].ended_at == clock() and codes.given_up_attempts(ledger, sale.id) == [first]
    with pytest.raises(codes.AttemptInProgress):  # the late event did not end the second attempt
        codes.start_attempt(ledger, sale.id)
    codes.record_reverse_failed(ledger, sale.id, second)
    codes.record_reverse_ended(ledger, sale.id, second, "paid_after_reverse")
    last = codes.last_attempt(ledger, sale.id)
    assert (last.outcome, last.reverse_ended, last.reversing) == (
        "reverse_failed",
        "paid_after_reverse",
        False,
    )
    codes.record_reversed(ledger, sale.id, second)  # once ended, a stray reverse changes nothing
    assert codes.last_attempt(ledger, sale.id).outcome == "reverse_failed"


def test_a_sale_having_its_native_order_placed_is_not_charged_by_code(ledger):
    sale = ledger.create_sale(store="S01", lane="01", total_fee=100, body="x", ordering=True)
    with pytest.raises(codes.OpenNativeOrder):
        codes.start_attempt(ledger, sale.id)
    ledger.record_order_failure(sale.id, "refused")
    number = codes.start_attempt(ledger, sale.id)  # FAILED: a code may pay it
    with pytest.raises(codes.AttemptInProgress):
        ledger.retry_order(sale.id)  # no Native order while the code is open
    assert ledger.get_sale(sale.id).state is SaleState.FAILED
    codes.record_settled(ledger, sale.id, number, "declined")
    ledger.retry_order(sale.id)
    with pytest.raises(codes.OpenNativeOrder):
        codes.start_attempt(ledger, sale.id)
    with pytest.raises(codes.NotNewSale):
        codes.claim_native(ledger, 999)


def race(*calls):
    """Run ``calls`` at once (threads released together); each one's result or exception."""
    start = threading.Barrier(len(calls))

    def go(call):
        start.wait(5)
        try:
            return call()
        except codes.LedgerError as exc:
            return exc

    with ThreadPoolExecutor(len(calls)) as pool:
        return [f.result() for f in [pool.submit(go, call) for call in calls]]


def test_a_code_and_a_native_order_at_once_exactly_one_wins(ledger):
    for _ in range(10):
        sale = ledger.create_sale(store="S01", lane="01", total_fee=100, body="x")
        number, claimed = race(lambda: codes.start_attempt(ledger, sale.id),  # noqa: B023
                               lambda: codes.claim_native(ledger, sale.id))  # noqa: B023  # fmt: skip
        if isinstance(number, str):
            assert isinstance(claimed, codes.AttemptInProgress)
        else:
            assert isinstance(number, codes.OpenNativeOrder) and claimed is None
        assert len(codes.attempts(ledger, sale.id)) == (1 if isinstance(number, str) else 0)


def test_two_codes_at_once_exactly_one_is_charged(ledger):
    for _ in range(10):
        sale = ledger.create_sale(store="S01", lane="01", total_fee=100, body="x")
        results = race(*[lambda: codes.start_attempt(ledger, sale.id)] * 3)  # noqa: B023
        assert sum(isinstance(r, str) for r in results) == 1
        assert len(codes.attempts(ledger, sale.id)) == 1
