"""Reconciliation results in the ledger: stored in one piece, read back the same, "latest" as the day
view needs it; the ledger's side of a bill day; a payment found by the bill is PAID and flagged."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from pos.ledger import (
    FlagKind,
    InvalidInput,
    LineItem,
    PaidStatus,
    PaymentSource,
    SaleState,
    database,
    open_ledger,
)
from pos.ledger.reconciliation import (
    Difference,
    DifferenceKind,
    Reconciliation,
    ReconciliationStatus,
    bill_window,
    latest_reconciliation,
    paid_on_bill_day,
    reconciliations_for_day,
    record_bill_payment,
    refunds_by_number,
    refunds_on_bill_day,
    sales_by_out_trade_no,
    save_reconciliation,
)
from pos.ledger.schema import DIFFERENCE_KINDS, RECONCILIATION_STATUSES

DAY = date(2026, 11, 27)


def test_the_tables_check_constraints_know_every_status_and_kind():
    assert tuple(s.value for s in ReconciliationStatus) == RECONCILIATION_STATUSES
    assert tuple(k.value for k in DifferenceKind) == DIFFERENCE_KINDS


def run(
    status: str, *, day: date = DAY, minutes: int = 0, differences=(), matched: int = 0
) -> Reconciliation:
    return Reconciliation(
        day=day,
        ran_at=datetime(2026, 11, 28, 2, 15, tzinfo=UTC) + timedelta(minutes=minutes),
        status=ReconciliationStatus(status),
        message=f"{status} run",
        matched=matched,
        differences=tuple(differences),
        bill_rows=matched + len(differences),
        store="S01",
    )


DIFFERENCES = (
    Difference(DifferenceKind.MISSING_AT_WECHAT, "S01-01-20261127-0001", "4200001", 1800, None, "只在账本"),
    Difference(DifferenceKind.AMOUNT, "S01-01-20261127-0002", "4200002", 1500, 1800, "金额不符"),
    Difference(
        DifferenceKind.STATE, "S01-01-20261127-0003", "4200003", 500, None, "退款", "S01-01-20261127-0003-R1"
    ),
    Difference(DifferenceKind.OTHER_CHANNEL, "MALL" + "9" * 60, "4" * 64, None, 990, "商城订单"),
)


def test_a_run_is_stored_and_read_back_the_same(ledger):
    saved = save_reconciliation(ledger, run("differences", differences=DIFFERENCES, matched=7))
    assert saved.id is not None
    loaded = latest_reconciliation(ledger, DAY)
    assert loaded == saved
    assert loaded.differences == DIFFERENCES  # order kept, long bill values kept whole
    assert loaded.problems == DIFFERENCES[:3]
    assert loaded.other_channel == DIFFERENCES[3:]
    assert loaded.ran_at.tzinfo is not None and loaded.ran_at == saved.ran_at
    assert isinstance(loaded.status, str) and loaded.status == "differences"
    assert [d.kind for d in loaded.differences] == ["missing_at_wechat", "amount", "state", "other_channel"]


def test_no_run_means_none(ledger):
    assert latest_reconciliation(ledger, DAY) is None
    assert reconciliations_for_day(ledger, DAY) == []


def test_latest_is_the_newest_run_that_compared_the_day(ledger):
    save_reconciliation(ledger, run("not_ready", minutes=0))
    assert latest_reconciliation(ledger, DAY).status == "not_ready"  # nothing better yet
    save_reconciliation(ledger, run("error", minutes=30))
    assert latest_reconciliation(ledger, DAY).status == "error"
    found = save_reconciliation(ledger, run("differences", minutes=60, differences=DIFFERENCES[:1]))
    assert latest_reconciliation(ledger, DAY) == found
    # WeChat unreachable later on does not hide what was found.
    save_reconciliation(ledger, run("error", minutes=90))
    assert latest_reconciliation(ledger, DAY) == found
    fixed = save_reconciliation(ledger, run("matched", minutes=120, matched=3))
    assert latest_reconciliation(ledger, DAY) == fixed
    history = reconciliations_for_day(ledger, DAY)
    assert [r.status for r in history] == ["not_ready", "error", "differences", "error", "matched"]


def test_days_are_kept_apart(ledger):
    save_reconciliation(ledger, run("matched", day=DAY))
    other = save_reconciliation(ledger, run("no_bill", day=DAY + timedelta(days=1)))
    assert latest_reconciliation(ledger, DAY).status == "matched"
    assert latest_reconciliation(ledger, DAY + timedelta(days=1)) == other
    assert latest_reconciliation(ledger, DAY - timedelta(days=1)) is None


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"status": "fine"}, "status"),
        ({"ran_at": datetime(2026, 11, 28, 10, 0)}, "ran_at"),
        ({"differences": (Difference("odd", "X", "", None, None, ""),)}, "kind"),  # type: ignore[arg-type]
    ],
)
def test_bad_runs_are_refused_and_nothing_is_stored(ledger, change, problem):
    from dataclasses import replace

    with pytest.raises(InvalidInput, match=problem):
        save_reconciliation(ledger, replace(run("matched"), **change))
    assert latest_reconciliation(ledger, DAY) is None


def test_the_database_refuses_unknown_statuses_too(ledger):
    with pytest.raises(Exception, match=r"(?i)check|constraint"), ledger.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO reconciliations"
                " (business_date, ran_at, status, message, matched, bill_rows, store) VALUES"
                " ('2026-11-27', '2026-11-28 02:00:00', 'fine', '', 0, 0, '')"
            )
        )


def test_migration_0003_goes_down_and_up(db_url, clock):
    ledger = open_ledger(db_url, clock=clock)
    save_reconciliation(ledger, run("matched"))
    ledger.close()
    engine = database.create_ledger_engine(db_url)
    try:
        from alembic import command

        config = database._alembic_config()
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0002")
        assert database.current_revision(engine) == "0002"
        database.upgrade(engine, "0003")
        assert database.current_revision(engine) == "0003"
        database.upgrade(engine)  # and on to the newest, past 0003
        assert database.current_revision(engine) == database.head_revision()
    finally:
        engine.dispose()
    with open_ledger(db_url, clock=clock) as reopened:
        assert latest_reconciliation(reopened, DAY) is None  # the tables came back empty


# -- the ledger's side of a bill day ---------------------------------------------------------


def _paid(ledger, clock, fee: int, *, tx: str, at: datetime | None = None):
    sale = ledger.create_sale(store="S01", lane="01", items=[LineItem("拿铁", fee)])
    ledger.record_order(
        sale.id, code_url=f"weixin://wxpay/s/{tx}", prepay_id="wx1", expires_at=clock() + timedelta(hours=1)
    )
    outcome = ledger.mark_paid(
        sale.out_trade_no, transaction_id=tx, total_fee=fee, time_end=at or clock(), source="notice"
    )
    return outcome.sale


def test_bill_window_is_beijings_calendar_day():
    start, end = bill_window(DAY)
    assert start == datetime(2026, 11, 26, 16, 0, tzinfo=UTC)
    assert end - start == timedelta(days=1)


def test_paid_on_bill_day_goes_by_wechats_time_end(ledger, clock):
    # clock: 10:00 Beijing on the 27th
    first = _paid(ledger, clock, 1800, tx="T1")
    late = _paid(
        ledger, clock, 900, tx="T2", at=datetime(2026, 11, 27, 16, 0, 1, tzinfo=UTC)
    )  # 00:00:01 on the 28th
    edge = _paid(
        ledger, clock, 700, tx="T3", at=datetime(2026, 11, 26, 16, 0, 0, tzinfo=UTC)
    )  # 00:00:00 on the 27th
    waiting = ledger.create_sale(store="S02", lane="01", total_fee=500, body="x")
    found = paid_on_bill_day(ledger, DAY)
    assert [s.out_trade_no for s in found] == [edge.out_trade_no, first.out_trade_no]
    assert found[1].paid_fee == 1800 and found[1].transaction_id == "T1" and found[1].state is SaleState.PAID
    assert [s.out_trade_no for s in paid_on_bill_day(ledger, DAY + timedelta(days=1))] == [late.out_trade_no]
    known = sales_by_out_trade_no(ledger, [first.out_trade_no, waiting.out_trade_no, "NOT-OURS-1", ""])
    assert set(known) == {first.out_trade_no, waiting.out_trade_no}
    assert known[waiting.out_trade_no].store == "S02" and known[waiting.out_trade_no].paid_fee is None


def test_many_numbers_are_looked_up_in_chunks(ledger):
    sales = [ledger.create_sale(store="S01", lane="01", total_fee=100, body="x") for _ in range(3)]
    numbers = [f"OTHER-{n:05d}" for n in range(1200)] + [s.out_trade_no for s in sales]
    assert set(sales_by_out_trade_no(ledger, numbers)) == {s.out_trade_no for s in sales}


def test_refunds_of_a_bill_day(ledger, clock):
    sale = _paid(ledger, clock, 1800, tx="T1")
    first = ledger.start_refund(sale.id, 500)
    clock.advance(hours=15)  # 01:00 on the 28th in Beijing
    second = ledger.start_refund(sale.id, 300)
    assert [r.out_refund_no for r in refunds_on_bill_day(ledger, DAY)] == [first.out_refund_no]
    assert [r.out_refund_no for r in refunds_on_bill_day(ledger, DAY + timedelta(days=1))] == [
        second.out_refund_no
    ]
    found = refunds_by_number(ledger, [second.out_refund_no, "nope"])
    assert list(found) == [second.out_refund_no]
    assert found[second.out_refund_no].out_trade_no == sale.out_trade_no
    assert found[second.out_refund_no].refund_fee == 300


# -- a payment only the bill knows --------------------------------------------------------------


def test_a_waiting_sale_the_bill_shows_paid_becomes_paid_and_flagged(ledger, clock):
    sale = ledger.create_sale(store="S01", lane="01", items=[LineItem("拿铁", 1800)])
    ledger.record_order(
        sale.id, code_url="weixin://wxpay/s/a", prepay_id="wx1", expires_at=clock() + timedelta(hours=1)
    )
    outcome = record_bill_payment(
        ledger, sale.out_trade_no, transaction_id="T9", total_fee=1800, time_end=clock(), raw="`row"
    )
    assert outcome.status is PaidStatus.PAID
    assert outcome.sale.state is SaleState.PAID and outcome.sale.flagged
    assert outcome.flag_id is not None
    (flag,) = ledger.flags_for_sale(sale.id)
    assert flag.kind is FlagKind.MISSED_PAYMENT and flag.detail["found_by"] == "bill"
    (payment,) = ledger.payments_for_sale(sale.id)
    assert payment.source is PaymentSource.BILL and payment.accepted
    assert [m.kind for m in ledger.messages_for(sale.out_trade_no)] == ["bill"]
    assert len([j for j in ledger.jobs_for_sale(sale.id) if j.kind == "confirmation"]) == 1
    # the same row again (a second run) changes nothing
    again = record_bill_payment(
        ledger, sale.out_trade_no, transaction_id="T9", total_fee=1800, time_end=clock()
    )
    assert again.status is PaidStatus.ALREADY_PAID
    assert len(ledger.flags_for_sale(sale.id)) == 1


def test_an_expired_sale_the_bill_shows_paid_is_flagged_by_mark_paid_itself(ledger, clock):
    sale = ledger.create_sale(store="S01", lane="01", items=[LineItem("拿铁", 1800)])
    ledger.record_order(
        sale.id, code_url="weixin://wxpay/s/a", prepay_id="wx1", expires_at=clock() + timedelta(hours=1)
    )
    ledger.mark_expired(sale.id)
    outcome = record_bill_payment(
        ledger, sale.out_trade_no, transaction_id="T9", total_fee=1800, time_end=clock()
    )
    assert outcome.status is PaidStatus.PAID_AFTER_CLOSE and outcome.sale.flagged
    assert [f.kind for f in ledger.flags_for_sale(sale.id)] == [FlagKind.PAID_AFTER_CLOSE]


def test_a_wrong_amount_from_the_bill_is_not_paid(ledger, clock):
    sale = ledger.create_sale(store="S01", lane="01", items=[LineItem("拿铁", 1800)])
    outcome = record_bill_payment(
        ledger, sale.out_trade_no, transaction_id="T9", total_fee=1700, time_end=clock()
    )
    assert outcome.status is PaidStatus.AMOUNT_MISMATCH
    assert ledger.get_sale(sale.id).state is SaleState.NEW


# A trigger that refuses the missed_payment flag, in each database's own words.
REFUSE_FLAG = {
    "sqlite": [
        "CREATE TRIGGER no_missed_flag BEFORE INSERT ON flags WHEN NEW.kind = 'missed_payment' "
        "BEGIN SELECT RAISE(ABORT, 'the flag write failed'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION no_missed_flag() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF NEW.kind = 'missed_payment' THEN RAISE EXCEPTION 'the flag write failed'; END IF; "
        "RETURN NEW; END $$",
        "CREATE TRIGGER no_missed_flag BEFORE INSERT ON flags FOR EACH ROW EXECUTE FUNCTION no_missed_flag()",
    ],
}
ALLOW_FLAG = {"sqlite": "DROP TRIGGER no_missed_flag", "postgresql": "DROP TRIGGER no_missed_flag ON flags"}


def test_a_bill_payment_and_its_flag_commit_together_or_not_at_all(db_url, clock):
    """The missed_payment flag is written in mark_paid's own transaction: when writing the flag
    fails (here a real trigger refuses it, as a crash or a full disk would stop it), the
    payment is not committed either, so the ledger never holds a bill-found PAID sale the manager
    was not told about; the next run finds the sale unpaid and records both."""
    with open_ledger(db_url, clock=clock) as ledger:
        dialect = ledger.engine.dialect.name
        sale = ledger.create_sale(store="S01", lane="01", items=[LineItem("拿铁", 1800)])
        ledger.record_order(
            sale.id, code_url="weixin://wxpay/s/a", prepay_id="wx1", expires_at=clock() + timedelta(hours=1)
        )
        with ledger.engine.begin() as conn:
            for statement in REFUSE_FLAG[dialect]:
                conn.exec_driver_sql(statement)
        with pytest.raises(DBAPIError, match="the flag write failed"):
            record_bill_payment(
                ledger, sale.out_trade_no, transaction_id="T9", total_fee=1800, time_end=clock(), raw="`row"
            )
        after = ledger.get_sale(sale.id)
        assert after.state is SaleState.AWAITING_PAYMENT and after.transaction_id is None
        assert not after.flagged and ledger.flags_for_sale(sale.id) == []
        assert ledger.payments_for_sale(sale.id) == []
        assert [j.kind for j in ledger.jobs_for_sale(sale.id)] == ["sale_slip"]  # no confirmation
        assert ledger.messages_for(sale.out_trade_no) == []
        assert [e.event for e in ledger.events_for_sale(sale.id)] == ["created", "ordered"]

        with ledger.engine.begin() as conn:
            conn.exec_driver_sql(ALLOW_FLAG[dialect])
        outcome = record_bill_payment(
            ledger, sale.out_trade_no, transaction_id="T9", total_fee=1800, time_end=clock(), raw="`row"
        )
        assert outcome.status is PaidStatus.PAID and outcome.sale.flagged
        assert [f.kind for f in ledger.flags_for_sale(sale.id)] == [FlagKind.MISSED_PAYMENT]
        assert [e.event for e in ledger.events_for_sale(sale.id)][-2:] == ["paid", "paid_found_by_bill"]
