"""The cashiers' table and the day's takings by cashier, on a real SQLite ledger."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pos.ledger import InvalidInput, LineItem, open_ledger
from pos.ledger.cashiers import (
    check_name,
    has_cashiers,
    list_cashiers,
    pin_hash,
    remove_cashier,
    set_cashier,
    takings_by_cashier,
)

NOW = datetime(2026, 11, 27, 4, 0, tzinfo=UTC)


@pytest.fixture
def ledger(db_url):
    with open_ledger(db_url, clock=lambda: NOW) as opened:
        yield opened


def test_cashiers_are_added_given_new_pins_and_removed(ledger):
    assert not has_cashiers(ledger)
    assert set_cashier(ledger, " 小王 ", "hash-1") is True
    assert set_cashier(ledger, "小王", "hash-2") is False
    assert pin_hash(ledger, "小王") == "hash-2" and pin_hash(ledger, "nobody") is None
    assert [c.name for c in list_cashiers(ledger)] == ["小王"] and has_cashiers(ledger)
    assert remove_cashier(ledger, "小王") and not remove_cashier(ledger, "小王")
    assert not has_cashiers(ledger)


@pytest.mark.parametrize("name", ["", " ", "x" * 33, "a\nb", "<script>"])
def test_odd_names_are_refused(name):
    with pytest.raises(InvalidInput):
        check_name(name)


def test_takings_by_cashier(ledger):
    def sale(cashier: str, fen: int, paid: bool) -> None:
        made = ledger.create_sale(store="S01", lane="01", items=[LineItem("茶", fen)], cashier=cashier)
        if paid:
            ledger.record_order(made.id, code_url="weixin://x", prepay_id="p", expires_at=NOW.replace(hour=5))
            ledger.mark_paid(
                made.out_trade_no,
                transaction_id=f"42{made.id:026d}",
                total_fee=fen,
                time_end=NOW,
                source="query",
            )

    sale("小王", 1000, True)
    sale("小王", 500, False)
    sale("Amy", 2000, True)
    sale("", 300, True)
    day = ledger.get_sale(1).business_date
    rows = {r.cashier: r for r in takings_by_cashier(ledger, day, store="S01")}
    assert (rows["小王"].sales, rows["小王"].paid_count, rows["小王"].paid_fee) == (2, 1, 1000)
    assert rows["Amy"].net_fee == 2000 and rows[""].paid_fee == 300
    assert [r.cashier for r in takings_by_cashier(ledger, day, store="S01")] == ["Amy", "小王", ""]
