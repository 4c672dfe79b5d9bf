"""Revision 0014: refunds keep WeChat's settlement refund and cash refund. Refunds made before it keep
NULL in both ("the same as refund_fee"), so the day's settled refunds are its refunds, as before;
downgrading drops the columns and keeps the refunds."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect, select

from pos.ledger import LineItem, database, open_ledger
from pos.ledger.schema import refunds
from pos.reports import day as report

COLUMNS = {"settlement_refund_fee", "cash_refund_fee"}


def _migrate(engine, revision: str, *, down: bool) -> None:
    config = database._alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(config, revision)


def _columns(engine) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns("refunds")}


def test_refunds_before_the_revision_settle_back_their_amount(db_url, clock):
    with open_ledger(db_url, clock=clock) as ledger:
        sale = ledger.create_sale(store="S01", lane="01", items=[LineItem("拿铁", 1800)])
        ledger.mark_paid(sale.out_trade_no, transaction_id="4200" + "0" * 24, total_fee=1800,
                         time_end=clock(), source="notice")  # fmt: skip
        refund = ledger.start_refund(sale.id, 600)
        ledger.complete_refund(refund.out_refund_no, settlement_refund_fee=500, cash_refund_fee=500)
        day = ledger.get_sale(sale.id).business_date
    engine = database.create_ledger_engine(db_url)
    try:
        _migrate(engine, "0013", down=True)
        assert COLUMNS.isdisjoint(_columns(engine))
        _migrate(engine, "head", down=False)
        assert _columns(engine) >= COLUMNS
        with engine.connect() as conn:
            row = conn.execute(select(refunds.c.refund_fee, *[refunds.c[c] for c in sorted(COLUMNS)])).one()
    finally:
        engine.dispose()
    assert tuple(row) == (600, None, None)
    with open_ledger(db_url, clock=clock) as ledger:
        kept = ledger.get_refund(refund.out_refund_no)
        assert (kept.settlement_refund_fee, kept.settled_refund_fee) == (None, 600)
        figures = report.day_figures(ledger, day, store="S01")
        assert (figures.refunded_fee, figures.settled_refunds, figures.settled_net_fee) == (600, 600, 1200)


def test_the_ledger_keeps_figures_within_the_refund_and_null_for_the_refunds_own_amount(ledger, clock):
    sale = ledger.create_sale(store="S01", lane="01", items=[LineItem("拿铁", 1800)])
    ledger.mark_paid(sale.out_trade_no, transaction_id="4200" + "1" * 24, total_fee=1800,
                     time_end=clock(), source="notice")  # fmt: skip
    first, second = ledger.start_refund(sale.id, 600), ledger.start_refund(sale.id, 300)
    noted = ledger.note_refund_figures(first.out_refund_no, settlement_refund_fee=700, cash_refund_fee=-1)
    assert (noted.settlement_refund_fee, noted.cash_refund_fee) == (None, None)  # impossible: ignored
    noted = ledger.note_refund_figures(first.out_refund_no, settlement_refund_fee=500, cash_refund_fee=600)
    assert (noted.settlement_refund_fee, noted.cash_refund_fee) == (500, None)  # 600: the refund itself
    done = ledger.complete_refund(first.out_refund_no).refund  # a notice without figures keeps them
    assert (done.settlement_refund_fee, done.settled_refund_fee) == (500, 500)
    ledger.complete_refund(second.out_refund_no, settlement_refund_fee=300)
    assert ledger.get_refund(second.out_refund_no).settlement_refund_fee is None
    figures = report.day_figures(ledger, ledger.get_sale(sale.id).business_date, store="S01")
    assert (figures.refunded_fee, figures.settled_refunds, figures.settled_net_fee) == (900, 800, 1000)
