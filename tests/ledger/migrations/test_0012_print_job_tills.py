"""Revision 0012: print jobs name their till; jobs already in the queue take their sale's till, and
those without a sale are for no till in particular (the first till to look takes them)."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect, select

from pos.ledger import JobKind, LineItem, database, open_ledger
from pos.ledger.schema import print_jobs


def _migrate(engine, revision: str, *, down: bool) -> None:
    config = database._alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(config, revision)


def test_upgrading_gives_existing_jobs_their_sales_till_and_the_rest_to_any_till(db_url, clock):
    with open_ledger(db_url, clock=clock) as ledger:
        s1 = ledger.create_sale(store="S01", lane="01", items=[LineItem("拿铁", 1800)])
        s2 = ledger.create_sale(store="S02", lane="03", items=[LineItem("柠檬茶", 1250)])
        jobs = [
            ledger.enqueue_job(JobKind.SALE_SLIP, sale_id=s1.id),
            ledger.enqueue_job(JobKind.SALE_SLIP, sale_id=s2.id),
            ledger.enqueue_job(
                JobKind.Z_REPORT, payload={"business_date": "2026-11-27"}, store="S02", lane="03"
            ),
        ]
    engine = database.create_ledger_engine(db_url)
    try:
        _migrate(engine, "0009", down=True)
        assert {"store", "lane"}.isdisjoint(c["name"] for c in inspect(engine).get_columns("print_jobs"))
        _migrate(engine, "head", down=False)
        with engine.connect() as conn:
            rows = conn.execute(
                select(print_jobs.c.id, print_jobs.c.store, print_jobs.c.lane).order_by(print_jobs.c.id)
            ).all()
    finally:
        engine.dispose()
    assert [tuple(r) for r in rows] == [
        (jobs[0].id, "S01", "01"),
        (jobs[1].id, "S02", "03"),
        (jobs[2].id, "", ""),  # its till was forgotten with the column: any till prints it
    ]
    with open_ledger(db_url, clock=clock) as ledger:
        assert ledger.claim_next_job(store="S02", lane="03").id == jobs[1].id
        z = ledger.claim_next_job(store="S02", lane="03")
        assert (z.id, z.store, z.lane) == (jobs[2].id, "S02", "03")
        assert ledger.claim_next_job(store="S02", lane="03") is None
