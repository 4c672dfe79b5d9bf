"""The day's CSV query on a real SQLite ledger: read through indexes, a sale's lines in position order.

How fast the CSV is gets measured in bench/report.py; these check the properties that speed and
correctness rest on, so a query that scans a table or sorts the day, or a plan that changes the order
of a sale's lines, fails here rather than quietly in a shop.
"""

from __future__ import annotations

import csv
import io
import os
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text, update

from pos.ledger import LineItem, open_ledger
from pos.ledger.schema import sale_items
from pos.till import report

DAY = date(2026, 11, 27)
ZONE = ZoneInfo("Asia/Shanghai")

sqlite_only = pytest.mark.skipif(
    bool(os.environ.get("POS_TEST_DATABASE_URL")), reason="reads SQLite's query plan"
)


class Clock:
    def __call__(self) -> datetime:
        return datetime(2026, 11, 27, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


@pytest.fixture
def ledger(tmp_path):
    with open_ledger(f"sqlite:///{tmp_path / 'pos.sqlite3'}", clock=Clock()) as ledger:
        yield ledger


def csv_rows(ledger) -> list[list[str]]:
    raw = b"".join(report.csv_chunks(ledger, DAY, store="S01", zone=ZONE))
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))


@sqlite_only
def test_the_csv_reads_the_day_through_indexes_without_a_sort(ledger):
    ledger.create_sale(store="S01", lane="01", items=[LineItem("拿铁", 1800), LineItem("柠檬茶", 1250)])
    with ledger.engine.connect() as conn:
        statement = report.csv_statement(conn, DAY, store="S01")
        sql = str(statement.compile(conn, compile_kwargs={"literal_binds": True}))
        plan = [row[3] for row in conn.execute(text("EXPLAIN QUERY PLAN " + sql))]
    reads = [step for step in plan if step.startswith(("SEARCH", "SCAN")) and " sale" in step]
    assert any(step.startswith("SEARCH sales USING") for step in reads), plan  # the day's index, not a scan
    assert any("COVERING INDEX ix_sale_items_lines" in step for step in reads), (
        plan
    )  # lines without their rows
    assert not any(step.startswith("SCAN sale") for step in reads), plan
    assert not any("TEMP B-TREE" in step for step in plan), plan  # id order comes from the index


def test_a_sales_lines_come_in_position_order_whatever_order_they_were_stored_in(ledger):
    sale = ledger.create_sale(
        store="S01",
        lane="01",
        items=[LineItem("拿铁", 1800), LineItem("柠檬茶", 1250, qty=2), LineItem("水", 200)],
    )
    assert csv_rows(ledger)[1][3] == "拿铁×1; 柠檬茶×2; 水×1"
    with ledger.engine.begin() as conn:  # the first stored line becomes the last one, and so on
        conn.execute(
            update(sale_items)
            .where(sale_items.c.sale_id == sale.id)
            .values(position=10 - sale_items.c.position)
        )
    assert csv_rows(ledger)[1][3] == "水×1; 柠檬茶×2; 拿铁×1"
    (line,) = report.sale_lines(ledger, DAY, store="S01", zone=ZONE)
    assert line.items == "水×1; 柠檬茶×2; 拿铁×1"


def test_a_keyed_in_amount_shows_its_description(ledger):
    ledger.create_sale(store="S01", lane="01", total_fee=999, body="=手工 金额")
    assert csv_rows(ledger)[1][3:5] == ["'=手工 金额", "9.99"]
