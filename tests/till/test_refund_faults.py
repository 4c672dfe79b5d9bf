"""Refunds whose outcome is unknown (SYSTEMERROR or a hung answer, from the simulator's ``calls``
switch, over real mutual TLS): the refund stays PENDING, is never sent under a second number,
and a sync settles it from what WeChat did."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from pos.ledger import LineItem, RefundState, SaleState, open_ledger
from pos.orders.refunds import RefundError, RefundPending, RefundService
from pos.sandbox.testing import running_simulator
from pos.till.testing import till_config
from pos.wechatpay import WeChatPayClient

TIMEOUT = 0.3


@pytest.fixture
def sim():
    with running_simulator(tls=True, time_scale=0.0001) as running:
        yield running


@pytest.fixture
def config(database, tmp_path, sim):
    base = till_config(tmp_path, sim, language="en", database=database.config)
    cert_file, key_file = sim.pki.client
    merchant = dataclasses.replace(
        base.merchant, api_base=sim.tls_base_url, cert_file=cert_file, key_file=key_file, timeout=TIMEOUT,
        notify_url="http://127.0.0.1:9/wechatpay/notify",
    )  # fmt: skip
    return base.replace(merchant=merchant)


@pytest.fixture
def ledger(config):
    with open_ledger(config.database.url) as opened:
        yield opened


@pytest.fixture
def client(config, sim):
    with WeChatPayClient.from_config(config.merchant, verify=str(sim.pki.ca_file), backoff=0) as opened:
        yield opened


def paid_sale(ledger, client, sim, total: int = 1800, *, store: str = "S01", lane: str = "01"):
    sale = ledger.create_sale(store=store, lane=lane, items=[LineItem("拿铁", total)])
    order = client.unified_order(
        out_trade_no=sale.out_trade_no, total_fee=total, body="拿铁",
        notify_url="http://127.0.0.1:9/wechatpay/notify", product_id="LATTE", spbill_create_ip="127.0.0.1",
    )  # fmt: skip
    ledger.record_order(
        sale.id, code_url=order.code_url, prepay_id=order.prepay_id,
        expires_at=sale.created_at + timedelta(minutes=15), print_slip=False,
    )  # fmt: skip
    transaction_id = sim.pay(order.code_url, notify=False)
    status = client.query_order(sale.out_trade_no)
    ledger.mark_paid(
        sale.out_trade_no, transaction_id=transaction_id, total_fee=total, time_end=status.time_end,
        source="query",
    )  # fmt: skip
    return ledger.get_sale(sale.id)


def refunds_at_wechat(sim, out_trade_no: str) -> list[dict]:
    return next(o for o in sim.orders() if o["out_trade_no"] == out_trade_no)["refunds"]


@pytest.mark.parametrize("fault", ["systemerror_after", "timeout_after", "systemerror", "timeout"])
def test_unknown_refund_outcome_stays_pending_and_sync_settles_it_once(ledger, client, sim, config, fault):
    sale = paid_sale(ledger, client, sim, total=900)
    service = RefundService(ledger, client, config)
    sim.set_faults(calls={"refund": fault}, hang_seconds=2 * TIMEOUT)
    with pytest.raises(RefundPending) as pending:
        service.refund(sale.id, 900)
    number = pending.value.refund.out_refund_no
    assert ledger.get_sale(sale.id).refundable_fee == 0  # reserved while unknown: no second refund
    sim.set_faults(calls={})
    [refund] = service.sync(sale.id)
    assert refund.state is RefundState.SUCCEEDED and refund.out_refund_no == number
    assert [r["out_refund_no"] for r in refunds_at_wechat(sim, sale.out_trade_no)] == [number]
    assert ledger.get_sale(sale.id).state is SaleState.REFUNDED


def test_refund_query_failing_leaves_it_pending_until_wechat_answers(ledger, client, sim, config):
    sale = paid_sale(ledger, client, sim, total=700)
    service = RefundService(ledger, client, config)
    sim.set_faults(
        calls={"refund": {"fault": "systemerror_after", "times": 1}, "refund_query": "systemerror"}
    )
    with pytest.raises(RefundPending):
        service.refund(sale.id, 700)
    [still] = service.sync(sale.id)
    assert still.state is RefundState.PENDING
    assert len(refunds_at_wechat(sim, sale.out_trade_no)) == 1
    sim.set_faults(calls={})
    [done] = service.sync(sale.id)
    assert done.state is RefundState.SUCCEEDED
    assert len(refunds_at_wechat(sim, sale.out_trade_no)) == 1


# -- refunds that are not immediate (Faults.refund_outcome) ---------------------------------------


def test_processing_then_success_is_pending_until_wechat_settles_it(ledger, client, sim, config):
    sale = paid_sale(ledger, client, sim, total=600)
    service = RefundService(ledger, client, config)
    sim.set_faults(refund_outcome="processing", refund_seconds=60)
    refund = service.refund(sale.id, 600)
    assert refund.state is RefundState.PENDING  # accepted, not yet back with the customer
    [still] = service.sync(sale.id)
    assert still.state is RefundState.PENDING
    assert ledger.get_sale(sale.id).refundable_fee == 0  # reserved meanwhile
    sim.advance(61)
    [done] = service.sync(sale.id)
    assert done.state is RefundState.SUCCEEDED
    assert ledger.get_sale(sale.id).state is SaleState.REFUNDED
    assert [r["status"] for r in refunds_at_wechat(sim, sale.out_trade_no)] == ["SUCCESS"]
    # WeChat's refund notice followed the settlement (to the configured notify URL).
    assert any(d["kind"] == "refund" for d in sim.notifications())


def test_refundclose_fails_the_refund_flags_it_and_frees_the_amount(ledger, client, sim, config):
    sale = paid_sale(ledger, client, sim, total=600)
    service = RefundService(ledger, client, config)
    sim.set_faults(refund_outcome="refundclose", refund_seconds=30)
    assert service.refund(sale.id, 600).state is RefundState.PENDING
    sim.advance(31)
    [closed] = service.sync(sale.id)
    assert closed.state is RefundState.FAILED
    after = ledger.get_sale(sale.id)
    assert after.state is SaleState.PAID and after.refundable_fee == 600
    assert [f.kind.value for f in ledger.flags_for_sale(sale.id)] == ["refund_failed"]
    sim.set_faults(refund_outcome="success")
    assert service.refund(sale.id, 600).state is RefundState.SUCCEEDED  # WeChat gave the amount back too


def test_change_holds_the_refund_flags_the_manager_and_no_second_refund_is_sent(ledger, client, sim, config):
    sale = paid_sale(ledger, client, sim, total=600)
    service = RefundService(ledger, client, config)
    sim.set_faults(refund_outcome="change", refund_seconds=30)
    service.refund(sale.id, 600)
    sim.advance(31)
    [changed] = service.sync(sale.id)
    assert changed.state is RefundState.HELD
    assert "must act" in service.describe(changed) or "held" in service.describe(changed)
    [flag] = ledger.flags_for_sale(sale.id)
    assert flag.kind.value == "refund_held" and "CHANGE" in str(flag.detail)
    after = ledger.get_sale(sale.id)
    assert (after.state, after.refunded_fee, after.refundable_fee) == (SaleState.PAID, 0, 0)
    # The held money stays reserved: the till refuses a second refund before asking WeChat.
    sim.set_faults(refund_outcome="success")
    with pytest.raises(RefundError) as refused:
        service.refund(sale.id, 600)
    assert refused.value.code == "too_much"
    assert [r["status"] for r in refunds_at_wechat(sim, sale.out_trade_no)] == ["CHANGE"]
    [again] = service.sync(sale.id)  # WeChat still says CHANGE: nothing moves
    assert again == changed
