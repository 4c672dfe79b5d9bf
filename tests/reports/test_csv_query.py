"""The day's CSV query on a real SQLite ledger: the day's index, no sort, no join, lines as rung up.

How fast the CSV is gets measured in bench/report.py; these check the properties that speed and
correctness rest on, so a query that scans a table or sorts the day, or a plan that changes the order
of a sale's lines, fails here rather than quietly in a shop.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from pos.ledger import LineItem, open_ledger, queries
from pos.reports import day as report
from pos.testing.clock import FakeClock

DAY = date(2026, 11, 27)
ZONE = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def ledger(database_url):
    clock = FakeClock(datetime(2026, 11, 27, 2, 0, tzinfo=UTC))  # 10:00 in Shanghai
    with open_ledger(database_url, clock=clock) as ledger:
        yield ledger


def csv_rows(ledger) -> list[list[str]]:
    raw = b"".join(report.csv_chunks(ledger, DAY, store="S01", zone=ZONE))
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))


def test_the_csv_reads_the_day_through_indexes_without_a_sort(ledger):
    if ledger.engine.dialect.name != "sqlite":
        pytest.skip("reads SQLite's query plan")
    ledger.create_sale(store="S01", lane="01", items=[LineItem("拿铁", 1800), LineItem("柠檬茶", 1250)])
    with ledger.engine.connect() as conn:
        statement = queries.csv_statement(conn, DAY, store="S01", after=0, limit=queries.CSV_BATCH)
        sql = str(statement.compile(conn, compile_kwargs={"literal_binds": True}))
        plan = [row[3] for row in conn.execute(text("EXPLAIN QUERY PLAN " + sql))]
    reads = [step for step in plan if step.startswith(("SEARCH", "SCAN")) and " sale" in step]
    assert any(step.startswith("SEARCH sales USING") for step in reads), plan  # the day's index, not a scan
    assert not any("sale_items" in step for step in plan), plan  # lines read from the sale's own text
    assert not any(step.startswith("SCAN sale") for step in reads), plan
    assert not any("TEMP B-TREE" in step for step in plan), plan  # id order comes from the index


def test_a_sales_lines_are_listed_as_rung_up_in_the_csv_and_the_day_view(ledger):
    ledger.create_sale(
        store="S01",
        lane="01",
        items=[LineItem("拿铁", 1800), LineItem("柠檬茶", 1250, qty=2), LineItem("水", 200)],
    )
    assert csv_rows(ledger)[1][3] == "拿铁×1; 柠檬茶×2; 水×1"
    (line,) = report.sale_lines(ledger, DAY, store="S01", zone=ZONE)
    assert line.items == "拿铁×1; 柠檬茶×2; 水×1"


def test_a_line_name_with_commas_and_quotes_is_one_quoted_cell(ledger):
    ledger.create_sale(store="S01", lane="01", items=[LineItem('卡布奇诺 "大杯", 加浓', 2200)])
    rows = csv_rows(ledger)
    assert rows[1][3] == '卡布奇诺 "大杯", 加浓×1'
    assert len(rows[1]) == len(rows[0])


def test_a_keyed_in_amount_shows_its_description(ledger):
    ledger.create_sale(store="S01", lane="01", total_fee=999, body="=手工 金额")
    assert csv_rows(ledger)[1][3:5] == ["'=手工 金额", "9.99"]
