"""The chain's manager over real HTTP (the till's app behind waitress, SQLite and PostgreSQL): one
ledger with sales in three stores and several lanes; the chain's password sees every store, the
store's password only the till's own (another store's id gets 404 and shows nothing)."""

from __future__ import annotations

import csv
import io
from html import unescape

import pytest

from pos.ledger import LineItem
from pos.reports.day import BOM
from pos.till.testing import running_till


@pytest.fixture
def config(database, tmp_path, sim, kit, chain_sales):
    return chain_sales.with_chain_password(
        kit.manager_config(tmp_path, sim, database=database.config, language="en")
    )


@pytest.fixture
def till(config, clock):
    with running_till(config, clock=clock, workers=False) as running:
        yield running


@pytest.fixture
def chain(till, chain_sales):
    """S01 (the till's own store): lanes 01 and 02; S02: lane 01; B7: lane 03."""
    made = chain_sales(till)
    assert till.till.config.store.id == "S01"
    made.sale("S01", "01", 1000)
    made.sale("S01", "01", 500, refund=200)
    made.sale("S01", "02", 700)
    made.sale("S02", "01", 300, paid=False)
    made.secret = made.sale("S02", "01", 900)
    made.sale("B7", "03", 1200, refund=1200)
    made.day = made.secret.business_date
    return made


def _chain_manager(kit, till, password: str = "the whole chain 2026"):
    manager = kit.Manager(till)
    response = manager.login(password)
    assert response.status_code == 200 and response.url.endswith("/manager/chain"), response.text[:300]
    return manager


def _rows(html: str, cls: str) -> list[tuple[str, ...]]:
    """The cells of each row of class ``cls`` (text only), in page order."""
    import re

    rows = re.findall(rf'<tr class="{cls}"[^>]*>(.*?)</tr>', html, re.S)
    return [
        tuple(
            unescape(re.sub(r"<[^>]+>", "", c)).strip()
            for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", r, re.S)
        )
        for r in rows
    ]


def test_chain_manager_sees_every_store_by_lane(kit, till, chain):
    manager = _chain_manager(kit, till)
    page = manager.get(f"/manager/chain?date={chain.day.isoformat()}")
    assert page.status_code == 200
    assert _rows(page.text, "lane") == [
        ("B7", "03", "1", "￥12.00 (1)", "￥12.00", "￥0.00"),
        ("S01", "01", "2", "￥15.00 (2)", "￥2.00", "￥13.00"),
        ("S01", "02", "1", "￥7.00 (1)", "￥0.00", "￥7.00"),
        ("S02", "01", "2", "￥9.00 (1)", "￥0.00", "￥9.00"),
    ]
    totals = _rows(page.text, "store-total")
    assert [t[0] for t in totals] == ["Store B7", "Store S01", "Store S02"]
    assert totals[1][2:] == ("3", "￥22.00 (3)", "￥2.00", "￥20.00")
    assert 'id="chain-paid">￥43.00<' in page.text and 'id="chain-net">￥29.00<' in page.text


def test_each_store_is_one_click_away(kit, till, chain):
    manager = _chain_manager(kit, till)
    page = manager.get(f"/manager/chain?date={chain.day.isoformat()}")
    link = f"/manager/day?date={chain.day.isoformat()}&amp;store=S02"
    assert link in page.text
    day = manager.get(unescape(link))
    assert day.status_code == 200
    assert 'data-store="S02"' in day.text and "Store S02" in day.text
    assert 'id="paid-total">￥9.00<' in day.text and chain.secret.out_trade_no in day.text
    # The day page's own links carry no store: the session keeps the store it shows.
    again = manager.get(f"/manager/day?date={chain.day.isoformat()}&show=PAID")
    assert chain.secret.out_trade_no in again.text and "S01-01-" not in again.text
    api = manager.get(f"/manager/api/day?date={chain.day.isoformat()}&store=B7").json()
    assert (api["store"], api["paid_fee"], api["refunded_fee"]) == ("B7", 1200, 1200)
    own = manager.get(f"/manager/day?date={chain.day.isoformat()}&store=S01")
    assert 'id="paid-total">￥22.00<' in own.text


def test_store_manager_never_sees_another_store(kit, till, chain, logged_in):
    day = chain.day.isoformat()
    page = logged_in.get(f"/manager/day?date={day}")
    assert 'id="paid-total">￥22.00<' in page.text
    assert chain.secret.out_trade_no not in page.text and 'id="chain-banner"' not in page.text
    for path in (
        f"/manager/day?date={day}&store=S02",
        f"/manager/day?date={day}&store=B7&show=PAID",
        f"/manager/day.csv?date={day}&store=S02",
        f"/manager/day.csv?date={day}&store=*",
        f"/manager/api/day?date={day}&store=S02",
        f"/manager/day?date={day}&store=s01",
        f"/manager/day?date={day}&store=*",
    ):
        response = logged_in.get(path)
        assert response.status_code == 404, path
        assert chain.secret.out_trade_no not in response.text and "￥9.00" not in response.text, path
    chain_page = logged_in.get(f"/manager/chain?date={day}")
    assert chain_page.status_code == 403 and "S02" not in chain_page.text
    # A refund of another store's sale, by its id: as if there were none, and nothing changes.
    refused = logged_in.post(f"/manager/sales/{chain.secret.id}/refund", {"date": day, "amount": "1.00"})
    assert refused.status_code == 404
    assert chain.ledger.get_sale(chain.secret.id).refunded_fee == 0
    # Its own store, asked for by name, is fine.
    assert logged_in.get(f"/manager/day?date={day}&store=S01").status_code == 200


@pytest.mark.parametrize(
    "store", ["../S02", "S" * 9, "S01'--", "%00", "全部", "S01&store=S02", " S02", "*S02", "all*"]
)
def test_hostile_store_ids_get_4xx(kit, till, chain, store):
    manager = _chain_manager(kit, till)
    for path in ("/manager/day", "/manager/api/day"):
        response = manager.get(path, params={"date": chain.day.isoformat(), "store": store})
        assert 400 <= response.status_code < 500, (path, store, response.status_code)
        assert "Traceback" not in response.text
    csv_response = manager.get("/manager/day.csv", params={"date": chain.day.isoformat(), "store": store})
    assert csv_response.status_code == 400, (store, csv_response.status_code)


def test_chain_csv_covers_one_store_or_all(kit, till, chain):
    manager = _chain_manager(kit, till)
    day = chain.day.isoformat()
    response = manager.get(f"/manager/day.csv?date={day}&store=*")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == f'attachment; filename="pos-all-{day}.csv"'
    text = response.content.decode("utf-8")
    assert text.startswith(BOM)
    rows = list(csv.reader(io.StringIO(text.removeprefix(BOM))))
    header, body = rows[0], rows[1:]
    assert header[0] == "Store" and "Lane" in header
    lane = header.index("Lane")
    assert sorted((r[0], r[lane]) for r in body) == [
        ("B7", "03"),
        ("S01", "01"),
        ("S01", "01"),
        ("S01", "02"),
        ("S02", "01"),
        ("S02", "01"),
    ]
    assert all(r[1 + 1].startswith(r[0] + "-") for r in body)  # out_trade_no names the row's store
    one = manager.get(f"/manager/day.csv?date={day}&store=S02")
    assert one.status_code == 200 and "pos-S02-" in one.headers["Content-Disposition"]
    one_rows = list(csv.reader(io.StringIO(one.content.decode("utf-8").removeprefix(BOM))))[1:]
    assert len(one_rows) == 2 and all(chain.secret.out_trade_no[:4] in ",".join(r) for r in one_rows)


def test_store_password_still_signs_in_for_the_store_only(kit, till, chain):
    manager = kit.Manager(till)
    response = manager.login()  # the store's password
    assert response.url.endswith("/manager/day")
    wrong = kit.Manager(till)
    assert wrong.login("not the chain's password").status_code == 401


def _chain_run(chain):
    """A run of the merchant's one bill with differences in two stores and another channel's order."""
    from datetime import UTC, datetime

    from pos.ledger.reconciliation import (
        Difference,
        DifferenceKind,
        Reconciliation,
        ReconciliationStatus,
        save_reconciliation,
    )

    own = Difference(DifferenceKind.AMOUNT, "S01-01-20261127-0001", "4200001", 1500, 1800, "own store's")
    other = Difference(
        DifferenceKind.PAID_AT_WECHAT_ONLY, chain.secret.out_trade_no, "4200002", 900, 900, "S02's detail"
    )
    foreign = Difference(
        DifferenceKind.MISSING_IN_LEDGER, "MALL20261127000123", "4200003", None, 4990, "mall"
    )
    run = Reconciliation(
        day=chain.day,
        ran_at=datetime.now(UTC),
        status=ReconciliationStatus.DIFFERENCES,
        message="3 differences across the chain",
        matched=4,
        differences=(own, other, foreign),
        bill_rows=7,
        store="S01",
    )
    return save_reconciliation(chain.ledger, run)


def test_reconciliation_differences_name_their_store(kit, till, chain, logged_in):
    _chain_run(chain)
    day = chain.day.isoformat()
    chain_day = _chain_manager(kit, till).get(f"/manager/day?date={day}")
    assert '<li data-store="S01">' in chain_day.text and "store S01" in chain_day.text
    assert '<li data-store="S02">' in chain_day.text and "store S02" in chain_day.text
    assert '<li data-store="">' in chain_day.text and "store unknown" in chain_day.text
    assert "3 differences across the chain" in chain_day.text

    store_day = logged_in.get(f"/manager/day?date={day}")  # the store's manager: their own store only
    assert '<li data-store="S01">' in store_day.text
    assert chain.secret.out_trade_no not in store_day.text
    assert "MALL20261127000123" in store_day.text  # no store's sale: every manager needs to know
    assert "S02's detail" not in store_day.text and "3 differences across the chain" not in store_day.text
    assert 'id="recon-store-only"' in store_day.text


def test_a_store_manager_cannot_resolve_another_stores_flag(kit, till, chain, logged_in):
    ledger, now = chain.ledger, chain.service.now()
    odd = ledger.create_sale(store="S02", lane="01", items=[LineItem("拿铁", 500)])
    outcome = ledger.mark_paid(
        odd.out_trade_no, transaction_id="4200009999", total_fee=1, time_end=now, source="notice"
    )  # WeChat reports another amount: the ledger flags the sale
    (flag,) = [f for f in ledger.open_flags() if f.sale_id == odd.id]
    assert outcome.status.value == "amount_mismatch"
    day = chain.day.isoformat()
    assert f"/manager/flags/{flag.id}/resolve" not in logged_in.get(f"/manager/day?date={day}").text
    refused = logged_in.post(f"/manager/flags/{flag.id}/resolve", {"date": day, "note": "not mine"})
    assert refused.status_code == 404
    missing = logged_in.post("/manager/flags/999999/resolve", {"date": day})
    assert missing.status_code == 404
    assert [f.id for f in ledger.open_flags() if f.sale_id == odd.id] == [flag.id]
    chain_manager = _chain_manager(kit, till)
    page = chain_manager.get(f"/manager/day?date={day}&store=S02")
    assert f"/manager/flags/{flag.id}/resolve" in page.text
    done = chain_manager.post(f"/manager/flags/{flag.id}/resolve", {"date": day, "note": "checked"})
    assert done.status_code == 200 and not [f for f in ledger.open_flags() if f.sale_id == odd.id]


def test_the_z_report_is_the_tills_own_store(kit, till, chain):
    manager = _chain_manager(kit, till)
    day = chain.day.isoformat()
    jobs = len(chain.ledger.unfinished_jobs())
    manager.get(f"/manager/day?date={day}&store=S02")
    refused = manager.post("/manager/z-report", {"date": day})
    assert refused.status_code == 200 and "own store's (S01) Z report only" in unescape(refused.text)
    assert len(chain.ledger.unfinished_jobs()) == jobs
    manager.get(f"/manager/day?date={day}&store=S01")
    printed = manager.post("/manager/z-report", {"date": day})
    assert "Z report only" not in unescape(printed.text) and len(chain.ledger.unfinished_jobs()) == jobs + 1
