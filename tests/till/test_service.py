"""Till: composing ledger, WeChat client, checkout, watcher and spooler once, and their life cycle."""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime, timedelta

import pytest

from pos.config import ConfigError, DatabaseConfig
from pos.inputs import InputError
from pos.ledger import JobKind, SaleState
from pos.sandbox.testing import running_simulator
from pos.till.service import Till
from pos.till.testing import till_config
from pos.till.validation import SaleRequest


@pytest.fixture
def sim():
    with running_simulator() as running:
        yield running


def test_opens_a_sqlite_ledger_in_a_new_data_directory(sim, tmp_path):
    nested = tmp_path / "a" / "b"
    config = till_config(tmp_path, sim, database=DatabaseConfig(url=f"sqlite:///{nested / 'pos.sqlite3'}"))
    till = Till(config)
    try:
        assert (nested / "pos.sqlite3").exists()
        assert (tmp_path / "data").is_dir()  # [till] data_dir
        assert (
            till.catalogue["LATTE"].price_fen == 1800 and till.catalogue["LATTE"].barcode == "6901234567892"
        )
    finally:
        till.stop()


def test_start_runs_both_workers_and_stop_ends_them(database, sim, tmp_path):
    till = Till(till_config(tmp_path, sim, database=database.config))
    with till:
        assert till.watcher.running and till.spooler.running
        till.start()  # a second start changes nothing
    assert not till.watcher.running and not till.spooler.running
    till.stop()  # and a second stop is harmless


def test_ring_up_is_paid_through_the_watcher_and_printed(database, sim, tmp_path):
    with Till(till_config(tmp_path, sim, database=database.config)) as till:
        sale = till.ring_up(SaleRequest(items=(), amount_fen=990, body=None, cashier=""))
        assert sale.state is SaleState.AWAITING_PAYMENT and sale.code_url
        # The idle watcher sleeps 10 s (watcher.EMPTY_WAKE); the ring-up told it the first query's time.
        assert till.watcher.next_due() == sale.ordered_at + timedelta(seconds=2)
        sim.pay(sale.code_url, notify=False)
        deadline = time.monotonic() + 10
        while till.ledger.get_sale(sale.id).state is not SaleState.PAID and time.monotonic() < deadline:
            time.sleep(0.05)
        assert till.ledger.get_sale(sale.id).state is SaleState.PAID  # the watcher's own thread found it
        deadline = time.monotonic() + 10
        while till.ledger.unfinished_jobs() and time.monotonic() < deadline:
            time.sleep(0.05)
        kinds = [job.kind for job in till.ledger.jobs_for_sale(sale.id)]
        assert kinds == [JobKind.SALE_SLIP, JobKind.CONFIRMATION]
        assert not till.ledger.unfinished_jobs()  # both went to the dir: printer
        assert till.today() == sale.business_date


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)  # SQLite has no server to share
def test_a_till_keeps_to_its_database_pool_and_still_takes_payments(database, sim, tmp_path):
    """``[database] pool_size``/``max_overflow`` size the till's share of a chain's server: one
    connection, none more, and the cashier's ring-up, the watcher and the spooler take turns on it."""
    small = dataclasses.replace(database.config, pool_size=1, max_overflow=0)
    with Till(till_config(tmp_path, sim, database=small)) as till:
        pool = till.ledger.engine.pool
        assert (pool.size(), pool._max_overflow) == (1, 0)
        sales = [
            till.ring_up(SaleRequest(items=(), amount_fen=100 + n, body=None, cashier="")) for n in range(3)
        ]
        for sale in sales:
            sim.pay(sale.code_url, notify=False)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (
            any(till.ledger.get_sale(s.id).state is not SaleState.PAID for s in sales)
            or till.ledger.unfinished_jobs()
        ):
            time.sleep(0.05)
        assert [till.ledger.get_sale(s.id).state for s in sales] == [SaleState.PAID] * 3
        assert not till.ledger.unfinished_jobs()
        assert pool.checkedout() + pool.checkedin() <= 1


def test_business_day_follows_the_clock_in_the_store_zone(database, sim, tmp_path):
    moment = datetime(2026, 11, 26, 16, 30, tzinfo=UTC)  # 00:30 on the 27th in Shanghai
    till = Till(till_config(tmp_path, sim, database=database.config), clock=lambda: moment)
    try:
        assert till.today().isoformat() == "2026-11-27"
    finally:
        till.stop()


def test_refusals_are_input_errors_with_statuses(database, sim, tmp_path):
    till = Till(till_config(tmp_path, sim, database=database.config))
    try:
        with pytest.raises(InputError) as unknown:
            till.get_sale(12345)
        assert unknown.value.status == 404 and unknown.value.key == "error.no_sale"
        sale = till.ring_up(SaleRequest(items=(), amount_fen=100, body=None, cashier=""))
        with pytest.raises(InputError) as retry:
            till.retry(sale.id)
        assert retry.value.status == 409
        with pytest.raises(InputError) as reprint:
            till.reprint(sale.id, JobKind.CONFIRMATION)
        assert reprint.value.status == 409
        assert till.reprint(sale.id).kind is JobKind.SALE_SLIP  # the default: the sale's latest slip
    finally:
        till.stop()


def test_a_bad_printer_profile_fails_at_start_up(database, sim, tmp_path):
    config = till_config(tmp_path, sim, database=database.config)
    config = config.replace(printer=dataclasses.replace(config.printer, profile="no-such-printer"))
    with pytest.raises(ConfigError, match="no-such-printer"):
        Till(config)


def test_voids_before_five_minutes_are_left_to_the_watcher(database, sim, tmp_path):
    now = [datetime.now(UTC)]
    till = Till(till_config(tmp_path, sim, database=database.config), clock=lambda: now[0])
    try:
        sale = till.ring_up(SaleRequest(items=(), amount_fen=100, body=None, cashier=""))
        voiding = till.void(sale.id, by="小王")
        assert voiding.state is SaleState.AWAITING_PAYMENT and voiding.void_requested
        now[0] += timedelta(minutes=5, seconds=1)
        sim.advance(301)
        till.watcher.poll_once()
        assert till.ledger.get_sale(sale.id).state is SaleState.VOIDED
    finally:
        till.stop()
