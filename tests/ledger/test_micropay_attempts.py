"""The ledger's record of payment-code attempts, on SQLite and PostgreSQL: what the watcher
follows (open attempts), what the page shows (the latest), what reconciliation maps."""

from __future__ import annotations

from datetime import timedelta

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
