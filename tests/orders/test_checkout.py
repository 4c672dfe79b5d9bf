"""Checkout against the WeChat simulator over real HTTP, with a real SQLite ledger and a moved clock.

When WeChat must misbehave (answers lost after the order was made, hangs), the
canned gateway from pos.wechatpay.testing sits in front of the simulator and
forwards the requests it is told to, so the simulator still holds the truth.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests

from pos.config import Config, Product
from pos.i18n import translator
from pos.ledger import JobKind, Ledger, LineItem, MessageKind, SaleState, open_ledger
from pos.orders.checkout import (
    MAX_WECHAT_BODY,
    TILL_PRODUCT_ID,
    Checkout,
    CheckoutError,
    wechat_body,
)
from pos.sandbox.testing import RunningSimulator, running_simulator
from pos.testing.clock import FakeClock
from pos.wechatpay import WeChatPayClient, xmlcodec
from pos.wechatpay import testing as fake
from pos.wechatpay.times import to_compact

TIMEOUT = 0.3  # seconds a test client waits for an answer that never comes


@pytest.fixture
def sim() -> Iterator[RunningSimulator]:
    with running_simulator(time_scale=0.001) as running:
        yield running


@pytest.fixture
def gateway() -> Iterator[fake.FakeGateway]:
    with fake.running_gateway() as running:
        yield running


@pytest.fixture
def clock(sim) -> FakeClock:
    return FakeClock(datetime.now(UTC), follow=sim.advance)


@pytest.fixture
def config(demo_config: Config, sim: RunningSimulator) -> Config:
    merchant = dataclasses.replace(
        demo_config.merchant, api_base=sim.base_url, appid=sim.appid, mch_id=sim.mch_id, api_key=sim.api_key
    )
    products = (Product(id="SKU-LATTE", name="拿铁", price="18.00"),)
    return demo_config.replace(merchant=merchant, products=products)


@pytest.fixture
def ledger(config: Config, clock: FakeClock) -> Iterator[Ledger]:
    with open_ledger(config.database.url, clock=clock) as opened:
        yield opened


def make_checkout(
    ledger: Ledger, config: Config, clock: FakeClock, api_base: str | None = None, **client_kw
) -> Checkout:
    options = {"timeout": TIMEOUT, "retries": 1, "backoff": 0, **client_kw}
    if api_base:
        options["api_base"] = api_base
    return Checkout(ledger, WeChatPayClient.from_config(config.merchant, **options), config, clock=clock)


@pytest.fixture
def checkout(ledger, config, clock) -> Checkout:
    return make_checkout(ledger, config, clock)


def forward(sim: RunningSimulator, path: str, then: Callable[[bytes], object] | None = None):
    """A gateway reply that passes the request on to the simulator (the sign still holds: the
    same fields), optionally replacing the simulator's answer with ``then(answer)``."""

    def reply(fields: dict[str, str]) -> object:
        answer = requests.post(sim.base_url + path, data=xmlcodec.encode(fields), timeout=5).content
        return then(answer) if then else answer

    return reply


def lose_answer(_answer: bytes) -> object:
    return fake.HANG  # the order was made at WeChat; its answer never reaches the till


def business_params(gateway: fake.FakeGateway) -> list[dict[str, str]]:
    return [
        {k: v for k, v in seen.fields.items() if k not in ("nonce_str", "sign")}
        for seen in gateway.requests_to("/pay/unifiedorder")
    ]


# -- ringing up -------------------------------------------------------------------------------------


def test_ring_up_places_one_order_and_queues_the_slip(checkout, ledger, sim, clock):
    sale = checkout.ring_up(items=[LineItem("拿铁", 1800, qty=2), LineItem("可颂", 1200)], cashier="小王")
    assert sale.state is SaleState.AWAITING_PAYMENT
    assert sale.total_fee == 4800 and sale.cashier == "小王"
    [order] = sim.orders()
    assert sale.code_url == order["code_url"] and sale.code_url.startswith("weixin://wxpay/bizpayurl")
    assert order["out_trade_no"] == sale.out_trade_no and order["total_fee"] == 4800
    assert order["body"] == sale.body
    start = clock.now.replace(microsecond=0)
    assert sale.expires_at == start + timedelta(minutes=15)
    assert order["expires_at"] == pytest.approx(sale.expires_at.timestamp())
    assert [j.kind for j in ledger.jobs_for_sale(sale.id)] == [JobKind.SALE_SLIP]


def test_the_order_carries_the_configured_fields(gateway, ledger, config, clock, sim):
    gateway.answer("/pay/unifiedorder", forward(sim, "/pay/unifiedorder"))
    checkout = make_checkout(ledger, config, clock, api_base=gateway.url)
    sale = checkout.ring_up(items=[LineItem("拿铁", 1800)])
    [sent] = business_params(gateway)
    start = clock.now.replace(microsecond=0)
    assert sent["product_id"] == "SKU-LATTE"  # the catalogue id of the first item
    assert sent["notify_url"] == config.merchant.notify_url
    assert sent["spbill_create_ip"] == config.merchant.client_ip
    assert sent["time_start"] == to_compact(start)
    assert sent["time_expire"] == to_compact(start + timedelta(minutes=config.till.order_ttl))
    assert sent["trade_type"] == "NATIVE" and sent["out_trade_no"] == sale.out_trade_no

    other = checkout.ring_up(amount_fen=990)
    assert business_params(gateway)[-1]["product_id"] == TILL_PRODUCT_ID
    assert other.body == translator("zh-CN")("checkout.default_body", store=config.store.name)


@pytest.mark.parametrize("order_ttl", [1, 5])
def test_order_ttl_leaves_wechat_more_than_five_minutes(ledger, config, clock, sim, order_ttl):
    # The simulator refuses a time_expire under 5 minutes ahead, as the gateway does; a sale
    # created a moment before its order is sent must still clear that with room to spare.
    short = config.replace(till=dataclasses.replace(config.till, order_ttl=order_ttl))
    sale = make_checkout(ledger, short, clock).ring_up(amount_fen=100, body="快速收款")
    assert sale.state is SaleState.AWAITING_PAYMENT, sale.failure
    assert sale.expires_at - sale.created_at.replace(microsecond=0) == timedelta(minutes=6)


def test_a_long_body_is_cut_to_127_utf8_bytes_for_wechat(checkout, sim):
    name = "特" * 60
    sale = checkout.ring_up(items=[LineItem(name, 100), LineItem("b", 100)])
    [order] = sim.orders()
    sent = order["body"]
    assert sale.body.startswith(sent) and len(sent.encode()) <= MAX_WECHAT_BODY
    assert len(sent) == MAX_WECHAT_BODY // 3
    assert wechat_body("ab" + "特" * 100) == "ab" + "特" * 41  # 125 bytes; one more would be 128
    assert wechat_body("  short  ") == "short"


@pytest.mark.parametrize(
    "kwargs, code",
    [
        ({}, "need_items"),
        ({"items": [LineItem("拿铁", 1800)], "amount_fen": 1800}, "items_and_amount"),
        ({"items": [LineItem(" ", 1800)]}, "bad_name"),
        ({"items": [LineItem("x" * 61, 1800)]}, "bad_name"),
        ({"items": [LineItem("拿铁", 1800, qty=0)]}, "bad_qty"),
        ({"items": [LineItem("拿铁", 1800, qty=1000)]}, "bad_qty"),
        ({"items": [LineItem("拿铁", 1800, qty=True)]}, "bad_qty"),
        ({"items": [LineItem("拿铁", 0)]}, "bad_price"),
        ({"items": [LineItem("拿铁", 18.5)]}, "bad_price"),
        ({"items": ["拿铁"]}, "bad_item"),
        ({"amount_fen": 0}, "bad_amount"),
        ({"amount_fen": -5}, "bad_amount"),
        ({"amount_fen": "12.50"}, "bad_amount"),
        ({"amount_fen": 10**12}, "too_much"),
        ({"amount_fen": 100, "body": "x" * 121}, "bad_body"),
        ({"amount_fen": 100, "cashier": "x" * 65}, "bad_cashier"),
    ],
)
def test_bad_input_is_refused_with_a_readable_message_and_nothing_is_written(
    checkout, ledger, sim, kwargs, code
):
    with pytest.raises(CheckoutError) as caught:
        checkout.ring_up(**kwargs)
    assert caught.value.code == code
    assert str(caught.value) and "Error" not in str(caught.value)
    assert ledger.pending_sales() == [] and sim.orders() == []


def test_refusals_speak_the_store_language(ledger, config, clock):
    english = config.replace(store=dataclasses.replace(config.store, language="en"))
    with pytest.raises(CheckoutError, match="Item 1: quantity must be 1-999"):
        make_checkout(ledger, english, clock).ring_up(items=[LineItem("tea", 100, qty=0)])
    with pytest.raises(CheckoutError, match="第 1 行数量须为 1–999"):
        make_checkout(ledger, config, clock).ring_up(items=[LineItem("tea", 100, qty=0)])


# -- WeChat unreachable, slow or refusing ---------------------------------------------------------------


def test_mode_one_order_carries_the_label_and_payer_and_queues_no_slip(gateway, ledger, config, clock, sim):
    gateway.answer("/pay/unifiedorder", forward(sim, "/pay/unifiedorder"))
    checkout = make_checkout(ledger, config, clock, api_base=gateway.url)
    sale = checkout.ring_up(
        items=[LineItem("拿铁", 1800)], product_id="SKU-LABEL", openid="oPayer123", print_slip=False
    )
    assert sale.state is SaleState.AWAITING_PAYMENT and sale.prepay_id
    [sent] = business_params(gateway)
    assert (sent["product_id"], sent["openid"], sent["trade_type"]) == ("SKU-LABEL", "oPayer123", "NATIVE")
    assert ledger.jobs_for_sale(sale.id) == []  # nobody scans a printed QR for a label sale


def test_till_orders_send_no_openid(gateway, ledger, config, clock, sim):
    gateway.answer("/pay/unifiedorder", forward(sim, "/pay/unifiedorder"))
    make_checkout(ledger, config, clock, api_base=gateway.url).ring_up(items=[LineItem("拿铁", 1800)])
    [sent] = business_params(gateway)
    assert "openid" not in sent and sent["product_id"] == "SKU-LATTE"


def test_lost_answers_are_retried_as_one_order_then_failed_then_retry_succeeds(
    gateway, ledger, config, clock, sim
):
    gateway.answer("/pay/unifiedorder", forward(sim, "/pay/unifiedorder", then=lose_answer))
    gateway.answer("/pay/orderquery", forward(sim, "/pay/orderquery"))
    checkout = make_checkout(ledger, config, clock, api_base=gateway.url)

    sale = checkout.ring_up(items=[LineItem("拿铁", 1800)])

    assert sale.state is SaleState.FAILED
    assert sale.failure == "微信支付暂时无法连接，请稍后重试"
    sent = business_params(gateway)
    assert len(sent) == 4  # 2 attempts, each re-sent once by the client
    assert all(params == sent[0] for params in sent)  # WeChat's re-entry: the very same order
    assert len(gateway.requests_to("/pay/orderquery")) == 2  # asked once after each lost answer
    [order] = sim.orders()
    assert order["out_trade_no"] == sale.out_trade_no and order["state"] == "NOTPAY"
    assert ledger.jobs_for_sale(sale.id) == []  # no slip for a failed order

    gateway.release.set()
    gateway.answer("/pay/unifiedorder", forward(sim, "/pay/unifiedorder"))
    clock.advance(30)
    retried = checkout.retry(sale.id)

    assert retried.state is SaleState.AWAITING_PAYMENT and retried.out_trade_no == sale.out_trade_no
    assert business_params(gateway)[-1] == sent[0]  # the original parameters: WeChat has that order
    [order] = sim.orders()
    assert retried.code_url == order["code_url"]
    assert [j.kind for j in ledger.jobs_for_sale(sale.id)] == [JobKind.SALE_SLIP]


def test_an_order_never_made_is_placed_fresh_on_retry(gateway, ledger, config, clock, sim):
    gateway.answer("/pay/unifiedorder", fake.HANG)  # never reaches WeChat
    gateway.answer("/pay/orderquery", forward(sim, "/pay/orderquery"))
    checkout = make_checkout(ledger, config, clock, api_base=gateway.url)
    sale = checkout.ring_up(amount_fen=1250, body="快速收款")
    assert sale.state is SaleState.FAILED and sim.orders() == []
    assert [m.verdict for m in ledger.messages_for(sale.out_trade_no)] == []  # ORDERNOTEXIST: nothing to keep

    gateway.release.set()
    gateway.answer("/pay/unifiedorder", forward(sim, "/pay/unifiedorder"))
    clock.advance(20 * 60)  # long after: the first deadline has passed, the order never existed
    retried = checkout.retry(sale.id)
    assert retried.state is SaleState.AWAITING_PAYMENT
    assert retried.expires_at == clock.now.replace(microsecond=0) + timedelta(minutes=15)
    assert [o["out_trade_no"] for o in sim.orders()] == [sale.out_trade_no]


def test_payment_found_after_a_lost_answer_makes_the_sale_paid(gateway, ledger, config, clock, sim):
    def pay_then_lose(answer: bytes) -> object:
        sim.pay(xmlcodec.decode(answer)["code_url"], notify=False)  # the customer was quick
        return fake.HANG

    gateway.answer("/pay/unifiedorder", forward(sim, "/pay/unifiedorder", then=pay_then_lose), fake.HANG)
    gateway.answer("/pay/orderquery", forward(sim, "/pay/orderquery"))
    checkout = make_checkout(ledger, config, clock, api_base=gateway.url, retries=0)
    sale = checkout.ring_up(items=[LineItem("拿铁", 1800)])
    assert sale.state is SaleState.PAID
    [payment] = ledger.payments_for_sale(sale.id)
    assert payment.source.value == "query" and payment.total_fee == 1800
    assert [j.kind for j in ledger.jobs_for_sale(sale.id)] == [JobKind.CONFIRMATION]


def test_orderpaid_on_reentry_queries_and_marks_paid(gateway, ledger, config, clock, sim):
    def pay_after_query(answer: bytes) -> object:
        [order] = sim.orders()
        sim.pay(order["code_url"], notify=False)
        return answer  # still NOTPAY in this answer: the till sends the order again

    gateway.answer(
        "/pay/unifiedorder",
        forward(sim, "/pay/unifiedorder", then=lose_answer),
        forward(sim, "/pay/unifiedorder"),
    )
    gateway.answer(
        "/pay/orderquery",
        forward(sim, "/pay/orderquery", then=pay_after_query),
        forward(sim, "/pay/orderquery"),
    )
    checkout = make_checkout(ledger, config, clock, api_base=gateway.url, retries=0)
    sale = checkout.ring_up(items=[LineItem("拿铁", 1800)])
    assert sale.state is SaleState.PAID
    assert len(sim.orders()) == 1
    assert ledger.payments_for_sale(sale.id)[0].transaction_id == sale.transaction_id


def test_a_wrong_api_key_fails_with_a_message_the_cashier_can_act_on(ledger, config, clock, sim):
    wrong = config.replace(merchant=dataclasses.replace(config.merchant, api_key="0" * 32))
    sale = make_checkout(ledger, wrong, clock).ring_up(items=[LineItem("拿铁", 1800)])
    assert sale.state is SaleState.FAILED
    assert sale.failure == "签名错误：请检查商户 API 密钥"
    assert sim.orders() == []


def test_a_business_refusal_shows_wechats_reason(gateway, ledger, config, clock):
    gateway.answer("/pay/unifiedorder", fake.business_fail("NOAUTH", "商户无此接口权限"))
    english = config.replace(store=dataclasses.replace(config.store, language="en"))
    sale = make_checkout(ledger, english, clock, api_base=gateway.url).ring_up(amount_fen=100)
    assert sale.state is SaleState.FAILED
    assert sale.failure == "WeChat Pay refused the order: 商户无此接口权限 (NOAUTH)"
    assert len(gateway.requests_to("/pay/unifiedorder")) == 1  # an answer: not asked again


def test_a_forged_answer_is_not_believed(gateway, ledger, config, clock):
    # Signed with a key that is not ours: whoever answered, it was not our merchant account at WeChat.
    gateway.answer("/pay/unifiedorder", fake.ok(prepay_id="wx1", code_url="weixin://wxpay/bizpayurl?pr=x"))
    other_key = config.replace(merchant=dataclasses.replace(config.merchant, api_key="1" * 32))
    sale = make_checkout(ledger, other_key, clock, api_base=gateway.url).ring_up(amount_fen=100)
    assert sale.state is SaleState.FAILED and sale.code_url is None
    assert sale.failure == translator("zh-CN")("checkout.untrusted")
    assert ledger.jobs_for_sale(sale.id) == []


def test_wechat_down_never_raises(ledger, config, clock):
    sale = make_checkout(ledger, config, clock, api_base=fake.dead_url()).ring_up(amount_fen=100)
    assert sale.state is SaleState.FAILED and sale.failure == "微信支付暂时无法连接，请稍后重试"


def test_retry_only_retries_failed_sales(checkout, ledger):
    sale = checkout.ring_up(amount_fen=100)
    assert checkout.retry(sale.id) == sale  # a double click: already ordered
    voided_id = sale.id
    ledger.mark_voided(voided_id)
    with pytest.raises(CheckoutError) as caught:
        checkout.retry(voided_id)
    assert caught.value.code == "cannot_retry" and "已作废" in str(caught.value)


# -- voiding --------------------------------------------------------------------------------------------


def test_void_after_five_minutes_closes_at_once(checkout, ledger, sim, clock):
    sale = checkout.ring_up(items=[LineItem("拿铁", 1800)])
    clock.advance(5 * 60 + 1)
    voided = checkout.void(sale.id, by="小王")
    assert voided.state is SaleState.VOIDED
    assert sim.orders()[0]["state"] == "CLOSED"
    assert [j.kind for j in ledger.jobs_for_sale(sale.id)] == [JobKind.SALE_SLIP, JobKind.VOID_NOTICE]
    # The close, then the query that shows it is final (an early close can answer SUCCESS and close nothing).
    assert [(m.kind, m.verdict) for m in ledger.messages_for(sale.out_trade_no)] == [
        (MessageKind.CLOSE, "closed"),
        (MessageKind.QUERY, "closed"),
    ]
    assert checkout.void(sale.id) == voided  # again: nothing changes


def test_void_within_five_minutes_is_recorded_for_the_watcher(checkout, ledger, sim, clock):
    sale = checkout.ring_up(items=[LineItem("拿铁", 1800)])
    clock.advance(60)
    voiding = checkout.void(sale.id, by="小王")
    assert voiding.state is SaleState.AWAITING_PAYMENT and voiding.void_requested_by == "小王"
    assert sim.orders()[0]["state"] == "NOTPAY"  # WeChat was not asked to close yet
    assert ledger.pending_sales()[0].void_requested


def test_void_of_a_sale_the_customer_paid_makes_it_paid(checkout, ledger, sim, clock):
    sale = checkout.ring_up(items=[LineItem("拿铁", 1800)])
    sim.pay(sale.code_url, notify=False)
    clock.advance(6 * 60)
    result = checkout.void(sale.id, by="小王")
    assert result.state is SaleState.PAID
    assert [j.kind for j in ledger.jobs_for_sale(sale.id)] == [JobKind.SALE_SLIP, JobKind.CONFIRMATION]


def test_void_of_failed_new_and_paid_sales(checkout, ledger, config, clock):
    failed = make_checkout(ledger, config, clock, api_base=fake.dead_url()).ring_up(amount_fen=100)
    assert checkout.void(failed.id, by="小王") == failed  # no live order: left FAILED, out of the takings
    assert ledger.events_for_sale(failed.id)[-1].event == "void_ignored"

    new = ledger.create_sale(store="S01", lane="01", total_fee=100, body="x")
    with pytest.raises(CheckoutError) as caught:
        checkout.void(new.id)
    assert caught.value.code == "still_ordering"

    sale = checkout.ring_up(amount_fen=100)
    ledger.mark_paid(
        sale.out_trade_no, transaction_id="4200001", total_fee=100, time_end=clock.now, source="notice"
    )
    with pytest.raises(CheckoutError, match="已支付"):
        checkout.void(sale.id)


def test_systemerror_is_asked_again_with_the_same_order(gateway, ledger, config, clock, sim):
    gateway.answer(
        "/pay/unifiedorder", fake.business_fail("SYSTEMERROR", "系统超时"), forward(sim, "/pay/unifiedorder")
    )
    sale = make_checkout(ledger, config, clock, api_base=gateway.url).ring_up(amount_fen=100)
    assert sale.state is SaleState.AWAITING_PAYMENT
    first, second = business_params(gateway)
    assert first == second and len(sim.orders()) == 1


def test_a_void_whose_close_cannot_reach_wechat_stays_requested(gateway, ledger, config, clock, sim):
    gateway.answer("/pay/unifiedorder", forward(sim, "/pay/unifiedorder"))
    gateway.answer("/pay/closeorder", (502, b"bad gateway"))
    checkout = make_checkout(ledger, config, clock, api_base=gateway.url)
    sale = checkout.ring_up(amount_fen=100)
    clock.advance(5 * 60)
    voiding = checkout.void(sale.id, by="小王")
    assert voiding.state is SaleState.AWAITING_PAYMENT and voiding.void_requested  # the watcher finishes it
    assert len(gateway.requests_to("/pay/closeorder")) == 2 and sim.orders()[0]["state"] == "NOTPAY"
