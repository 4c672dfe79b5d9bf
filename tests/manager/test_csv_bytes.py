"""The streamed CSV is byte for byte the CSV the till wrote before it streamed.

``data/day_every_state.csv`` was written by the kept-CSV code this replaced
(commit 9b21f76, ``pos.reports.day.csv_chunks``, then in pos.till.report) from the day :func:`build_day`
makes: every state, a closing sale (awaiting payment past its deadline), a partial
and a full refund, a failed refund, Chinese names and cashiers, cells that need
quoting or would be a spreadsheet formula, another store's and yesterday's sales.
The streamed CSV must give the same bytes whatever its batch size.

Revision 0010 (coupons) appended three columns to every row: what the customer paid, the coupon
and what the merchant settles. The columns before them are still compared byte for byte with the
golden file; the three new ones are checked apart (:func:`old_columns`, :func:`coupon_cells`).
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from pos.ledger import LineItem, SaleState, open_ledger, queries
from pos.reports import day as report

GOLDEN = Path(__file__).parent / "data" / "day_every_state.csv"
DAY_START = datetime(2026, 11, 27, 1, 30, 15, tzinfo=UTC)  # 09:30:15 in Shanghai
ZONE = ZoneInfo("Asia/Shanghai")
WORDS = {
    SaleState.PAID: "已支付",
    SaleState.PARTLY_REFUNDED: "部分退款",
    SaleState.REFUNDED: "已退款",
    SaleState.EXPIRED: "已过期（未支付）",
}  # the other states print their stored value


class Clock:
    def __init__(self) -> None:
        self.now = DAY_START

    def __call__(self) -> datetime:
        return self.now


def build_day(ledger, clock: Clock) -> None:
    """The day the golden file was written from; every step at a fixed time."""
    n = 0

    def sale(items=None, *, total_fee=None, body=None, lane="01", cashier="", store="S01", order=True):
        nonlocal n
        n += 1
        clock.now += timedelta(minutes=7, seconds=13)
        made = ledger.create_sale(
            store=store, lane=lane, items=items or (), total_fee=total_fee, body=body, cashier=cashier
        )
        if order:
            ledger.record_order(
                made.id,
                code_url=f"weixin://wxpay/bizpayurl?pr={n:07d}",
                prepay_id=f"wx{n:030d}",
                expires_at=clock.now + timedelta(minutes=5),
            )
        return made

    def pay(made, fee=None):
        ledger.mark_paid(
            made.out_trade_no,
            transaction_id=f"42000{made.id:023d}",
            total_fee=made.total_fee if fee is None else fee,
            time_end=clock.now + timedelta(seconds=41),
            source="notice",
            now=clock.now + timedelta(seconds=43),
        )

    latte = sale([LineItem("拿铁", 1800, qty=2), LineItem("柠檬茶", 1250)], cashier="王小明")
    pay(latte)
    partly = sale([LineItem('卡布奇诺 "大杯", 加浓', 2200)], lane="02", cashier="李")
    pay(partly)
    started = ledger.start_refund(partly.id, 700, reason="少了一杯")
    ledger.complete_refund(started.out_refund_no, refund_id=f"5000{started.id:024d}")
    failed = ledger.start_refund(partly.id, 100)
    ledger.fail_refund(failed.out_refund_no, "NOTENOUGH")
    whole = sale([LineItem("芝士蛋糕", 2600)], cashier="=cmd|' /C calc'!A0")
    pay(whole)
    started = ledger.start_refund(whole.id, 2600)
    ledger.complete_refund(started.out_refund_no, refund_id=f"5000{started.id:024d}")
    ledger.mark_expired(sale(total_fee=990, body="+手工金额").id)
    ledger.mark_voided(sale([LineItem("矿泉水", 200, qty=3)]).id, by="店长")
    sale(total_fee=100, body="没下单", order=False)  # NEW
    failed_order = sale(total_fee=300, body="下单失败", order=False)
    ledger.record_order_failure(failed_order.id, "SYSTEMERROR")
    sale([LineItem("two\nlines", 500)], cashier="@SUM(1)")  # awaiting payment
    closing = sale([LineItem("美式咖啡", 1500)], lane="03")
    clock.now += timedelta(minutes=6)  # past the closing sale's deadline: closing, not yet expired
    late = sale([LineItem("-2 折扣", 800)])
    ledger.mark_voided(late.id, by="test")
    pay(late)  # paid after the void: flagged
    pay(sale(total_fee=1234, body="金额不符"), fee=1)  # WeChat reports 0.01: flagged, not paid
    sale([LineItem("别的店", 999)], store="S02")
    del closing
    ledger.create_sale(store="S01", lane="01", total_fee=100, body="昨天", now=DAY_START - timedelta(days=1))


def day_csv(ledger) -> bytes:
    day = DAY_START.astimezone(ZONE).date()
    return b"".join(report.csv_chunks(ledger, day, store="S01", zone=ZONE, state_words=WORDS))


def old_columns(data: bytes) -> bytes:
    """The CSV without its last three cells on each line (revision 0010's coupon columns, never quoted)."""
    return b"\r\n".join(line.rsplit(b",", 3)[0] if line else line for line in data.split(b"\r\n"))


def coupon_cells(data: bytes) -> list[tuple[str, str, str, str]]:
    """(amount, cash paid, coupon, settled) of each sale row."""
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert rows[0][-3:] == ["顾客实付(元)", "优惠券(元)", "商户应结(元)"]
    return [(row[4], *row[-3:]) for row in rows[1:]]  # type: ignore[misc]


def test_the_coupon_columns_are_filled_for_paid_sales_and_empty_otherwise(database_url):
    clock = Clock()
    with open_ledger(database_url, timezone="Asia/Shanghai", clock=clock) as ledger:
        build_day(ledger, clock)
        cells = coupon_cells(day_csv(ledger))
    paid = [c for c in cells if c[1]]
    assert paid == [(amount, amount, "0.00", amount) for amount, *_ in paid]  # no coupon: paid in full
    assert len(paid) == 4  # the paid, partly and fully refunded, and paid-after-void sales
    assert all(c[1:] == ("", "", "") for c in cells if not c[1])


@pytest.mark.parametrize("batch", [1, 2, 5000])
def test_the_streamed_csv_is_byte_for_byte_the_csv_written_before(database_url, monkeypatch, batch):
    clock = Clock()
    with open_ledger(database_url, timezone="Asia/Shanghai", clock=clock) as ledger:
        build_day(ledger, clock)
        monkeypatch.setattr(queries, "CSV_BATCH", batch)
        assert old_columns(day_csv(ledger)) == GOLDEN.read_bytes()


def test_a_csv_read_in_batches_is_one_moment_of_the_day_whatever_changes_meanwhile(database_url, monkeypatch):
    clock = Clock()
    with open_ledger(database_url, timezone="Asia/Shanghai", clock=clock) as ledger:
        build_day(ledger, clock)
        monkeypatch.setattr(queries, "CSV_BATCH", 1)
        day = DAY_START.astimezone(ZONE).date()
        chunks = report.csv_chunks(ledger, day, store="S01", zone=ZONE, state_words=WORDS)
        first = next(chunks) + next(chunks)  # the header and the first sale: the snapshot is taken
        waiting = ledger.sale_by_out_trade_no("S01-01-20261127-0007")
        ledger.mark_paid(
            waiting.out_trade_no,
            transaction_id="4200000000000000000000000099",
            total_fee=waiting.total_fee,
            time_end=clock.now,
            source="notice",
        )  # committed by another connection while the file is being sent
        rest = b"".join(chunks)
        assert old_columns(first + rest) == GOLDEN.read_bytes()  # still the day when the file began
        assert b"4200000000000000000000000099" in day_csv(ledger)  # the next file has the payment
