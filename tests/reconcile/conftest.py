"""A shop for reconciliation tests: the simulator as WeChat, a real ledger (SQLite and PostgreSQL: the
``database`` fixture) on the simulator's clock,
the listener receiving WeChat's notices over HTTP, the cashier's Checkout and the payment Watcher."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, text

from pos.config import Config, DatabaseConfig
from pos.ledger import Ledger, LineItem, Refund, Sale, SaleState, open_ledger
from pos.listener import create_app
from pos.orders.checkout import Checkout
from pos.reconcile import Reconciliation, reconcile_day
from pos.sandbox.testing import RunningSimulator, running_simulator
from pos.till.testing import till_config
from pos.till.watcher import Watcher
from pos.web import BackgroundServer
from pos.wechatpay import WeChatPayClient

BEIJING = ZoneInfo("Asia/Shanghai")


class _Later:
    """A WSGI app set after the server is up (the listener's config needs the server's URL)."""

    app: Any = None

    def __call__(self, environ: Any, start_response: Any) -> Any:
        return self.app(environ, start_response)


class Shop:
    def __init__(
        self, tmp_path: Path, sim: RunningSimulator, database_url: str, *, morning: bool = True
    ) -> None:
        self.sim = sim
        if morning:
            # Keep the simulated day clear of midnight: near it, move WeChat's clock on to 10:00 next day.
            now = sim.sim.clock.beijing()
            if now.hour >= 23:
                target = (now + timedelta(days=1)).replace(hour=10, minute=0, second=0, microsecond=0)
                sim.advance((target - now).total_seconds())
        self.day: date = sim.sim.clock.beijing().date()
        self._listener = _Later()
        self._server = BackgroundServer(self._listener).start()
        base = till_config(tmp_path, sim, database=DatabaseConfig(url=database_url))
        merchant = dataclasses.replace(base.merchant, notify_url=self._server.base_url + "/wechatpay/notify")
        self.config: Config = base.replace(merchant=merchant)
        self.ledger: Ledger = open_ledger(self.config.database.url, clock=self.now)
        self._listener.app = create_app(self.config, self.ledger)
        self.client = WeChatPayClient.from_config(self.config.merchant, retries=0, backoff=0)
        self.checkout = Checkout(self.ledger, self.client, self.config, clock=self.now)
        self.watcher = Watcher(self.ledger, self.client, self.config, clock=self.now)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.sim.sim.clock.now(), UTC)

    def advance(self, seconds: float) -> None:
        self.sim.advance(seconds)

    def with_store(self, **changes: Any) -> Config:
        return self.config.replace(store=dataclasses.replace(self.config.store, **changes))

    def ring_up(self, fee: int, *, name: str = "拿铁", store: str | None = None) -> Sale:
        checkout = self.checkout
        if store is not None:
            checkout = Checkout(self.ledger, self.client, self.with_store(id=store), clock=self.now)
        sale = checkout.ring_up(items=[LineItem(name, fee)])
        assert sale.state is SaleState.AWAITING_PAYMENT, sale.failure
        return sale

    def pay_by_notice(self, sale: Sale) -> Sale:
        self.sim.pay(sale.code_url)
        return self.wait_paid(sale)

    def pay_silently(self, sale: Sale) -> str:
        """The customer pays and WeChat's notice never arrives."""
        return self.sim.pay(sale.code_url, notify=False)

    def wait_paid(self, sale: Sale, timeout: float = 10.0) -> Sale:
        deadline = time.monotonic() + timeout
        while True:
            current = self.ledger.get_sale(sale.id)
            if current.state.is_paid or time.monotonic() > deadline:
                return current
            time.sleep(0.01)

    def refund(self, sale: Sale, fee: int, *, at_wechat: bool = True, complete: bool = True) -> Refund:
        """A refund as the manager's page makes it: reserved in the ledger, sent to WeChat, confirmed."""
        refund = self.ledger.start_refund(sale.id, fee)
        refund_id = None
        if at_wechat:
            accepted = self.client.refund(
                out_refund_no=refund.out_refund_no,
                total_fee=sale.total_fee,
                refund_fee=fee,
                out_trade_no=sale.out_trade_no,
            )
            refund_id = accepted.refund_id
        if complete:
            self.ledger.complete_refund(refund.out_refund_no, refund_id=refund_id)
        return self.ledger.get_refund(refund.out_refund_no)

    def reconcile(self, config: Config | None = None, day: date | None = None) -> Reconciliation:
        return reconcile_day(self.ledger, self.client, config or self.config, day or self.day)

    def sql(self, statement: str, **params: Any) -> None:
        """Change the database behind the ledger's back (a tampered or broken ledger): another
        connection, not the ledger's code."""
        engine = create_engine(self.config.database.url)
        try:
            with engine.begin() as conn:
                conn.execute(text(statement), params)
        finally:
            engine.dispose()

    def close(self) -> None:
        self._server.stop()
        self.client.close()
        self.ledger.close()


@pytest.fixture
def sim(request) -> Iterator[RunningSimulator]:
    """The simulator; ``@pytest.mark.parametrize("sim", [{...settings}], indirect=True)`` changes settings."""
    settings = {"time_scale": 0.001, **getattr(request, "param", {})}
    with running_simulator(**settings) as running:
        yield running


@pytest.fixture
def shop(tmp_path, sim, database_url) -> Iterator[Shop]:
    opened = Shop(tmp_path, sim, database_url)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def shop_today(tmp_path, sim, database_url) -> Iterator[Shop]:
    """A shop on WeChat's real "today" (no clock moved): for commands that check the date themselves."""
    opened = Shop(tmp_path, sim, database_url, morning=False)
    try:
        yield opened
    finally:
        opened.close()
