"""pos.till.csv_helper: a big day's CSV written by two processes is the file one process writes.

The helper is a real second process (spawned, as in the till) reading a real SQLite file;
"big" is lowered to a few sales here so the tests stay quick. How much faster two processes
are is measured in bench/report.py, not here.
"""

from __future__ import annotations

import logging
import os
import signal
import tempfile
import time
from concurrent.futures import Future
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from pos.ledger import LineItem, open_ledger
from pos.reports import day as report
from pos.till.csv_helper import CsvHelper

DAY = date(2026, 11, 27)
ZONE = ZoneInfo("Asia/Shanghai")
SALES = 40


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=37)
        return self.now


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    """A day of SALES sales: paid, unpaid, awkward names, a keyed-in amount; and one the day before."""
    url = f"sqlite:///{tmp_path_factory.mktemp('csv-helper') / 'pos.sqlite3'}"
    clock = Clock()
    with open_ledger(url, clock=clock) as ledger:
        yesterday = ledger.create_sale(
            store="S01", lane="01", total_fee=100, body="昨天", now=clock.now - timedelta(days=1)
        )
        for n in range(SALES):
            if n % 7 == 3:
                sale = ledger.create_sale(store="S01", lane="02", total_fee=999 + n, body="=手工, 金额")
            else:
                items = [LineItem("拿铁", 1800, qty=1 + n % 2), LineItem('卡布奇诺 "大杯"', 2200)][
                    : 1 + n % 2
                ]
                sale = ledger.create_sale(store="S01", lane="01", items=items, cashier=f"收银员{n % 3}")
            ledger.record_order(
                sale.id, code_url="weixin://wxpay/bizpayurl?pr=x", prepay_id="wx1", expires_at=clock.now
            )
            if n % 4:
                ledger.mark_paid(
                    sale.out_trade_no,
                    transaction_id=f"42{sale.id:026d}",
                    total_fee=sale.total_fee,
                    time_end=clock.now,
                    source="query",
                )
        assert yesterday.business_date != DAY
    return url


@pytest.fixture
def big_from_a_few(monkeypatch):
    monkeypatch.setattr(report, "CSV_SPLIT_FROM", 10)


@pytest.fixture
def parts(tmp_path, monkeypatch):
    """Where the helper's halves are written (the system's temporary folder in a till)."""
    folder = tmp_path / "parts"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture
def helper(day):
    helper = CsvHelper(day)
    yield helper
    helper.close()


def csv_of(url: str, helper: CsvHelper | None) -> bytes:
    with open_ledger(url) as ledger:
        return b"".join(report.csv_chunks(ledger, DAY, store="S01", zone=ZONE, helper=helper))


def helper_pids(helper: CsvHelper) -> list[int]:
    pool = helper._pool
    return list(pool._processes) if pool is not None else []  # type: ignore[attr-defined]


def test_two_processes_write_the_same_file_as_one(day, helper, big_from_a_few, monkeypatch, parts):
    halves = []
    rows = helper.rows

    def watched(**kwargs):
        future = rows(**kwargs)
        halves.append(future)
        return future

    monkeypatch.setattr(helper, "rows", watched)
    alone = csv_of(day, None)
    together = csv_of(day, helper)
    assert together == alone
    assert alone.decode("utf-8-sig").count("\r\n") == SALES + 1  # the header and every sale, once
    (half,) = halves
    later = half.result()
    assert later and alone.endswith(later) and len(later) < len(alone) / 1.5  # a real half, from it
    (pid,) = helper_pids(helper)
    assert pid != os.getpid()
    assert list(parts.iterdir()) == []  # its half came through a file, removed once read


def test_a_small_day_never_starts_the_helper(day, helper):
    assert report.CSV_SPLIT_FROM > SALES
    assert csv_of(day, helper) == csv_of(day, None)
    assert helper._pool is None


def test_a_killed_helper_is_replaced_and_the_file_is_the_same(day, helper, big_from_a_few):
    alone = csv_of(day, None)
    assert csv_of(day, helper) == alone
    (pid,) = helper_pids(helper)
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert csv_of(day, helper) == alone
    (replacement,) = helper_pids(helper)
    assert replacement != pid


def test_a_half_the_helper_cannot_write_is_written_here(day, big_from_a_few, tmp_path, caplog, parts):
    (tmp_path / "not-a-folder").write_text("")
    helper = CsvHelper(f"sqlite:///{tmp_path / 'not-a-folder' / 'pos.sqlite3'}")  # fails in the helper
    try:
        with caplog.at_level(logging.WARNING, logger="pos.reports.day"):
            assert csv_of(day, helper) == csv_of(day, None)
    finally:
        helper.close()
    assert "event=csv_helper_failed day=2026-11-27 error=" in caplog.text
    assert list(parts.iterdir()) == []


def test_a_helper_that_cannot_start_means_one_process_writes_it_all(day, big_from_a_few, monkeypatch, caplog):
    import pos.till.csv_helper as module

    def no_processes(*args, **kwargs):
        raise OSError("fork: Cannot allocate memory")

    monkeypatch.setattr(module, "ProcessPoolExecutor", no_processes)
    helper = CsvHelper(day)
    helper.warm()  # says nothing, starts nothing
    with caplog.at_level(logging.WARNING, logger="pos.reports.day"):
        assert csv_of(day, helper) == csv_of(day, None)
    assert "event=csv_helper_failed day=2026-11-27 error=OSError" in caplog.text
    assert helper._pool is None


def test_warm_starts_the_process_and_close_ends_it(day, helper):
    helper.warm()
    (pid,) = helper_pids(helper)
    assert _alive(pid)
    helper.close()
    assert helper._pool is None
    assert not _alive(pid)
    helper.close()  # twice is fine


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # reaped by its executor, or a zombie waiting to be
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_helper_that_never_answers_is_waited_for_only_so_long(day, big_from_a_few, monkeypatch, caplog):
    class Stuck:
        def rows(self, **kwargs) -> Future:
            return Future()  # never done

    monkeypatch.setattr(report, "CSV_HELPER_PATIENCE", 0.2)
    with caplog.at_level(logging.WARNING, logger="pos.reports.day"):
        assert csv_of(day, Stuck()) == csv_of(day, None)
    assert "event=csv_helper_failed day=2026-11-27 error=TimeoutError" in caplog.text
