"""The chain's day lists the stores and lanes that went quiet, over real HTTP (SQLite and PostgreSQL):
a store or lane that rang up sales on one of the recent days but none on the viewed one is on the
page with nothing taken and "no sales this day", so the chain's manager can tell a store that took
nothing from one that does not exist. A store's manager sees none of it."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from html import unescape

import pytest

from pos.ledger import LineItem
from pos.ledger.chain import RECENT_DAYS
from pos.reports.day import BOM
from pos.till.testing import running_till

from .test_chain import _chain_manager


@pytest.fixture
def language() -> str:
    return "en"


@pytest.fixture
def config(database, tmp_path, sim, kit, chain_sales, language):
    return chain_sales.with_chain_password(
        kit.manager_config(tmp_path, sim, database=database.config, language=language)
    )


@pytest.fixture
def till(config, clock):
    with running_till(config, clock=clock, workers=False) as running:
        yield running


@pytest.fixture
def chain(till, chain_sales):
    """Today: S01 lanes 01 and 02, S02 lane 01. Before: S01 lane 03 two days ago (quiet beside its
    siblings), S03 yesterday (a quiet store), S09 longer ago than the window (not listed)."""
    made = chain_sales(till)
    made.sale("S01", "01", 1000)
    made.sale("S01", "02", 700)
    made.day = made.sale("S02", "01", 900).business_date
    now = made.service.now()

    def rung(store: str, lane: str, days: int):
        sale = made.ledger.create_sale(
            store=store, lane=lane, items=[LineItem("拿铁", 500)], now=now - timedelta(days=days)
        )
        assert sale.business_date == made.day - timedelta(days=days)
        return sale

    made.lane_03 = rung("S01", "03", 2)
    made.s03 = rung("S03", "01", 1)
    made.s09 = rung("S09", "01", RECENT_DAYS + 1)
    return made


def _rows(html: str, cls: str) -> list[tuple[str, ...]]:
    """The cells of each row of class ``cls`` exactly (text only, spaces squeezed), in page order."""
    rows = re.findall(rf'<tr class="{cls}"[^>]*>(.*?)</tr>', html, re.S)
    return [
        tuple(
            " ".join(unescape(re.sub(r"<[^>]+>", "", c)).split())
            for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", r, re.S)
        )
        for r in rows
    ]


def test_quiet_stores_and_lanes_are_listed_with_nothing_taken(kit, till, chain, chain_sales):
    manager = _chain_manager(kit, till, chain_sales.PASSWORD)
    page = manager.get(f"/manager/chain?date={chain.day.isoformat()}")
    assert page.status_code == 200
    two_days, yesterday = (chain.day - timedelta(days=n) for n in (2, 1))
    assert _rows(page.text, "lane") == [
        ("S01", "01", "1", "￥10.00 (1)", "￥0.00", "￥10.00"),
        ("S01", "02", "1", "￥7.00 (1)", "￥0.00", "￥7.00"),
        ("S02", "01", "1", "￥9.00 (1)", "￥0.00", "￥9.00"),
    ]
    assert _rows(page.text, "lane quiet") == [
        ("S01", f"03 no sales this day last sale {two_days}", "0", "￥0.00 (0)", "￥0.00", "￥0.00"),
        ("S03", f"01 no sales this day last sale {yesterday}", "0", "￥0.00 (0)", "￥0.00", "￥0.00"),
    ]
    # In the page's order: S01's quiet lane under S01, beside its siblings; then S02, then S03.
    order = re.findall(r'<tr class="lane[^"]*" data-store="(\w+)" data-lane="(\w+)"', page.text)
    assert order == [("S01", "01"), ("S01", "02"), ("S01", "03"), ("S02", "01"), ("S03", "01")]
    assert f'data-lane="03" data-last-sale="{two_days}"' in page.text
    # S03 took nothing: its total says so; S01 sold on two of its lanes, so its total is plain.
    assert _rows(page.text, "store-total quiet") == [
        ("Store S03 no sales this day", "Store total", "0", "￥0.00 (0)", "￥0.00", "￥0.00")
    ]
    assert [t[0] for t in _rows(page.text, "store-total")] == ["Store S01", "Store S02"]
    assert f"/manager/day?date={chain.day.isoformat()}&amp;store=S03" in page.text  # still one click away
    # Longer ago than the window: not listed at all.
    assert "S09" not in page.text
    # The chain's totals are the day's sales only.
    assert 'id="chain-paid">￥26.00<' in page.text and 'id="chain-net">￥26.00<' in page.text
    assert 'id="quiet-note"' in page.text and f"in the {RECENT_DAYS} days before" in unescape(page.text)
    # The chain's CSV lists sales: no line for the quiet ones.
    text = manager.get(f"/manager/day.csv?date={chain.day.isoformat()}&store=*").content.decode("utf-8")
    assert sorted(r[0] for r in list(csv.reader(io.StringIO(text.removeprefix(BOM))))[1:]) == [
        "S01",
        "S01",
        "S02",
    ]


def test_a_day_with_every_store_quiet(kit, till, chain, chain_sales):
    manager = _chain_manager(kit, till, chain_sales.PASSWORD)
    tomorrow = chain.day + timedelta(days=1)
    page = manager.get(f"/manager/chain?date={tomorrow.isoformat()}")
    assert page.status_code == 200
    assert _rows(page.text, "lane") == []
    quiet = [(r[0], r[1].split()[0], r[1].split()[-1]) for r in _rows(page.text, "lane quiet")]
    day, lane_03, s03 = (
        d.isoformat() for d in (chain.day, chain.lane_03.business_date, chain.s03.business_date)
    )
    assert quiet == [
        ("S01", "01", day),
        ("S01", "02", day),
        ("S01", "03", lane_03),
        ("S02", "01", day),
        ("S03", "01", s03),
    ]
    assert [t[0] for t in _rows(page.text, "store-total quiet")] == [
        "Store S01 no sales this day",
        "Store S02 no sales this day",
        "Store S03 no sales this day",
    ]
    assert 'id="chain-paid">￥0.00<' in page.text and "No store has sales on this day." not in page.text
    # Before any store rang up anything, the page says there is nothing, as before.
    empty = manager.get(f"/manager/chain?date={(chain.s09.business_date - timedelta(days=1)).isoformat()}")
    assert "No store has sales on this day." in empty.text and "quiet" not in empty.text


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_the_mark_in_both_languages(kit, till, chain, chain_sales, language):
    from pos.i18n import translator

    t = translator(language)
    page = _chain_manager(kit, till, chain_sales.PASSWORD).get(f"/manager/chain?date={chain.day.isoformat()}")
    assert page.status_code == 200
    text = unescape(page.text)
    assert t("chain.quiet") in text and t("chain.last_sale", day=chain.s03.business_date.isoformat()) in text
    assert t("chain.quiet_note", days=RECENT_DAYS) in text
    assert text.count(t("chain.quiet")) >= 3  # two lanes and S03's total (the note quotes it too)
    assert ("本日无销售" in text) == (language == "zh-CN") and ("no sales this day" in text) == (
        language == "en"
    )


def test_a_store_manager_sees_no_other_store(kit, till, chain, logged_in):
    day = chain.day.isoformat()
    chain_page = logged_in.get(f"/manager/chain?date={day}")
    assert chain_page.status_code == 403 and "S03" not in chain_page.text and "S09" not in chain_page.text
    own = logged_in.get(f"/manager/day?date={day}")
    assert own.status_code == 200 and 'id="paid-total">￥17.00<' in own.text
    assert "S03" not in own.text and "no sales this day" not in own.text and "quiet" not in own.text
    api = logged_in.get(f"/manager/api/day?date={day}").json()
    assert (api["store"], api["count"], api["paid_fee"]) == ("S01", 2, 1700)
    assert logged_in.get(f"/manager/day?date={day}&store=S03").status_code == 404
