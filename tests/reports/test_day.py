"""pos.reports.day on a real SQLite ledger: figures, sale lines, CSV cells and times, in any time zone."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from pos.ledger import LineItem, SaleState, open_ledger, queries
from pos.money import format_yuan
from pos.reports import day as report
from pos.testing.clock import FakeClock

DAY = date(2026, 11, 27)


def paid(ledger, clock, items, *, lane="01", cashier="", minutes_to_pay=1):
    sale = ledger.create_sale(store="S01", lane=lane, items=items, cashier=cashier)
    ledger.record_order(
        sale.id,
        code_url="weixin://wxpay/bizpayurl?pr=x",
        prepay_id="wx1",
        expires_at=clock.now + timedelta(minutes=15),
    )
    ledger.mark_paid(
        sale.out_trade_no,
        transaction_id=f"42{sale.id:026d}",
        total_fee=sale.total_fee,
        time_end=clock.now,
        source="query",
        now=clock.now + timedelta(minutes=minutes_to_pay),
    )
    return ledger.get_sale(sale.id)


def csv_rows(ledger, zone, **options) -> list[list[str]]:
    raw = b"".join(report.csv_chunks(ledger, DAY, store="S01", zone=zone, **options))
    assert raw.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))


@pytest.fixture
def shanghai(database_url):
    clock = FakeClock(datetime(2026, 11, 27, 2, 0, tzinfo=UTC))  # 10:00 in Shanghai
    with open_ledger(database_url, clock=clock) as ledger:
        yield ledger, clock


def test_awkward_names_round_trip_through_the_csv(shanghai):
    ledger, clock = shanghai
    names = ['双拼, "大杯"', "two\nlines", "=cmd|' /C calc'!A0", "+1", "@SUM(1)", "-2", "拿铁"]
    for name in names:
        paid(ledger, clock, [LineItem(name, 100)], cashier=name[:10])
    rows = csv_rows(ledger, ZoneInfo("Asia/Shanghai"))
    assert len(rows) == 1 + len(names)
    for row, name in zip(rows[1:], names, strict=True):
        expected = f"{name}×1"
        if expected[:1] in "=+-@":
            expected = "'" + expected
        assert row[3] == expected
        cashier = name[:10]
        assert row[8] == ("'" + cashier if cashier[:1] in "=+-@" else cashier)


def test_the_csv_is_the_same_whatever_the_batch_size(shanghai, monkeypatch):
    ledger, clock = shanghai
    for n in range(7):
        paid(ledger, clock, [LineItem("拿铁", 1800, qty=n + 1), LineItem("柠檬茶", 1250)])
    whole = b"".join(report.csv_chunks(ledger, DAY, store="S01", zone=ZoneInfo("Asia/Shanghai")))
    monkeypatch.setattr(queries, "CSV_BATCH", 2)
    chunks = list(report.csv_chunks(ledger, DAY, store="S01", zone=ZoneInfo("Asia/Shanghai")))
    assert len(chunks) >= 4 and b"".join(chunks) == whole
    rows = list(csv.reader(io.StringIO(whole.decode("utf-8-sig"), newline="")))
    assert [r[3] for r in rows[1:]] == [f"拿铁×{n + 1}; 柠檬茶×1" for n in range(7)]
    assert [r[4] for r in rows[1:]] == [format_yuan(1800 * (n + 1) + 1250) for n in range(7)]


def test_times_in_a_zone_half_an_hour_off_utc(database_url):
    clock = FakeClock(datetime(2026, 11, 27, 4, 10, 30, tzinfo=UTC))  # 09:40:30 in Kolkata (+05:30)
    zone = ZoneInfo("Asia/Kolkata")
    with open_ledger(database_url, timezone="Asia/Kolkata", clock=clock) as ledger:
        sale = paid(ledger, clock, [LineItem("chai", 2000)], minutes_to_pay=25)  # paid 10:05:30 local
        rows = csv_rows(ledger, zone)
        assert rows[1][0] == "2026-11-27 09:40:30" and rows[1][9] == "2026-11-27 10:05:30"
        (line,) = report.sale_lines(ledger, DAY, store="S01", zone=zone)
        assert line.created_at == datetime(2026, 11, 27, 9, 40, 30, tzinfo=zone)
        assert line.created_at.utcoffset() == timedelta(hours=5, minutes=30)
        assert line.paid_at == sale.paid_at
        hours = report.hourly_takings(ledger, [DAY], store="S01", zone=zone)[DAY]
        assert hours[10] == 2000 and sum(hours) == 2000


def test_figures_by_state_and_lane(shanghai):
    ledger, clock = shanghai
    first = paid(ledger, clock, [LineItem("拿铁", 1800)], lane="01")
    paid(ledger, clock, [LineItem("蛋糕", 2600)], lane="02")
    ledger.create_sale(store="S01", lane="02", items=[LineItem("水", 200)])  # NEW, never ordered
    started = ledger.start_refund(first.id, 800)
    ledger.complete_refund(started.out_refund_no)
    pending = ledger.start_refund(first.id, 300)
    ledger.create_sale(store="S02", lane="01", items=[LineItem("别的店", 999)])  # another store
    figures = report.day_figures(ledger, DAY, store="S01")
    assert figures.count == 3 and figures.count_of(SaleState.NEW) == 1
    assert (figures.paid_count, figures.paid_fee, figures.refunded_fee) == (2, 4400, 800)
    assert figures.refund_pending_fee == 300 and figures.net_fee == 3600
    lane = report.day_figures(ledger, DAY, store="S01", lane="02")
    assert (lane.count, lane.paid_fee, lane.refunded_fee) == (2, 2600, 0)
    (line,) = report.sale_lines(ledger, DAY, store="S01", zone=ZoneInfo("Asia/Shanghai"), limit=1)
    assert line.refundable_fee == 1800 - 800 - 300 == ledger.get_sale(first.id).refundable_fee
    assert pending.out_refund_no.endswith("-R2")
    empty = report.day_figures(ledger, date(2020, 1, 1), store="S01")
    assert (empty.count, empty.paid_fee, empty.net_fee, empty.by_state) == (0, 0, 0, ())


def test_paging_and_filters(shanghai):
    ledger, clock = shanghai
    ids = [paid(ledger, clock, [LineItem("拿铁", 1800)]).id for _ in range(5)]
    zone = ZoneInfo("Asia/Shanghai")
    page = [s.id for s in report.sale_lines(ledger, DAY, store="S01", zone=zone, offset=2, limit=2)]
    assert page == ids[2:4]
    ledger.create_sale(store="S01", lane="01", items=[LineItem("水", 200)])
    assert report.count_sales(ledger, DAY, store="S01", states=[SaleState.NEW]) == 1
    assert report.count_sales(ledger, DAY, store="S01", flagged_only=True) == 0


def test_same_weekdays():
    assert report.same_weekdays(DAY, 2) == [date(2026, 11, 20), date(2026, 11, 13)]
