"""Revision 0009: revision 0006's count of changes (table and SQLite triggers) is gone; a downgrade
makes it again, counting each existing day once, and the count works as 0006's did."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect, text, update

from pos.ledger import LineItem, database, open_ledger
from pos.ledger.schema import sales


def _downgrade(engine, revision: str) -> None:
    config = database._alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)


def _triggers(engine) -> set[str]:
    if engine.dialect.name != "sqlite":
        return set()  # PostgreSQL never had them (revision 0006)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
        return {name for (name,) in rows}


def _counts(engine) -> dict[tuple[str, str], int]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT business_date, store, revision FROM day_revisions WHERE block = 0"))
        return {(str(day), store): revision for day, store, revision in rows}


def test_a_ledger_at_head_has_no_count_and_its_sales_change_freely(ledger):
    assert "day_revisions" not in inspect(ledger.engine).get_table_names()
    assert not {name for name in _triggers(ledger.engine) if "day_revision" in name}
    sale = ledger.create_sale(store="S01", lane="01", items=[LineItem("拿铁", 1800)])
    with ledger.engine.begin() as conn:  # another program's update: nothing fires, nothing is missing
        conn.execute(update(sales).where(sales.c.id == sale.id).values(cashier="Zhang"))
    assert ledger.get_sale(sale.id).cashier == "Zhang"


def test_downgrading_counts_existing_days_once_and_upgrading_drops_the_count_again(db_url, clock):
    with open_ledger(db_url, clock=clock) as ledger:
        sale = ledger.create_sale(store="S01", lane="01", total_fee=100, body="旧")
        ledger.create_sale(store="S02", lane="01", total_fee=200, body="另一家店")
    day = str(sale.business_date)
    engine = database.create_ledger_engine(db_url)
    try:
        _downgrade(engine, "0008")
        assert "day_revisions" in inspect(engine).get_table_names()
        assert _counts(engine) == {(day, "S01"): 1, (day, "S02"): 1}
        with engine.begin() as conn:
            conn.execute(update(sales).where(sales.c.id == sale.id).values(cashier="Li"))
        if engine.dialect.name == "sqlite":  # 0006's triggers are back and count the change
            assert len(_triggers(engine)) == 3
            assert _counts(engine) == {(day, "S01"): 2, (day, "S02"): 1}
        else:
            assert _counts(engine) == {(day, "S01"): 1, (day, "S02"): 1}
        database.upgrade(engine)
        assert database.current_revision(engine) == database.head_revision()
        assert "day_revisions" not in inspect(engine).get_table_names()
        assert not _triggers(engine)
        with engine.begin() as conn:  # no trigger left behind pointing at a missing table
            conn.execute(update(sales).values(cashier="Wang"))
    finally:
        engine.dispose()
