"""Revision 0006: every change to a day's sales counts in ``day_revisions`` (SQLite) for its block of ids,
whoever makes it."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest
from alembic import command
from sqlalchemy import insert, inspect, select, update

from pos.ledger import LineItem, database, open_ledger
from pos.ledger.schema import DAY_REVISION_BLOCK, day_revisions, sales


def _revisions(engine) -> dict[tuple[str, str], int]:
    """(day, store) -> count, for sales in the first block of ids (every sale here but one test's)."""
    return {(day, store): n for (day, store, block), n in _by_block(engine).items() if block == 0}


def _by_block(engine) -> dict[tuple[str, str, int], int]:
    columns = day_revisions.c
    with engine.connect() as conn:
        rows = conn.execute(select(columns.business_date, columns.store, columns.block, columns.revision))
        return {(str(day), store, block): revision for day, store, block, revision in rows}


def _order(ledger, sale, clock) -> None:
    """NEW -> AWAITING_PAYMENT: an update of the sale."""
    ledger.record_order(
        sale.id,
        code_url="weixin://wxpay/bizpayurl?pr=t",
        prepay_id="wx1",
        expires_at=clock() + timedelta(minutes=5),
    )


def _sqlite_only(ledger) -> None:
    if ledger.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL keeps no count (see the migration)")


def test_every_insert_update_and_delete_of_a_sale_counts_for_its_day_and_store(ledger, clock):
    _sqlite_only(ledger)
    sale = ledger.create_sale(store="S01", lane="01", items=[LineItem("拿铁", 1800)])
    today = str(sale.business_date)
    after_insert = _revisions(ledger.engine)[(today, "S01")]
    _order(ledger, sale, clock)
    after_order = _revisions(ledger.engine)[(today, "S01")]
    assert after_order > after_insert >= 1
    ledger.create_sale(store="S02", lane="01", total_fee=100, body="另一家店")
    assert _revisions(ledger.engine)[(today, "S01")] == after_order  # another store's day is its own
    yesterday = ledger.create_sale(
        store="S01", lane="01", total_fee=100, body="昨天", now=clock() - timedelta(days=1)
    )
    assert _revisions(ledger.engine)[(str(yesterday.business_date), "S01")] == 1
    assert _revisions(ledger.engine)[(today, "S01")] == after_order
    with ledger.engine.begin() as conn:  # not through the ledger: the database counts it all the same
        conn.execute(update(sales).where(sales.c.id == sale.id).values(cashier="Zhang"))
    assert _revisions(ledger.engine)[(today, "S01")] == after_order + 1
    # Another program, with SQLite's default of no foreign keys, deleting a sale: counted too.
    with sqlite3.connect(ledger.engine.url.database) as db:
        db.execute("DELETE FROM sales WHERE id = ?", (yesterday.id,))
    assert _revisions(ledger.engine)[(str(yesterday.business_date), "S01")] == 2


def test_a_change_rolled_back_is_not_counted(ledger):
    _sqlite_only(ledger)
    sale = ledger.create_sale(store="S01", lane="01", total_fee=100, body="回滚")
    before = _revisions(ledger.engine)
    with pytest.raises(RuntimeError), ledger.engine.begin() as conn:
        conn.execute(update(sales).where(sales.c.id == sale.id).values(cashier="x"))
        raise RuntimeError("stop")
    assert _revisions(ledger.engine) == before


def test_upgrading_counts_existing_days_once_and_downgrading_removes_the_count(db_url, clock):
    with open_ledger(db_url, clock=clock) as ledger:
        _sqlite_only(ledger)
        sale = ledger.create_sale(store="S01", lane="01", total_fee=100, body="旧")
        _order(ledger, sale, clock)
    engine = database.create_ledger_engine(db_url)
    try:
        config = database._alembic_config()
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0005")
        assert "day_revisions" not in inspect(engine).get_table_names()
        with engine.begin() as conn:  # no triggers left behind: a plain update still works
            conn.execute(update(sales).values(cashier="Li"))
        database.upgrade(engine)
        assert _revisions(engine) == {(str(sale.business_date), "S01"): 1}
        with engine.begin() as conn:
            conn.execute(update(sales).values(cashier="Wang"))
        assert _revisions(engine) == {(str(sale.business_date), "S01"): 2}
    finally:
        engine.dispose()


def test_a_change_counts_only_for_its_own_block_of_ids(ledger):
    _sqlite_only(ledger)
    first = ledger.create_sale(store="S01", lane="01", total_fee=100, body="第一块")
    with ledger.engine.begin() as conn:  # a sale numbered just below the third block: the next one is in it
        row = dict(conn.execute(select(sales).where(sales.c.id == first.id)).mappings().one())
        row.update(id=3 * DAY_REVISION_BLOCK - 1, out_trade_no="S01-01-20261127-9999")
        conn.execute(insert(sales).values(**row))
    third = ledger.create_sale(store="S01", lane="01", total_fee=100, body="第三块")
    assert third.id == 3 * DAY_REVISION_BLOCK
    today = str(first.business_date)
    before = _by_block(ledger.engine)
    assert set(before) == {(today, "S01", 0), (today, "S01", 2), (today, "S01", 3)}
    with ledger.engine.begin() as conn:
        conn.execute(update(sales).where(sales.c.id == third.id).values(cashier="Zhang"))
    after = _by_block(ledger.engine)
    assert after[(today, "S01", 3)] == before[(today, "S01", 3)] + 1
    assert {k: v for k, v in after.items() if k[2] != 3} == {k: v for k, v in before.items() if k[2] != 3}
