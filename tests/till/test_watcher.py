"""The payment watcher against the WeChat simulator over real HTTP, a real SQLite ledger and a
clock the test moves (the simulator's clock moves with it). poll_once does one pass; the
thread is tested separately with a gateway that is down, then back."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests

from pos.config import Config
from pos.i18n import translator
from pos.ledger import JobKind, Ledger, LineItem, MessageKind, SaleState, open_ledger
from pos.orders.checkout import Checkout
from pos.sandbox.testing import RunningSimulator, running_simulator
from pos.testing.clock import FakeClock
from pos.till.watcher import EMPTY_WAKE, IDLE_WAKE, NEW_GRACE, Watcher, backoff, query_interval
from pos.wechatpay import WeChatPayClient, xmlcodec
from pos.wechatpay import testing as fake

S = timedelta(seconds=1)


@pytest.fixture
def sim() -> Iterator[RunningSimulator]:
    with running_simulator(time_scale=0.001) as running:
        yield running


@pytest.fixture
def clock(sim) -> FakeClock:
    return FakeClock(datetime.now(UTC), follow=sim.advance)


@pytest.fixture
def config(demo_config: Config, sim: RunningSimulator) -> Config:
    merchant = dataclasses.replace(
        demo_config.merchant, api_base=sim.base_url, appid=sim.appid, mch_id=sim.mch_id, api_key=sim.api_key
    )
    return demo_config.replace(merchant=merchant)


@pytest.fixture
def ledger(config: Config, clock: FakeClock) -> Iterator[Ledger]:
    with open_ledger(config.database.url, clock=clock) as opened:
        yield opened


def client_for(config: Config, api_base: str | None = None) -> WeChatPayClient:
    options = {"timeout": 2.0, "retries": 1, "backoff": 0}
    if api_base:
        options["api_base"] = api_base
    return WeChatPayClient.from_config(config.merchant, **options)


@pytest.fixture
def client(config) -> WeChatPayClient:
    return client_for(config)


@pytest.fixture
def checkout(ledger, client, config, clock) -> Checkout:
    return Checkout(ledger, client, config, clock=clock)


@pytest.fixture
def watcher(ledger, client, config, clock) -> Watcher:
    return Watcher(ledger, client, config, clock=clock)


def kinds(ledger: Ledger, sale_id: int) -> list[JobKind]:
    return [j.kind for j in ledger.jobs_for_sale(sale_id)]


def ring(checkout: Checkout):
    sale = checkout.ring_up(items=[LineItem("拿铁", 1800)])
    assert sale.state is SaleState.AWAITING_PAYMENT
    return sale


# -- the schedule ---------------------------------------------------------------------------------------


def test_query_interval_backs_off_with_the_orders_age():
    ages = [0, 119, 120, 179, 180, 299, 300, 599, 600, 3600]
    assert [query_interval(a * S).total_seconds() for a in ages] == [2, 2, 5, 5, 10, 10, 20, 20, 30, 30]
    assert [backoff(n).total_seconds() for n in range(1, 7)] == [2, 4, 8, 16, 30, 30]


def test_a_new_sale_is_queried_every_two_seconds_and_notpay_is_audited_once(checkout, watcher, ledger, clock):
    sale = ring(checkout)
    assert watcher.poll_once() == 0  # ordered this instant: the first query is due in 2 s
    assert watcher.next_due() == sale.ordered_at + 2 * S
    clock.advance(1)
    assert watcher.poll_once() == 0
    clock.advance(1)
    assert watcher.poll_once() == 1
    assert watcher.next_due() == clock.now + 2 * S
    for _ in range(3):
        clock.advance(2)
        assert watcher.poll_once() == 1
    [audit] = ledger.messages_for(sale.out_trade_no)  # four NOTPAY answers, one row
    assert (audit.kind, audit.verdict) == (MessageKind.QUERY, "notpay")
    assert "NOTPAY" in audit.raw
    assert ledger.get_sale(sale.id).state is SaleState.AWAITING_PAYMENT


def test_an_idle_watcher_sleeps_longer_and_a_sale_announced_to_it_keeps_its_first_query_at_2_s(
    checkout, watcher, ledger, sim, clock
):
    assert watcher.poll_once() == 0 and watcher.next_due() is None
    assert watcher.sleep_seconds() == EMPTY_WAKE > IDLE_WAKE  # nothing pending: nothing to ask about
    sale = ring(checkout)
    watcher.expect(ledger.get_sale(sale.id))  # what the till does after a ring-up: no pass yet
    assert watcher.passes == 1 and watcher.next_due() == sale.ordered_at + 2 * S
    assert watcher.sleep_seconds() == 2.0
    clock.advance(1)
    assert watcher.sleep_seconds() == 1.0
    sim.pay(sale.code_url, notify=False)
    clock.advance(1)
    assert watcher.poll_once() == 1  # its first query, on time, finds it paid
    assert ledger.get_sale(sale.id).state is SaleState.PAID
    assert watcher.next_due() is None and watcher.sleep_seconds() == EMPTY_WAKE
    watcher.expect(ledger.get_sale(sale.id))  # a sale no longer awaiting payment changes nothing
    assert watcher.next_due() is None


def test_a_sale_known_settled_before_its_first_query_costs_no_pass(checkout, watcher, ledger, clock):
    assert watcher.poll_once() == 0
    first, second = ring(checkout), ring(checkout)
    watcher.expect(first)
    watcher.expect(second)
    watcher.settled(first.id)  # its confirmation printed here: the notice made it paid
    assert watcher.next_due() == second.ordered_at + 2 * S
    watcher.settled(second.id)
    watcher.settled(12345)  # unknown: nothing to forget
    assert watcher.next_due() is None and watcher.sleep_seconds() == EMPTY_WAKE
    watcher.expect(first)
    assert watcher.poll_once() == 0  # a pass has seen it: its schedule is the watcher's own now
    watcher.settled(first.id)
    assert watcher.next_due() == first.ordered_at + 2 * S  # until a pass finds it settled


def test_a_pass_takes_over_what_was_announced(checkout, watcher, ledger, clock):
    sale = ring(checkout)
    watcher.expect(sale)
    clock.advance(1)
    assert watcher.poll_once() == 0  # read back from the ledger: due when it was announced for
    assert watcher.next_due() == sale.ordered_at + 2 * S
    assert watcher.sleep_seconds() == 1.0  # pending sales: never more than IDLE_WAKE, here less


def test_paid_without_a_notice_is_found_by_query(checkout, watcher, ledger, sim, clock):
    sale = ring(checkout)
    transaction_id = sim.pay(sale.code_url, notify=False)  # the notice is lost
    clock.advance(2)
    assert watcher.poll_once() == 1
    paid = ledger.get_sale(sale.id)
    assert paid.state is SaleState.PAID and paid.transaction_id == transaction_id
    [payment] = ledger.payments_for_sale(sale.id)
    assert payment.source.value == "query" and payment.total_fee == 1800 and payment.openid
    assert payment.cash_fee == 1800 and payment.time_end is not None
    assert kinds(ledger, sale.id) == [JobKind.SALE_SLIP, JobKind.CONFIRMATION]
    assert [m.verdict for m in ledger.messages_for(sale.out_trade_no)] == ["paid"]  # kept by mark_paid
    clock.advance(2)
    assert watcher.poll_once() == 0 and watcher.next_due() is None  # nothing left to watch
    assert kinds(ledger, sale.id) == [JobKind.SALE_SLIP, JobKind.CONFIRMATION]


def test_unpaid_at_the_deadline_is_closed_and_expired(checkout, watcher, ledger, sim, clock, config):
    sale = ring(checkout)
    clock.advance(2)
    watcher.poll_once()
    clock.advance(config.till.order_ttl * 60 - 3)
    watcher.poll_once()
    assert ledger.get_sale(sale.id).state is SaleState.AWAITING_PAYMENT  # a second before the deadline
    assert watcher.next_due() == sale.expires_at
    clock.advance(2)
    assert watcher.poll_once() == 1
    assert ledger.get_sale(sale.id).state is SaleState.EXPIRED
    assert sim.orders()[0]["state"] == "CLOSED"
    assert kinds(ledger, sale.id) == [JobKind.SALE_SLIP, JobKind.EXPIRED_NOTICE]
    # queried while waiting; closed; queried again: the close is final only when the order reads CLOSED
    assert [m.kind for m in ledger.messages_for(sale.out_trade_no)] == [
        MessageKind.QUERY, MessageKind.CLOSE, MessageKind.QUERY,
    ]  # fmt: skip


def test_orderpaid_at_the_close_makes_it_paid(checkout, watcher, ledger, sim, clock, config):
    sale = ring(checkout)
    sim.pay(sale.code_url, notify=False)
    clock.advance(config.till.order_ttl * 60 + 1)  # no pass in between: the first thing asked is the close
    assert watcher.poll_once() == 1
    paid = ledger.get_sale(sale.id)
    assert paid.state is SaleState.PAID
    assert kinds(ledger, sale.id) == [JobKind.SALE_SLIP, JobKind.CONFIRMATION]
    assert [m.verdict for m in ledger.messages_for(sale.out_trade_no)] == ["orderpaid", "paid"]


def test_a_void_within_five_minutes_is_closed_by_the_watcher_when_allowed(
    checkout, watcher, ledger, sim, clock
):
    sale = ring(checkout)
    clock.advance(60)
    voiding = checkout.void(sale.id, by="小王")
    assert voiding.state is SaleState.AWAITING_PAYMENT
    assert watcher.poll_once() == 1  # still queried: the customer may pay meanwhile
    assert watcher.next_due() <= sale.ordered_at + timedelta(minutes=5)
    clock.advance(3 * 60 + 58)
    watcher.poll_once()
    assert ledger.get_sale(sale.id).state is SaleState.AWAITING_PAYMENT  # 4:58 after the order
    assert sim.orders()[0]["state"] == "NOTPAY"
    clock.advance(2)
    watcher.poll_once()
    voided = ledger.get_sale(sale.id)
    assert voided.state is SaleState.VOIDED and voided.void_requested_by == "小王"
    assert sim.orders()[0]["state"] == "CLOSED"
    assert kinds(ledger, sale.id) == [JobKind.SALE_SLIP, JobKind.VOID_NOTICE]
    assert ledger.events_for_sale(sale.id)[-1].detail == {"by": "小王", "reason": ""}


def test_a_void_request_moves_a_far_close_forward(checkout, watcher, ledger, sim, clock):
    sale = ring(checkout)
    clock.advance(9 * 60)
    watcher.poll_once()  # 9 minutes old: the next query is 20 s away
    assert watcher.next_due() == clock.now + 20 * S
    checkout.void(sale.id, by="小王")  # allowed already: closed by the checkout itself
    assert ledger.get_sale(sale.id).state is SaleState.VOIDED
    watcher.poll_once()
    assert watcher.next_due() is None


def test_void_then_the_customer_pays_before_the_close_is_paid(checkout, watcher, ledger, sim, clock):
    sale = ring(checkout)
    clock.advance(30)
    checkout.void(sale.id, by="小王")
    sim.pay(sale.code_url, notify=False)
    clock.advance(2)
    watcher.poll_once()
    assert ledger.get_sale(sale.id).state is SaleState.PAID
    clock.advance(5 * 60)
    watcher.poll_once()
    assert ledger.get_sale(sale.id).state is SaleState.PAID
    assert kinds(ledger, sale.id) == [JobKind.SALE_SLIP, JobKind.CONFIRMATION]
    assert sim.orders()[0]["state"] == "SUCCESS"


def test_settling_a_sale_wakes_the_printer_once(checkout, ledger, config, sim, clock):
    woken: list[int] = []
    watcher = Watcher(ledger, checkout.client, config, clock=clock, on_settled=lambda: woken.append(1))
    sale = ring(checkout)
    clock.advance(2)
    watcher.poll_once()
    assert woken == []  # still unpaid: nothing to print
    sim.pay(sale.code_url, notify=False)
    clock.advance(2)
    watcher.poll_once()
    assert woken == [1]  # paid by query: the confirmation is queued, print it now
    clock.advance(2)
    watcher.poll_once()
    assert woken == [1]


def test_a_void_paid_between_query_and_close_is_paid(checkout, watcher, ledger, sim, clock):
    sale = ring(checkout)
    clock.advance(30)
    checkout.void(sale.id, by="小王")
    clock.advance(4 * 60 + 40)
    sim.pay(sale.code_url, notify=False)
    watcher.poll_once()  # due for the close at 5:00 exactly: ORDERPAID
    assert ledger.get_sale(sale.id).state is SaleState.PAID
    assert JobKind.VOID_NOTICE not in kinds(ledger, sale.id)


def test_an_order_closed_at_wechat_while_we_wait_is_expired(checkout, watcher, ledger, client, sim, clock):
    sale = ring(checkout)
    clock.advance(6 * 60)
    client.close_order(sale.out_trade_no)  # e.g. our close went through just before a crash
    watcher.poll_once()
    closed = ledger.get_sale(sale.id)
    assert closed.state is SaleState.EXPIRED
    assert "closed_at_wechat" in [e.event for e in ledger.events_for_sale(sale.id)]
    assert ledger.messages_for(sale.out_trade_no)[-1].verdict == "closed"


def test_a_restarted_watcher_resumes_every_sale_and_continues_the_schedule(
    checkout, watcher, ledger, client, config, sim, clock
):
    first, second = ring(checkout), ring(checkout)
    clock.advance(2)
    assert watcher.poll_once() == 2
    clock.advance(3 * 60)  # the till was down for three minutes

    restarted = Watcher(ledger, client, config, clock=clock)
    assert restarted.poll_once() == 2  # both asked about at once: a notice may have been missed
    assert restarted.next_due() == clock.now + 10 * S  # 3 minutes old: every 10 s, not every 2 s
    sim.pay(second.code_url, notify=False)
    clock.advance(9)
    assert restarted.poll_once() == 0
    clock.advance(1)
    assert restarted.poll_once() == 2
    assert ledger.get_sale(first.id).state is SaleState.AWAITING_PAYMENT
    assert ledger.get_sale(second.id).state is SaleState.PAID


def test_a_sale_left_new_by_a_crash_is_failed_or_paid(watcher, ledger, client, config, sim, clock):
    lost = ledger.create_sale(store="S01", lane="01", total_fee=500, body="快速收款")
    paid = ledger.create_sale(store="S01", lane="01", total_fee=700, body="快速收款")
    # The crash came after WeChat made the second order, and the customer paid it somehow.
    order = client.unified_order(
        out_trade_no=paid.out_trade_no,
        total_fee=700,
        body="快速收款",
        notify_url=config.merchant.notify_url,
        product_id="TILL",
        spbill_create_ip="127.0.0.1",
    )
    sim.pay(order.code_url, notify=False)
    assert watcher.poll_once() == 0  # maybe a ring-up still in progress
    clock.advance(NEW_GRACE.total_seconds())
    assert watcher.poll_once() == 2
    failed = ledger.get_sale(lost.id)
    assert failed.state is SaleState.FAILED and failed.failure == translator("zh-CN")("checkout.interrupted")
    assert ledger.get_sale(paid.id).state is SaleState.PAID
    assert watcher.next_due() is None


def test_a_sale_seen_while_new_gets_the_fresh_schedule_once_ordered(watcher, ledger, client, config, clock):
    sale = ledger.create_sale(store="S01", lane="01", total_fee=500, body="快速收款")
    assert watcher.poll_once() == 0  # the checkout is placing its order right now
    assert watcher.next_due() == sale.created_at + NEW_GRACE
    order = client.unified_order(
        out_trade_no=sale.out_trade_no,
        total_fee=500,
        body="快速收款",
        notify_url=config.merchant.notify_url,
        product_id="TILL",
        spbill_create_ip="127.0.0.1",
    )
    ordered = ledger.record_order(
        sale.id,
        code_url=order.code_url,
        prepay_id=order.prepay_id,
        expires_at=clock.now + timedelta(minutes=15),
    )
    assert watcher.poll_once() == 0
    assert watcher.next_due() == ordered.ordered_at + 2 * S
    clock.advance(2)
    assert watcher.poll_once() == 1


# -- the thread ----------------------------------------------------------------------------------------


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_the_thread_survives_a_gateway_that_is_down_and_settles_when_it_is_back(
    checkout, ledger, config, sim, clock
):
    sale = ring(checkout)
    sim.pay(sale.code_url, notify=False)
    with fake.running_gateway() as gateway:
        gateway.answer("/pay/orderquery", (503, b"busy"))
        watcher = Watcher(ledger, client_for(config, gateway.url), config, clock=clock)
        clock.advance(2)
        watcher.start()
        try:
            # Backing off, not hammering: the next try 2 s later, then 4 s (errors count first,
            # the due time is written when the pass ends, so wait for both).
            wait_for(lambda: watcher.errors == 1 and watcher.next_due() == clock.now + 2 * S)
            assert watcher.running and "TransportError" in watcher.last_error
            clock.advance(2)
            watcher.nudge()
            wait_for(lambda: watcher.errors == 2 and watcher.next_due() == clock.now + 4 * S)
            assert ledger.get_sale(sale.id).state is SaleState.AWAITING_PAYMENT

            def forward(fields):
                body = xmlcodec.encode(fields)
                return requests.post(sim.base_url + "/pay/orderquery", data=body, timeout=5).content

            gateway.answer("/pay/orderquery", forward)
            clock.advance(4)
            watcher.nudge()
            wait_for(lambda: ledger.get_sale(sale.id).state is SaleState.PAID)
            assert watcher.running
        finally:
            watcher.stop()
    assert not watcher.running
    assert kinds(ledger, sale.id) == [JobKind.SALE_SLIP, JobKind.CONFIRMATION]


def test_the_thread_picks_up_new_sales_and_stops_promptly(checkout, watcher, ledger, sim, clock):
    watcher.start()
    try:
        sale = ring(checkout)
        sim.pay(sale.code_url, notify=False)
        clock.advance(2)
        watcher.nudge()
        wait_for(lambda: ledger.get_sale(sale.id).state is SaleState.PAID)
    finally:
        started = time.monotonic()
        watcher.stop()
    assert time.monotonic() - started < 1.0 and not watcher.running
