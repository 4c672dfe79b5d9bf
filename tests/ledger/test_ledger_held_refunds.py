"""Refunds WeChat could not return (CHANGE) are HELD: reserved, not refunded, flagged, and settled
once by the manager (or by WeChat's later SUCCESS), on SQLite and PostgreSQL."""

from __future__ import annotations

import threading

import pytest
from alembic import command
from sqlalchemy import inspect

from pos.ledger import (
    FlagKind,
    HeldResolution,
    InvalidInput,
    JobKind,
    RefundRefused,
    RefundState,
    SaleState,
    UnknownRefund,
    database,
    open_ledger,
)


def _held(ledger, make, fee: int = 1800):
    sale = make.sale_in(SaleState.PAID)  # 1800 fen
    refund = ledger.start_refund(sale.id, fee)
    return sale, ledger.hold_refund(refund.out_refund_no, "refund_status=CHANGE")


def test_a_held_refund_keeps_its_amount_reserved_and_the_sale_unrefunded(ledger, make):
    sale, held = _held(ledger, make, 1000)
    assert (held.state, held.failure, held.resolution) == (RefundState.HELD, "refund_status=CHANGE", None)
    after = ledger.get_sale(sale.id)
    assert (after.state, after.refunded_fee, after.refundable_fee) == (SaleState.PAID, 0, 800)
    with pytest.raises(RefundRefused, match="only 800 fen"):
        ledger.start_refund(sale.id, 1000)  # the held money cannot be refunded a second time
    [flag] = ledger.flags_for_sale(sale.id)
    assert flag.kind is FlagKind.REFUND_HELD and flag.detail["out_refund_no"] == held.out_refund_no
    assert not [j for j in ledger.jobs_for_sale(sale.id) if j.kind is JobKind.REFUND_SLIP]
    assert ledger.hold_refund(held.out_refund_no, "again") == held  # the notice after the query
    assert len(ledger.flags_for_sale(sale.id)) == 1
    [listed] = ledger.held_refunds(store="S01")
    assert (listed.refund, listed.out_trade_no) == (held, sale.out_trade_no)
    assert ledger.held_refunds(store="S99") == []
    assert ledger.day_held_refunds(sale.business_date, store="S01") == (1, 1000)


def test_the_manager_resolves_it_once_with_an_audit_record(ledger, make, clock):
    sale, held = _held(ledger, make)
    clock.advance(minutes=5)
    outcome = ledger.resolve_held_refund(held.out_refund_no, "other_means", by="manager@1.2.3.4", note="现金")
    assert (outcome.refund.state, outcome.refund.resolution) == (RefundState.SUCCEEDED, "other_means")
    assert (outcome.sale.state, outcome.sale.refunded_fee) == (SaleState.REFUNDED, 1800)
    [event] = [e for e in ledger.events_for_sale(sale.id) if e.event == "refund_resolved"]
    assert event.detail["how"] == "other_means" and event.detail["by"] == "manager@1.2.3.4"
    assert event.detail["note"] == "现金"
    [flag] = ledger.flags_for_sale(sale.id)
    assert flag.resolved_at == clock.now and flag.resolved_by == "manager@1.2.3.4"
    assert [j.kind for j in ledger.jobs_for_sale(sale.id)].count(JobKind.REFUND_SLIP) == 1
    assert ledger.held_refunds() == []
    with pytest.raises(RefundRefused, match="not held"):
        ledger.resolve_held_refund(held.out_refund_no, HeldResolution.RESENT, by="manager")


@pytest.mark.parametrize(
    ("how", "by", "note"),
    [("cash", "m", ""), ("", "m", ""), (None, "m", ""), ("resent", "", ""), ("resent", "m", "x" * 501)],
)
def test_bad_resolutions_change_nothing(ledger, make, how, by, note):
    sale, held = _held(ledger, make)
    with pytest.raises(InvalidInput):
        ledger.resolve_held_refund(held.out_refund_no, how, by=by, note=note)
    assert ledger.get_refund(held.out_refund_no) == held
    assert ledger.get_sale(sale.id).state is SaleState.PAID
    with pytest.raises(UnknownRefund):
        ledger.resolve_held_refund("NOPE-R1", "resent", by="m")


def test_only_a_pending_refund_can_be_held_and_a_pending_one_cannot_be_resolved(ledger, make):
    sale = make.sale_in(SaleState.PAID)
    refund = ledger.start_refund(sale.id, 100)
    with pytest.raises(RefundRefused):
        ledger.resolve_held_refund(refund.out_refund_no, "resent", by="m")
    ledger.complete_refund(refund.out_refund_no)
    with pytest.raises(RefundRefused):
        ledger.hold_refund(refund.out_refund_no, "CHANGE")


def test_wechat_success_after_a_resend_completes_it_and_resolves_the_flag(ledger, make):
    sale, held = _held(ledger, make)
    done = ledger.complete_refund(held.out_refund_no, refund_id="503")
    assert done.refund.state is RefundState.SUCCEEDED and done.sale.state is SaleState.REFUNDED
    [flag] = ledger.flags_for_sale(sale.id)
    assert flag.resolved_by == "wechat"
    assert ledger.complete_refund(held.out_refund_no).already_done


def test_manager_and_wechat_racing_settle_it_once(ledger, make):
    sale, held = _held(ledger, make)
    results: list[str] = []

    def manager() -> None:
        try:
            ledger.resolve_held_refund(held.out_refund_no, "resent", by="m")
            results.append("manager")
        except RefundRefused:
            results.append("late")

    def wechat() -> None:
        results.append(
            "wechat-repeat" if ledger.complete_refund(held.out_refund_no).already_done else "wechat"
        )

    threads = [threading.Thread(target=manager), threading.Thread(target=wechat)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ledger.get_sale(sale.id).refunded_fee == 1800
    assert [j.kind for j in ledger.jobs_for_sale(sale.id)].count(JobKind.REFUND_SLIP) == 1
    assert len([r for r in results if r in ("manager", "wechat")]) == 1


def test_migration_0011_downgrade_releases_held_refunds_and_upgrade_comes_back(db_url, clock):
    with open_ledger(db_url, clock=clock) as ledger:
        sale = ledger.create_sale(store="S01", lane="01", total_fee=900, body="旧")
        ledger.record_order(sale.id, code_url="weixin://wxpay/bizpayurl?pr=x", prepay_id="p",
                            expires_at=clock.now.replace(hour=3), print_slip=False)  # fmt: skip
        ledger.mark_paid(sale.out_trade_no, transaction_id="4200", total_fee=900, time_end=clock.now,
                         source="query")  # fmt: skip
        ledger.hold_refund(ledger.start_refund(sale.id, 400).out_refund_no, "CHANGE")
    engine = database.create_ledger_engine(db_url)
    try:
        config = database._alembic_config()
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0009")
        columns = {c["name"] for c in inspect(engine).get_columns("refunds")}
        assert "resolution" not in columns
        database.upgrade(engine)
        assert database.current_revision(engine) == database.head_revision()
    finally:
        engine.dispose()
    with open_ledger(db_url, clock=clock) as ledger:
        [refund] = ledger.refunds_for_sale(sale.id)
        assert refund.state is RefundState.FAILED  # the older code's story: released
        assert ledger.get_sale(sale.id).refundable_fee == 900
        second = ledger.start_refund(sale.id, 900)
        assert ledger.hold_refund(second.out_refund_no, "CHANGE").state is RefundState.HELD
