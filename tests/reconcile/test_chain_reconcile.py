"""One WeChat bill for the merchant's whole account against a ledger every store of the chain writes
to (SQLite and PostgreSQL): each difference names its store, and `pos reconcile` prints it."""

from __future__ import annotations

import io

from pos.ledger.identifiers import store_of
from pos.ledger.reconciliation import latest_reconciliation
from pos.reconcile import DifferenceKind
from pos.reconcile.cli import show


def test_one_bill_against_every_store_names_the_store_of_each_difference(shop):
    matched = {store: shop.pay_by_notice(shop.ring_up(500, store=store)) for store in ("S01", "S02", "B7")}
    missed = shop.ring_up(2600, store="S02")
    shop.pay_silently(missed)  # paid at WeChat, never told: the bill finds it
    tampered = shop.pay_by_notice(shop.ring_up(1800, store="B7"))
    shop.sql("UPDATE sales SET total_fee = 1500 WHERE id = :id", id=tampered.id)
    foreign = shop.client.unified_order(
        out_trade_no="MALL20261127000123",
        total_fee=4990,
        body="商城订单",
        notify_url="http://127.0.0.1:9/nowhere",
        product_id="mall",
        spbill_create_ip="127.0.0.1",
    )
    shop.sim.pay(foreign.code_url, notify=False)

    result = shop.reconcile()  # run from store S01's till: the bill covers every store

    assert result.status == "differences" and result.store == "S01"
    found = sorted((d.store, d.kind, d.out_trade_no) for d in result.problems)
    assert found == [
        ("", DifferenceKind.MISSING_IN_LEDGER, "MALL20261127000123"),
        ("B7", DifferenceKind.AMOUNT, tampered.out_trade_no),
        ("S02", DifferenceKind.PAID_AT_WECHAT_ONLY, missed.out_trade_no),
    ]
    assert result.matched == len(matched)
    assert {d.store for d in latest_reconciliation(shop.ledger, shop.day).problems} == {"", "B7", "S02"}

    out = io.StringIO()
    show(result, shop.with_store(language="en"), out=out)
    lines = out.getvalue().splitlines()
    assert any("store S02" in line and missed.out_trade_no in line for line in lines)
    assert any("store B7" in line and tampered.out_trade_no in line for line in lines)
    assert any(" - " in line and "MALL20261127000123" in line for line in lines)


def test_store_of_reads_only_our_numbers():
    assert store_of("S01-01-20261127-0042") == "S01"
    assert store_of("B7-03-20261127-123456") == "B7"
    for other in (
        "MALL20261127000123",
        "S01-01-2026112-0042",
        "S01-01-20261127-00x2",
        "a-b-c",
        "",
        "S0000001X-01-20261127-0001",
    ):
        assert store_of(other) == "", other
