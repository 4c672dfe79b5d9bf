"""Fixtures for the manager's pages: a till on loopback against the simulator, with a manager password.

The password hash uses few PBKDF2 rounds so a test of ten wrong passwords takes
milliseconds; production hashes are scrypt (``pos manager set-password``).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests
from werkzeug.security import generate_password_hash

from pos.ledger import LineItem
from pos.sandbox.testing import running_simulator
from pos.testing.clock import FakeClock
from pos.till.testing import RunningTill, running_till, till_config

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(html: str) -> str:
    match = CSRF.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


class Manager:
    """A browser-like session on the manager's pages: cookies kept, CSRF token read from each page."""

    def __init__(self, till: RunningTill) -> None:
        self.till = till
        self.http = requests.Session()
        self.token = ""

    def url(self, path: str) -> str:
        return self.till.url(path)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        response = self.http.get(self.url(path), timeout=30, **kwargs)
        match = (
            CSRF.search(response.text) if "text/html" in response.headers.get("Content-Type", "") else None
        )
        if match:
            self.token = match.group(1)
        return response

    def post(self, path: str, data: dict[str, Any] | None = None, **kwargs: Any) -> requests.Response:
        body = {"csrf_token": self.token, **(data or {})}
        response = self.http.post(self.url(path), data=body, timeout=30, **kwargs)
        match = (
            CSRF.search(response.text) if "text/html" in response.headers.get("Content-Type", "") else None
        )
        if match:
            self.token = match.group(1)
        return response

    def login(self, password: str = PASSWORD) -> requests.Response:
        self.get("/manager/login")
        return self.post("/manager/login", {"password": password})


@pytest.fixture
def sim():
    with running_simulator() as running:
        yield running


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(live=True)


def manager_config(tmp_path, sim, *, language: str = "zh-CN", database: Any = None, **manager: Any):
    """The till's config with a manager's password; ``database``: a DatabaseConfig (default SQLite)."""
    sections = {"database": database} if database is not None else {}
    config = till_config(tmp_path, sim, language=language, **sections)
    settings = dataclasses.replace(
        config.manager, password_hash=generate_password_hash(PASSWORD, "pbkdf2:sha256:1000"), **manager
    )
    return config.replace(manager=settings)


@pytest.fixture
def config(database, tmp_path, sim):
    return manager_config(tmp_path, sim, database=database.config)


@pytest.fixture
def till(config, clock) -> Iterator[RunningTill]:
    with running_till(config, clock=clock, workers=False) as running:
        yield running


@pytest.fixture
def manager(till) -> Manager:
    return Manager(till)


@pytest.fixture
def logged_in(manager) -> Manager:
    response = manager.login()
    assert response.status_code == 200 and response.url.endswith("/manager/day"), response.text[:300]
    return manager


class Kit:
    """What the tests share beyond fixtures (pytest's importlib mode has no test packages to import)."""

    PASSWORD = PASSWORD
    Manager = Manager
    manager_config = staticmethod(manager_config)
    csrf_token = staticmethod(csrf_token)


@pytest.fixture
def kit() -> type[Kit]:
    return Kit


# -- the chain's manager (test_chain.py, test_browser_chain.py) ----------------------------------


class ChainSales:
    """Sales rung up straight into the till's ledger in any store and lane, paid (and refunded) by
    the ledger's own transitions, as the chain's other tills, listeners and refunds would."""

    PASSWORD = "the whole chain 2026"  # the chain's manager's (see with_chain_password)

    @staticmethod
    def with_chain_password(config: Any) -> Any:
        """``config`` with ``[manager] chain_password_hash`` for :attr:`PASSWORD`."""
        chain_hash = generate_password_hash(ChainSales.PASSWORD, "pbkdf2:sha256:1000")
        return config.replace(manager=dataclasses.replace(config.manager, chain_password_hash=chain_hash))

    def __init__(self, till) -> None:
        self.service = till.till
        self.ledger = till.till.ledger
        self.payments = 0

    def sale(self, store: str, lane: str, fee: int, *, paid: bool = True, refund: int = 0):
        ledger, now = self.ledger, self.service.now()
        sale = ledger.create_sale(store=store, lane=lane, items=[LineItem("拿铁", fee)])
        if not paid:
            return sale
        sale = ledger.record_order(
            sale.id,
            code_url=f"weixin://wxpay/bizpayurl?pr={sale.id:07d}",
            prepay_id=f"wx{sale.id:030d}",
            expires_at=now + timedelta(minutes=15),
        )
        self.payments += 1
        sale = ledger.mark_paid(
            sale.out_trade_no,
            transaction_id=f"42000{self.payments:023d}",
            total_fee=fee,
            time_end=now,
            source="notice",
        ).sale
        if refund:
            started = ledger.start_refund(sale.id, refund)
            sale = ledger.complete_refund(started.out_refund_no, refund_id=f"503{sale.id:05d}").sale
        return sale


@pytest.fixture
def chain_sales() -> type[ChainSales]:
    return ChainSales
