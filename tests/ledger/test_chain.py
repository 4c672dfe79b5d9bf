"""The chain's reads on one ledger (SQLite and PostgreSQL): a day's takings by store and lane in one
GROUP BY, with the lanes that went quiet (sales on a recent day, none on this one), and every
store's sales for the chain's CSV in one snapshot, store by store."""

from __future__ import annotations

from datetime import timedelta

from pos.ledger import LineItem
from pos.ledger.chain import RECENT_DAYS, chain_csv_batches, takings_by_lane


def _ring(ledger, make, store: str, lane: str, fee: int, *, paid: bool = True, refund: int = 0):
    sale = ledger.create_sale(store=store, lane=lane, items=[LineItem("拿铁", fee)])
    if not paid:
        return sale
    sale = ledger.record_order(
        sale.id,
        code_url=f"weixin://wxpay/bizpayurl?pr={sale.id:07d}",
        prepay_id=f"wx{sale.id:030d}",
        expires_at=make.clock.now + timedelta(minutes=15),
    )
    sale = make.pay(sale).sale
    if refund:
        started = ledger.start_refund(sale.id, refund)
        sale = ledger.complete_refund(started.out_refund_no, refund_id=f"503{sale.id:05d}").sale
    return sale


def test_takings_by_store_and_lane(ledger, make):
    first = _ring(ledger, make, "S01", "01", 1000)
    _ring(ledger, make, "S01", "01", 500, refund=200)
    _ring(ledger, make, "S01", "02", 700)
    _ring(ledger, make, "S02", "01", 300, paid=False)  # rung up, never paid
    _ring(ledger, make, "S02", "01", 900)
    _ring(ledger, make, "B7", "03", 1200, refund=1200)
    day = first.business_date

    stores = takings_by_lane(ledger, day)

    assert [s.store for s in stores] == ["B7", "S01", "S02"]
    lanes = {(lane.store, lane.lane): lane for s in stores for lane in s.lanes}
    assert sorted(lanes) == [("B7", "03"), ("S01", "01"), ("S01", "02"), ("S02", "01")]
    s01 = lanes["S01", "01"]
    assert (s01.sales, s01.paid_count, s01.paid_fee, s01.refunded_fee, s01.net_fee) == (2, 2, 1500, 200, 1300)
    s02 = lanes["S02", "01"]
    assert (s02.sales, s02.paid_count, s02.paid_fee, s02.refunded_fee) == (2, 1, 900, 0)
    b7 = lanes["B7", "03"]
    assert (b7.paid_count, b7.paid_fee, b7.refunded_fee, b7.net_fee) == (1, 1200, 1200, 0)
    by_store = {s.store: s for s in stores}
    assert (by_store["S01"].sales, by_store["S01"].paid_fee, by_store["S01"].net_fee) == (3, 2200, 2000)
    assert not any(lane.quiet for lane in lanes.values()) and not any(s.quiet for s in stores)
    assert takings_by_lane(ledger, day - timedelta(days=1)) == []  # nothing rang up before the day


def _days_ago(ledger, make, store: str, lane: str, days: int):
    """A sale rung up ``days`` before the clock's day (never paid: ringing up is what counts)."""
    at = make.clock.now - timedelta(days=days)
    return ledger.create_sale(store=store, lane=lane, items=[LineItem("拿铁", 100)], now=at)


def test_quiet_lanes_are_listed_with_nothing_taken(ledger, make):
    today = _ring(ledger, make, "S01", "01", 1000).business_date
    _days_ago(ledger, make, "S01", "02", 1)  # its sibling lane sold today: listed under S01
    _days_ago(ledger, make, "S03", "01", 40)
    _days_ago(ledger, make, "S03", "01", 3)  # the latest sale counts
    _days_ago(ledger, make, "S03", "02", 5)
    _days_ago(ledger, make, "S05", "01", RECENT_DAYS)  # the window's first day: still listed
    _days_ago(ledger, make, "S04", "01", RECENT_DAYS + 1)  # older than the window: gone
    _days_ago(ledger, make, "S09", "01", 400)

    stores = takings_by_lane(ledger, today)

    assert [s.store for s in stores] == ["S01", "S03", "S05"]
    lanes = [(lane.store, lane.lane, lane.quiet, lane.last_sale_day) for s in stores for lane in s.lanes]
    assert lanes == [
        ("S01", "01", False, None),
        ("S01", "02", True, today - timedelta(days=1)),
        ("S03", "01", True, today - timedelta(days=3)),
        ("S03", "02", True, today - timedelta(days=5)),
        ("S05", "01", True, today - timedelta(days=RECENT_DAYS)),
    ]
    by_store = {s.store: s for s in stores}
    assert not by_store["S01"].quiet and by_store["S03"].quiet and by_store["S05"].quiet
    quiet = [lane for s in stores for lane in s.lanes if lane.quiet]
    assert all(
        (q.sales, q.paid_count, q.paid_fee, q.refunded_fee, q.net_fee) == (0, 0, 0, 0, 0) for q in quiet
    )
    assert (by_store["S01"].sales, by_store["S01"].paid_fee) == (1, 1000)  # the day's own figures, unchanged
    assert sum(s.paid_fee for s in stores) == 1000
    assert [s.store for s in takings_by_lane(ledger, today, recent_days=0)] == ["S01"]


def test_the_window_follows_the_viewed_day(ledger, make):
    sold = _days_ago(ledger, make, "S02", "07", 10).business_date
    _days_ago(ledger, make, "S02", "07", 2)

    def listed(day):
        return [
            (lane.lane, lane.quiet, lane.last_sale_day)
            for s in takings_by_lane(ledger, day)
            for lane in s.lanes
        ]

    assert listed(sold) == [("07", False, None)]
    assert listed(sold + timedelta(days=1)) == [("07", True, sold)]
    assert listed(sold + timedelta(days=RECENT_DAYS)) == [("07", True, sold + timedelta(days=8))]
    assert listed(sold - timedelta(days=1)) == []  # a sale after the viewed day does not count
    last = sold + timedelta(days=8)
    assert listed(last + timedelta(days=RECENT_DAYS)) == [("07", True, last)]
    assert listed(last + timedelta(days=RECENT_DAYS + 1)) == []


def test_chain_csv_batches_cover_every_store_in_order(ledger, make):
    sales = [
        _ring(ledger, make, store, "01", 100 + i, paid=False)
        for i, store in enumerate(["S02", "S01", "S02", "S01", "S03"])
    ]
    day = sales[0].business_date

    batches = list(chain_csv_batches(ledger, day, batch=1))

    assert all(len(rows) == 1 for _, rows in batches)
    seen = [(store, rows[0][1]) for store, rows in batches]  # column 1: out_trade_no
    expected = sorted(((s.store, s.out_trade_no) for s in sales), key=lambda p: (p[0], p[1]))
    assert seen == expected
    assert all(number.startswith(store + "-") for store, number in seen)


def test_day_sequences_name_exactly_the_lanes_and_days_with_sales(ledger, make):
    """What the quiet lanes rest on: a sale's number is drawn in its own transaction, so
    ``day_sequences`` has a (store, lane, day) exactly when that lane rang up a sale that day."""
    from sqlalchemy import select

    from pos.ledger.schema import day_sequences, sales

    for store, lane, days in [("S01", "01", 0), ("S01", "01", 3), ("S01", "02", 3), ("S02", "01", 30)]:
        _days_ago(ledger, make, store, lane, days)
    _ring(ledger, make, "S02", "01", 500, refund=500)
    with ledger.engine.connect() as conn:
        numbered = set(
            conn.execute(select(day_sequences.c.store, day_sequences.c.lane, day_sequences.c.business_date))
        )
        sold = set(conn.execute(select(sales.c.store, sales.c.lane, sales.c.business_date).distinct()))
    assert numbered == sold and len(sold) == 5
