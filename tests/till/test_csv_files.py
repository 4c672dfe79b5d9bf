"""pos.till.csv_files: a day's CSV kept as a file is sent only while the day is exactly as it was.

A real ledger file, a real helper process; the manager's pages over HTTP are in
tests/till/manager/test_day.py.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from pos.ledger import LineItem, open_ledger
from pos.till import report
from pos.till.csv_files import CsvFiles, CsvRequest
from pos.till.csv_helper import CsvHelper

ZONE = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def files(tmp_path):
    now = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
    with open_ledger(f"sqlite:///{tmp_path / 'pos.sqlite3'}", clock=lambda: now) as ledger:
        for n in range(12):
            ledger.create_sale(store="S01", lane=f"0{1 + n % 2}", items=[LineItem("拿铁", 1800 + n)])
        helper = CsvHelper(str(ledger.engine.url))
        kept = CsvFiles(ledger, helper)
        yield kept
        kept.close()
        helper.close()


def request(language: str = "zh-CN", lane: str | None = None) -> CsvRequest:
    return CsvRequest.of(date(2026, 11, 27), store="S01", zone=ZONE, language=language, lane=lane)


def in_one_process(files: CsvFiles, csv: CsvRequest) -> bytes:
    return b"".join(
        report.csv_chunks(files.ledger, csv.day, store=csv.store, zone=csv.zone, language=csv.language,
                          lane=csv.lane)
    )  # fmt: skip


def prepared(files: CsvFiles) -> None:
    for written in list(files._preparing.values()):
        written.result(timeout=60)


def test_prepare_writes_the_file_once_and_opening_it_gives_the_csv_one_process_writes(files, monkeypatch):
    calls = []
    whole = files.helper.whole
    monkeypatch.setattr(files.helper, "whole", lambda *a, **k: calls.append(1) or whole(*a, **k))
    files.prepare(request())
    prepared(files)
    files.prepare(request())  # exact already: nothing to do
    assert calls == [1]
    with files.open_exact(request()) as kept:
        assert kept.read() == in_one_process(files, request())


def test_a_sale_rung_up_after_the_file_was_written_makes_it_stale(files):
    files.prepare(request())
    prepared(files)
    files.ledger.create_sale(store="S01", lane="01", items=[LineItem("新的一单", 100)])
    assert files.open_exact(request()) is None
    made = b"".join(files.made(request()))
    assert "新的一单".encode() in made and made == in_one_process(files, request())
    with files.open_exact(request()) as kept:  # the one just made is kept in its place
        assert kept.read() == made


def test_another_stores_sale_leaves_this_stores_file_exact(files):
    b"".join(files.made(request()))
    files.ledger.create_sale(store="S02", lane="01", items=[LineItem("别的店", 100)])
    assert files.open_exact(request()) is not None


def test_at_most_keep_files_and_the_oldest_goes_from_the_disk(files):
    for csv in (request(), request("en"), request(lane="02")):
        b"".join(files.made(csv))
    assert len(files._kept) == 2
    assert files.open_exact(request()) is None  # the first one went
    paths = [Path(kept.path) for kept in files._kept.values()]
    assert all(path.exists() for path in paths)
    files.close()
    assert not any(path.exists() for path in paths)
    b"".join(files.made(request()))  # closed: sent, not kept
    assert not files._kept


def test_a_helper_that_cannot_start_prepares_nothing_and_the_download_makes_the_csv(
    files, monkeypatch, caplog
):
    def no_process(*args, **kwargs):
        raise OSError("fork: Cannot allocate memory")

    monkeypatch.setattr(files.helper, "whole", no_process)
    with caplog.at_level(logging.WARNING, logger="pos.till.csv_files"):
        files.prepare(request())
    assert "event=csv_prepare_failed day=2026-11-27 error=OSError" in caplog.text
    assert files.open_exact(request()) is None
    assert b"".join(files.made(request())) == in_one_process(files, request())


def test_a_file_written_at_an_older_count_never_replaces_a_newer_one(files):
    b"".join(files.made(request()))
    newer = files._kept[request()]
    files._keep(request(), str(Path(newer.path).with_suffix(".old")), newer.revision - 1)
    assert files._kept[request()] == newer


def test_yesterday_is_another_day(files):
    yesterday = CsvRequest.of(date(2026, 11, 26), store="S01", zone=ZONE, language="zh-CN")
    b"".join(files.made(yesterday))
    files.ledger.create_sale(
        store="S01", lane="01", total_fee=100, body="今天", now=datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
    )
    assert files.open_exact(yesterday) is not None
    assert files.open_exact(request()) is None  # never made
