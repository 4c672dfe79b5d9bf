"""Prepared: a Core statement run on SQLite's own cursor gives what Connection.execute gives, errors too."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    create_engine,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError

from pos.ledger import open_ledger
from pos.ledger.prepared import Prepared
from pos.ledger.schema import events, sales

SALE_BY_ID = select(sales).where(sales.c.id == bindparam("b_id"))


@pytest.fixture
def sqlite_ledger(ledger):
    if ledger.engine.dialect.name != "sqlite":
        pytest.skip("the shortcut is SQLite's; other databases run Connection.execute itself")
    return ledger


def test_rows_match_connection_execute_value_for_value(sqlite_ledger, make):
    sale = make.awaiting()
    paid = make.pay(make.awaiting()).sale
    prepared = Prepared(SALE_BY_ID)
    with sqlite_ledger.engine.connect() as conn:
        for sale_id in (sale.id, paid.id):
            expected = conn.execute(SALE_BY_ID, {"b_id": sale_id}).one()
            got = prepared.first(conn, {"b_id": sale_id})
            assert tuple(got) == tuple(expected)
            assert got._fields == tuple(expected._fields)
        assert prepared.first(conn, {"b_id": 10_000}) is None
    # Types come back as the columns' Python types: aware UTC datetimes, dates, bools, None.
    assert got.paid_at == paid.paid_at and got.paid_at.tzinfo is UTC
    assert got.business_date == paid.business_date
    assert got.flagged is False and got.closed_at is None


def test_update_returning_with_fixed_values_and_bound_datetimes(sqlite_ledger, make, clock):
    sale = make.awaiting()
    statement = Prepared(
        update(sales)
        .where(sales.c.id == bindparam("b_id"), sales.c.state == bindparam("b_state"))
        .values(state="VOIDED", closed_at=bindparam("b_at", type_=sales.c.closed_at.type))
        .returning(sales.c.state, sales.c.closed_at)
    )
    at = datetime(2026, 11, 27, 3, 4, 5, 678, tzinfo=UTC)
    with sqlite_ledger.engine.begin() as conn:
        assert statement.rows(conn, {"b_id": sale.id, "b_state": "PAID", "b_at": at}) == []
        row = statement.first(conn, {"b_id": sale.id, "b_state": "AWAITING_PAYMENT", "b_at": at})
    assert (row.state, row.closed_at) == ("VOIDED", at)
    # Stored exactly as SQLAlchemy stores it, so the rest of the ledger reads it back the same.
    reread = sqlite_ledger.get_sale(sale.id)
    assert reread.closed_at == at and reread.state.value == "VOIDED"
    with sqlite_ledger.engine.connect() as conn:
        text = conn.exec_driver_sql("SELECT closed_at, created_at FROM sales WHERE id = ?", (sale.id,)).one()
    assert text[0] == "2026-11-27 03:04:05.000678"  # SQLAlchemy's own SQLite format, as created_at
    assert len(text[1]) == len(text[0])


def test_insert_with_column_keys_returns_the_new_id(sqlite_ledger, make, clock):
    sale = make.awaiting()
    keys = ("sale_id", "event", "detail", "at")
    statement = Prepared(insert(events).returning(events.c.id), column_keys=keys)
    with sqlite_ledger.engine.begin() as conn:
        first = statement.scalar(conn, {"sale_id": sale.id, "event": "test", "detail": None, "at": clock.now})
        second = statement.scalar(conn, {"sale_id": None, "event": "test2", "detail": "{}", "at": clock.now})
    assert second == first + 1
    logged = [e for e in sqlite_ledger.events_for_sale(sale.id) if e.event == "test"]
    assert [(e.id, e.at) for e in logged] == [(first, clock.now)]


def test_errors_are_sqlalchemy_errors_and_the_transaction_rolls_back(sqlite_ledger, make, clock):
    sale = make.awaiting()
    statement = Prepared(insert(events), column_keys=("sale_id", "event", "detail", "at"))
    with pytest.raises(IntegrityError), sqlite_ledger.engine.begin() as conn:
        statement.execute(conn, {"sale_id": sale.id, "event": "kept?", "detail": None, "at": clock.now})
        statement.execute(conn, {"sale_id": sale.id, "event": None, "detail": None, "at": clock.now})
    assert not [e for e in sqlite_ledger.events_for_sale(sale.id) if e.event == "kept?"]


def test_a_locked_database_is_an_operational_error(tmp_path, clock):
    path = tmp_path / "pos.sqlite3"
    with open_ledger(f"sqlite:///{path}", clock=clock, busy_timeout_ms=50) as ledger:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process holds SQLite's one write lock
        statement = Prepared(insert(events), column_keys=("sale_id", "event", "detail", "at"))
        try:
            with pytest.raises(OperationalError, match="locked"), ledger.engine.connect() as conn:
                statement.execute(conn, {"sale_id": None, "event": "e", "detail": None, "at": clock.now})
        finally:
            other.execute("ROLLBACK")
            other.close()


def test_other_parameter_styles_take_the_long_way(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'named.sqlite3'}", paramstyle="named")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)")
        conn.exec_driver_sql("INSERT INTO t (name) VALUES ('a')")
    table = Table("t", MetaData(), Column("id", Integer, primary_key=True), Column("name", String))
    with engine.connect() as conn:
        row = Prepared(select(table).where(table.c.id == bindparam("b_id"))).first(conn, {"b_id": 1})
    assert (row.id, row.name) == (1, "a")
    engine.dispose()
