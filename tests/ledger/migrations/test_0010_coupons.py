"""Revision 0010: payments and sales keep the coupon figures; older payments are filled in from what
they kept (cash_fee), a downgrade drops the columns and the ``settlement`` difference kind."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from pos.ledger import LineItem, database, open_ledger

_FIGURES = {"cash_fee", "coupon_fee", "settlement_total_fee"}


def _downgrade(engine, revision: str) -> None:
    config = database._alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)


def _columns(engine, table: str) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns(table)}


def test_upgrading_fills_in_older_payments_and_their_sales(db_url, clock):
    with open_ledger(db_url, clock=clock) as ledger:
        coupon = ledger.create_sale(store="S01", lane="01", items=[LineItem("拿铁", 1800)])
        plain = ledger.create_sale(store="S01", lane="01", items=[LineItem("茶", 900)])
        unpaid = ledger.create_sale(store="S01", lane="01", items=[LineItem("水", 300)])
    engine = database.create_ledger_engine(db_url)
    try:
        _downgrade(engine, "0009")
        assert not _FIGURES & _columns(engine, "sales")
        assert {"coupon_fee", "settlement_total_fee"}.isdisjoint(_columns(engine, "payments"))
        at = datetime(2026, 11, 27, 2, 3, tzinfo=UTC)
        with engine.begin() as conn:  # payments as revision 0009's code stored them
            for sale_id, tx, total, cash in (
                (coupon.id, "4200001", 1800, 1500),
                (plain.id, "4200002", 900, None),
            ):
                conn.execute(
                    text(
                        "INSERT INTO payments (sale_id, transaction_id, total_fee, cash_fee, time_end, "
                        " source, accepted, recorded_at) VALUES (:s, :tx, :t, :c, :at, 'notice', :yes, :at)"
                    ),
                    {"s": sale_id, "tx": tx, "t": total, "c": cash, "at": at, "yes": True},
                )
        database.upgrade(engine)
        assert database.current_revision(engine) == database.head_revision()
    finally:
        engine.dispose()
    with open_ledger(db_url, clock=clock) as ledger:
        (kept,) = ledger.payments_for_sale(coupon.id)
        assert (kept.cash_fee, kept.coupon_fee, kept.settlement_total_fee) == (1500, 300, 1800)
        (kept,) = ledger.payments_for_sale(plain.id)
        assert (kept.cash_fee, kept.coupon_fee, kept.settlement_total_fee) == (900, 0, 900)
        got = ledger.get_sale(coupon.id)
        assert (got.cash_fee, got.coupon_fee, got.settlement_total_fee) == (1500, 300, 1800)
        got = ledger.get_sale(unpaid.id)
        assert (got.cash_fee, got.coupon_fee, got.settlement_total_fee) == (None, None, None)


def test_the_settlement_kind_exists_at_head_and_goes_with_a_downgrade(db_url, clock):
    with open_ledger(db_url, clock=clock):
        pass
    engine = database.create_ledger_engine(db_url)
    insert = text(
        "INSERT INTO reconciliation_differences (reconciliation_id, position, kind, out_trade_no)"
        " VALUES (:run, 1, :kind, 'S01')"
    )
    run = text(
        "INSERT INTO reconciliations (business_date, ran_at, status, matched, bill_rows)"
        " VALUES ('2026-11-27', '2026-11-28 02:00:00', 'differences', 0, 1)"
    )
    try:
        with engine.begin() as conn:
            conn.execute(run)
            run_id = conn.execute(text("SELECT max(id) FROM reconciliations")).scalar_one()
            conn.execute(insert, {"run": run_id, "kind": "settlement"})
        _downgrade(engine, "0009")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM reconciliation_differences")).scalar_one() == 0
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(insert, {"run": run_id, "kind": "settlement"})
        database.upgrade(engine)
        with engine.begin() as conn:
            conn.execute(insert, {"run": run_id, "kind": "settlement"})
            with pytest.raises(IntegrityError), conn.begin_nested():
                conn.execute(insert, {"run": run_id, "kind": "no_such_kind"})
    finally:
        engine.dispose()
