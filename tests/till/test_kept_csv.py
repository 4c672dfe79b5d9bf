"""pos.till.kept_csv: a day's CSV from kept rows is exactly the CSV made afresh, whatever changed.

A real ledger file and a real helper process. The day spans four blocks of ids (the ledger
counts changes per block of 4,096 ids), so a change touches one block of several. The manager's
pages over HTTP are in tests/manager/test_day.py.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, select

from pos.ledger import LineItem, open_ledger
from pos.ledger.schema import DAY_REVISION_BLOCK, sales
from pos.reports import day as report
from pos.till.csv_helper import CsvHelper
from pos.till.kept_csv import CsvRequest, KeptCsv

ZONE = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
BLOCKS = 4


def jump_to(ledger, next_id: int) -> None:
    """Make the next sale's id ``next_id``: a copy of the first sale numbered just before it."""
    with ledger.engine.begin() as conn:
        row = dict(conn.execute(select(sales).order_by(sales.c.id).limit(1)).mappings().one())
        row.update(id=next_id - 1, out_trade_no=f"S01-09-20261127-{next_id % 10000:04d}")
        conn.execute(insert(sales).values(**row))


@pytest.fixture
def kept(tmp_path):
    with open_ledger(f"sqlite:///{tmp_path / 'pos.sqlite3'}", clock=lambda: NOW) as ledger:
        for block in range(BLOCKS):
            if block:
                jump_to(ledger, block * DAY_REVISION_BLOCK)
            for n in range(5):
                ledger.create_sale(
                    store="S01", lane=f"0{1 + n % 2}", items=[LineItem(f"拿铁{block}", 1800 + n)]
                )
        helper = CsvHelper(str(ledger.engine.url))
        kept = KeptCsv(ledger, helper)
        yield kept
        kept.close()
        helper.close()


def request(language: str = "zh-CN", lane: str | None = None) -> CsvRequest:
    return CsvRequest.of(date(2026, 11, 27), store="S01", zone=ZONE, language=language, lane=lane)


def in_one_process(kept: KeptCsv, csv: CsvRequest) -> bytes:
    return b"".join(
        report.csv_chunks(kept.ledger, csv.day, store=csv.store, zone=csv.zone, language=csv.language,
                          lane=csv.lane)
    )  # fmt: skip


def current(kept: KeptCsv, csv: CsvRequest) -> bytes | None:
    found = kept.current(csv)
    if found is None:
        return None
    chunks, length = found
    data = b"".join(chunks)
    assert len(data) == length
    return data


def prepared(kept: KeptCsv) -> None:
    for done in list(kept._preparing.values()):
        assert done.wait(60)


def test_prepare_writes_the_rows_once_and_the_csv_is_the_one_one_process_writes(kept, monkeypatch):
    calls = []
    whole = kept.helper.whole
    monkeypatch.setattr(kept.helper, "whole", lambda *a, **k: calls.append(1) or whole(*a, **k))
    kept.prepare(request())
    prepared(kept)
    kept.prepare(request())  # kept already: nothing to do
    assert calls == [1]
    assert sorted(kept._kept[request()].blocks) == list(range(BLOCKS))
    assert current(kept, request()) == in_one_process(kept, request())


def test_a_sale_rung_up_later_rewrites_only_its_block(kept, caplog):
    kept.prepare(request())
    prepared(kept)
    kept.ledger.create_sale(store="S01", lane="01", items=[LineItem("新的一单", 100)])
    with caplog.at_level(logging.INFO, logger="pos.till.kept_csv"):
        data = current(kept, request())
    assert "event=csv_blocks_rewritten day=2026-11-27 blocks=1 of=4" in caplog.text
    assert "新的一单".encode() in data and data == in_one_process(kept, request())


def test_a_payment_and_another_programs_update_in_early_blocks_are_in_the_next_csv(kept, caplog):
    b"".join(kept.made(request()))
    first = kept.ledger.get_sale(1)
    kept.ledger.record_order(first.id, code_url="weixin://wxpay/bizpayurl?pr=x", prepay_id="wx1",
                              expires_at=NOW)  # fmt: skip
    kept.ledger.mark_paid(first.out_trade_no, transaction_id="4200000000202611270000000001",
                           total_fee=first.total_fee, time_end=NOW, source="query")  # fmt: skip
    assert current(kept, request()) == in_one_process(kept, request())
    with sqlite3.connect(kept.ledger.engine.url.database) as db:
        db.execute("UPDATE sales SET cashier = 'Zhang' WHERE id = ?", (DAY_REVISION_BLOCK + 1,))
    with caplog.at_level(logging.INFO, logger="pos.till.kept_csv"):
        data = current(kept, request())
    assert "blocks=1 of=4" in caplog.text
    assert b",Zhang," in data and data == in_one_process(kept, request())


def test_another_stores_sale_rewrites_nothing(kept, caplog):
    b"".join(kept.made(request()))
    kept.ledger.create_sale(store="S02", lane="01", items=[LineItem("别的店", 100)])
    with caplog.at_level(logging.INFO, logger="pos.till.kept_csv"):
        assert current(kept, request()) == in_one_process(kept, request())
    assert "csv_blocks_rewritten" not in caplog.text


def test_when_most_blocks_changed_the_csv_is_made_afresh(kept):
    b"".join(kept.made(request()))
    with kept.ledger.engine.begin() as conn:
        conn.execute(sales.update().where(sales.c.id < 3 * DAY_REVISION_BLOCK).values(cashier="Li"))
    assert kept.current(request()) is None  # three of four blocks changed
    made = b"".join(kept.made(request()))
    assert made == in_one_process(kept, request()) and b",Li," in made
    assert current(kept, request()) == made  # and that is kept in turn


def test_at_most_keep_days_and_close_forgets_them(kept):
    for csv in (request(), request("en"), request(lane="02")):
        assert b"".join(kept.made(csv)) == in_one_process(kept, csv)
    assert len(kept._kept) == 2
    assert kept.current(request()) is None  # the first one went
    assert current(kept, request(lane="02")) == in_one_process(kept, request(lane="02"))
    kept.close()
    assert kept.current(request(lane="02")) is None
    b"".join(kept.made(request()))  # closed: sent, not kept
    assert not kept._kept


def test_a_helper_that_cannot_start_prepares_nothing_and_the_download_makes_the_csv(
    kept, monkeypatch, caplog
):
    def no_process(*args, **kwargs):
        raise OSError("fork: Cannot allocate memory")

    monkeypatch.setattr(kept.helper, "whole", no_process)
    with caplog.at_level(logging.WARNING, logger="pos.till.kept_csv"):
        kept.prepare(request())
    assert "event=csv_prepare_failed day=2026-11-27 error=OSError" in caplog.text
    assert kept.current(request()) is None
    assert b"".join(kept.made(request())) == in_one_process(kept, request())


def test_rows_read_at_an_older_count_never_replace_newer_ones(kept):
    b"".join(kept.made(request()))
    revision, rows = kept._kept[request()].blocks[0]
    kept._keep(request(), {0: (revision - 1, b"stale rows")})
    assert kept._kept[request()].blocks[0] == (revision, rows)


def test_rows_of_part_of_a_block_are_sent_but_not_kept(kept, monkeypatch):
    def part_of_a_block(*args, blocks, **kwargs):
        yield b"header\r\n"
        blocks.append(report.CsvBlock(0, None, b"some rows\r\n"))
        yield b"some rows\r\n"

    monkeypatch.setattr(report, "csv_chunks", part_of_a_block)
    assert b"".join(kept.made(request())) == b"header\r\nsome rows\r\n"
    assert not kept._kept


def test_a_download_stopped_halfway_keeps_nothing(kept):
    made = kept.made(request())
    next(made)  # the header, then the client goes away
    made.close()
    assert not kept._kept


def test_yesterday_is_another_day(kept):
    yesterday = CsvRequest.of(date(2026, 11, 26), store="S01", zone=ZONE, language="zh-CN")
    assert b"".join(kept.made(yesterday)) == in_one_process(kept, yesterday)  # a header only
    assert kept.current(yesterday) is None  # no sales, no blocks: nothing kept
    b"".join(kept.made(request()))
    kept.ledger.create_sale(store="S01", lane="01", total_fee=100, body="昨天补录", now=NOW.replace(day=26))
    assert current(kept, request()) == in_one_process(kept, request())
