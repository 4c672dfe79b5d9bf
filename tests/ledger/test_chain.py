"""The chain's reads on one ledger (SQLite and PostgreSQL): a day's takings by store and lane in one
GROUP BY, and every store's sales for the chain's CSV in one snapshot, store by store."""

from __future__ import annotations

from datetime import timedelta

from pos.ledger import LineItem
from pos.ledger.chain import chain_csv_batches, takings_by_lane


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
    assert takings_by_lane(ledger, day + timedelta(days=1)) == []


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
