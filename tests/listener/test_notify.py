"""Payment notices end to end: the simulator pays a sale and notifies the listener over real HTTP."""

from __future__ import annotations

import sqlite3

from sqlalchemy import create_engine

from pos.ledger import FlagKind, JobKind, PaidStatus, SaleState
from pos.wechatpay import notices


def confirmations(stack, sale_id: int) -> list:
    return [j for j in stack.ledger.jobs_for_sale(sale_id) if j.kind is JobKind.CONFIRMATION]


def paid(stack, sale_id: int) -> bool:
    return stack.ledger.get_sale(sale_id).state is SaleState.PAID


def test_simulator_pays_and_the_listener_marks_the_sale_paid_once(stack):
    sale = stack.ring_up(1800)
    transaction_id = stack.sim.pay(sale.code_url)

    attempts = stack.sim.wait_for_notifications(1, outcome="ok", out_trade_no=sale.out_trade_no)
    assert attempts and attempts[0]["status"] == 200
    assert attempts[0]["reply"] == notices.success_reply().decode()
    after = stack.ledger.get_sale(sale.id)
    assert after.state is SaleState.PAID
    assert after.transaction_id == transaction_id
    assert len(confirmations(stack, sale.id)) == 1
    # The sale slip was queued when the order was recorded; the listener added only the confirmation.
    assert [j.kind for j in stack.ledger.jobs_for_sale(sale.id)] == [JobKind.SALE_SLIP, JobKind.CONFIRMATION]
    stored = stack.ledger.messages_for(sale.out_trade_no)
    assert [m.verdict for m in stored] == [PaidStatus.PAID.value]
    assert transaction_id in stored[0].raw  # the raw notice, as received


def test_success_reply_is_the_compact_xml_with_http_200_and_text_xml(stack):
    sale = stack.ring_up(990)
    response = stack.post(stack.signed(stack.notice_for(sale)))
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/xml")
    assert response.content == notices.success_reply()


def test_duplicate_deliveries_change_nothing(stack_factory):
    stack = stack_factory(faults={"duplicate": True})
    sale = stack.ring_up(1200)
    stack.sim.pay(sale.code_url)
    delivered = stack.sim.wait_for_notifications(2, outcome="ok", out_trade_no=sale.out_trade_no)
    assert len(delivered) == 2
    assert paid(stack, sale.id)
    assert len(confirmations(stack, sale.id)) == 1
    assert len(stack.ledger.payments_for_sale(sale.id)) == 1


def test_concurrent_deliveries_from_the_simulator_make_one_payment(stack_factory):
    stack = stack_factory(faults={"concurrent": 8})
    sale = stack.ring_up(3300)
    stack.sim.pay(sale.code_url)
    delivered = stack.sim.wait_for_notifications(8, outcome="ok", out_trade_no=sale.out_trade_no)
    assert len(delivered) == 8  # every copy was acknowledged
    assert paid(stack, sale.id)
    assert len(confirmations(stack, sale.id)) == 1
    assert len([p for p in stack.ledger.payments_for_sale(sale.id) if p.accepted]) == 1


def test_a_dropped_first_delivery_is_made_good_by_the_retry(stack_factory):
    stack = stack_factory(faults={"drop_first": 1})
    sale = stack.ring_up(500)
    stack.sim.pay(sale.code_url)
    stack.sim.wait_for_notifications(1, outcome="ok", out_trade_no=sale.out_trade_no)
    log = [d["outcome"] for d in stack.sim.notifications() if d["out_trade_no"] == sale.out_trade_no]
    assert log[:2] == ["dropped", "ok"]
    assert paid(stack, sale.id)
    assert len(confirmations(stack, sale.id)) == 1


def test_the_signature_probe_gets_fail_and_the_real_notice_still_pays(stack_factory):
    stack = stack_factory(faults={"bad_sign_probe": True})
    sale = stack.ring_up(800)
    stack.sim.pay(sale.code_url)
    stack.sim.wait_for_notifications(1, outcome="ok", out_trade_no=sale.out_trade_no)
    probes = [d for d in stack.sim.notifications() if d["kind"] == "probe"]
    assert len(probes) == 1
    assert probes[0]["outcome"] == "fail"
    assert "<return_code><![CDATA[FAIL]]></return_code>" in probes[0]["reply"]
    assert paid(stack, sale.id)
    # Only the real notice was written; the probe left no trace in the ledger.
    assert [m.verdict for m in stack.ledger.messages_for(sale.out_trade_no)] == ["paid"]


def test_hmac_sha256_order_verifies_although_the_notice_names_no_sign_type(stack):
    sale = stack.ring_up(1500, sign_type="HMAC-SHA256")
    stack.sim.pay(sale.code_url)
    stack.sim.wait_for_notifications(1, outcome="ok", out_trade_no=sale.out_trade_no)
    assert paid(stack, sale.id)


def test_paid_after_void_is_paid_and_flagged_not_dropped(stack):
    sale = stack.ring_up(2000)
    stack.ledger.mark_voided(sale.id, by="cashier")  # closed here; the customer paid in the race
    response = stack.post(stack.signed(stack.notice_for(sale)))
    assert response.content == notices.success_reply()
    after = stack.ledger.get_sale(sale.id)
    assert after.state is SaleState.PAID and after.flagged
    assert [f.kind for f in stack.ledger.flags_for_sale(sale.id)] == [FlagKind.PAID_AFTER_CLOSE]
    assert len(confirmations(stack, sale.id)) == 1


def test_database_down_answers_fail_and_the_retry_pays(stack_factory, tmp_path, database):
    stack = stack_factory(busy_timeout_ms=200)
    sale = stack.ring_up(700)
    # Another process holds the write lock longer than the ledger waits: the write fails.
    stack.ledger.engine.dispose()
    if database.kind == "sqlite":
        blocker = sqlite3.connect(tmp_path / "pos.sqlite3", timeout=0, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            first = stack.post(stack.signed(stack.notice_for(sale)), timeout=30)
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
    else:  # PostgreSQL: the tables the notice writes are locked (lock_timeout = busy_timeout_ms)
        engine = create_engine(stack.config.database.url)
        try:
            with engine.begin() as conn:
                conn.exec_driver_sql("LOCK TABLE sales, messages IN ACCESS EXCLUSIVE MODE")
                first = stack.post(stack.signed(stack.notice_for(sale)), timeout=30)
        finally:
            engine.dispose()
    assert first.status_code == 503
    assert b"<return_code><![CDATA[FAIL]]></return_code>" in first.content
    assert stack.ledger.get_sale(sale.id).state is SaleState.AWAITING_PAYMENT
    assert stack.ledger.messages_for(sale.out_trade_no) == []
    # WeChat sends it again later; now it is stored and the sale is paid.
    again = stack.post(stack.signed(stack.notice_for(sale)))
    assert again.content == notices.success_reply()
    assert paid(stack, sale.id)
    assert len(confirmations(stack, sale.id)) == 1


def test_result_code_fail_is_stored_and_acknowledged_without_paying(stack):
    sale = stack.ring_up(600)
    body = stack.signed(stack.notice_for(sale, result_code="FAIL", err_code="PAYERROR"))
    response = stack.post(body)
    assert response.content == notices.success_reply()
    assert stack.ledger.get_sale(sale.id).state is SaleState.AWAITING_PAYMENT
    assert [m.verdict for m in stack.ledger.messages_for(sale.out_trade_no)] == ["result_fail"]


def test_a_foreign_currency_or_trade_type_does_not_pay_the_sale(stack):
    sale = stack.ring_up(600)
    for changes, verdict in (({"fee_type": "USD"}, "refused_fee_type"), ({"trade_type": "JSAPI"},
                                                                          "refused_trade_type")):  # fmt: skip
        response = stack.post(stack.signed(stack.notice_for(sale, **changes)))
        assert response.content == notices.success_reply()
        assert stack.ledger.messages_for(sale.out_trade_no)[-1].verdict == verdict
    assert stack.ledger.get_sale(sale.id).state is SaleState.AWAITING_PAYMENT
    assert [e.event for e in stack.ledger.events_for_sale(sale.id)][-2:] == ["notice_refused"] * 2
