"""Revision 0005: every sale keeps its lines as one listing text; existing sales get theirs on upgrade."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect, select, update

from pos.ledger import LineItem, database, open_ledger
from pos.ledger.models import items_listing
from pos.ledger.schema import sale_items, sales


def _downgrade(engine, revision: str) -> None:
    config = database._alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)


def _index_names(engine) -> set[str]:
    return {index["name"] for index in inspect(engine).get_indexes("sale_items")}


def test_a_new_sale_stores_its_lines_in_order_and_a_keyed_in_amount_stores_none(ledger):
    sale = ledger.create_sale(
        store="S01",
        lane="01",
        items=[LineItem("拿铁", 1800, qty=2), LineItem("柠檬茶", 1250), LineItem("水", 200)],
    )
    keyed = ledger.create_sale(store="S01", lane="01", total_fee=999, body="手工金额")
    with ledger.engine.connect() as conn:
        stored = dict(conn.execute(select(sales.c.id, sales.c.items_text)).all())
    assert stored == {sale.id: "拿铁×2; 柠檬茶×1; 水×1", keyed.id: None}
    assert stored[sale.id] == items_listing(ledger.get_sale(sale.id).items)


def test_upgrading_fills_the_text_of_existing_sales_from_their_lines_in_position_order(db_url, clock):
    with open_ledger(db_url, clock=clock) as ledger:
        three = ledger.create_sale(
            store="S01",
            lane="01",
            items=[LineItem("拿铁", 1800), LineItem("柠檬茶", 1250, qty=3), LineItem("水", 200)],
        )
        one = ledger.create_sale(store="S01", lane="01", items=[LineItem('A,"B"', 100)])
        keyed = ledger.create_sale(store="S01", lane="01", total_fee=999, body="手工金额")
    engine = database.create_ledger_engine(db_url)
    try:
        _downgrade(engine, "0004")
        assert "items_text" not in {column["name"] for column in inspect(engine).get_columns("sales")}
        assert "ix_sale_items_lines" in _index_names(engine)
        with engine.begin() as conn:  # rows stored out of order: the backfill follows position
            conn.execute(
                update(sale_items)
                .where(sale_items.c.sale_id == three.id)
                .values(position=10 - sale_items.c.position)
            )
        database.upgrade(engine)
        assert database.current_revision(engine) == database.head_revision()
        assert "ix_sale_items_lines" not in _index_names(engine)
        with engine.connect() as conn:
            stored = dict(conn.execute(select(sales.c.id, sales.c.items_text)).all())
    finally:
        engine.dispose()
    assert stored == {three.id: "水×1; 柠檬茶×3; 拿铁×1", one.id: 'A,"B"×1', keyed.id: None}
