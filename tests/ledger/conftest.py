"""Fixtures for the ledger tests: a real database per test, and a clock the test moves.

Each test runs twice, through the ``database`` fixture (tests/conftest.py): on its own SQLite file
under tmp_path, and on its own fresh PostgreSQL database.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from pos.ledger import Ledger, LineItem, Sale, SaleState, open_ledger
from pos.testing.clock import FakeClock


@pytest.fixture
def db_url(database, tmp_path) -> str:
    return database.url_in(tmp_path / "ledger")


@pytest.fixture
def empty_db_url(database, tmp_path) -> str:
    """A database no migration has run on (PostgreSQL's test databases start migrated)."""
    return database.url_in(tmp_path / "ledger", empty=True)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 11, 27, 2, 0, tzinfo=UTC))  # 10:00 in Shanghai


@pytest.fixture
def ledger(db_url, clock) -> Iterator[Ledger]:
    with open_ledger(db_url, clock=clock) as opened:
        yield opened


class Factory:
    """Builds sales in a given state through the public API only (tests import nothing from here)."""

    def __init__(self, ledger: Ledger, clock: FakeClock) -> None:
        self.ledger = ledger
        self.clock = clock
        self._transactions = 0

    def transaction_id(self) -> str:
        self._transactions += 1
        return f"42000{self._transactions:023d}"

    def new(self, total_fee: int = 990) -> Sale:
        return self.ledger.create_sale(store="S01", lane="01", total_fee=total_fee, body="快速收款")

    def awaiting(self, total_fee: int = 1800) -> Sale:
        """A sale WeChat accepted the order for, waiting for the customer."""
        sale = self.ledger.create_sale(
            store="S01", lane="01", items=[LineItem("拿铁", total_fee)], cashier="小王"
        )
        return self.ledger.record_order(
            sale.id,
            code_url=f"weixin://wxpay/bizpayurl?pr={sale.id:07d}",
            prepay_id=f"wx{sale.id:030d}",
            expires_at=self.clock.now + timedelta(minutes=15),
        )

    def pay(self, sale: Sale, transaction_id: str | None = None, **kw):
        """Report ``sale`` paid in full, as the listener would."""
        args = {
            "transaction_id": self.transaction_id() if transaction_id is None else transaction_id,
            "total_fee": sale.total_fee,
            "time_end": self.clock.now,
            "source": "notice",
        }
        args.update(kw)
        return self.ledger.mark_paid(sale.out_trade_no, **args)

    def sale_in(self, state: SaleState) -> Sale:
        """A fresh sale driven into ``state``."""
        if state is SaleState.NEW:
            return self.new()
        if state is SaleState.FAILED:
            return self.ledger.record_order_failure(self.new().id, "SYSTEMERROR: 系统超时")
        sale = self.awaiting()
        if state is SaleState.AWAITING_PAYMENT:
            return sale
        if state is SaleState.EXPIRED:
            return self.ledger.mark_expired(sale.id)
        if state is SaleState.VOIDED:
            return self.ledger.mark_voided(sale.id, by="小王")
        paid = self.pay(sale).sale
        assert paid is not None
        if state is SaleState.PAID:
            return paid
        fee = paid.total_fee if state is SaleState.REFUNDED else 100
        refund = self.ledger.start_refund(paid.id, fee)
        return self.ledger.complete_refund(refund.out_refund_no, refund_id="50300001").sale


@pytest.fixture
def make(ledger, clock) -> Factory:
    return Factory(ledger, clock)
