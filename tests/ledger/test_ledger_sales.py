"""Sales: creating them, every allowed and every refused transition, reading them back."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pytest

from pos.ledger import (
    InvalidInput,
    InvalidTransition,
    JobKind,
    LineItem,
    SaleState,
    UnknownSale,
    is_valid_out_trade_no,
)

ALL_STATES = list(SaleState)


# -- creating -------------------------------------------------------------------------------


def test_sale_from_items_totals_them_and_keeps_the_lines(ledger, clock):
    sale = ledger.create_sale(
        store="S01",
        lane="02",
        items=[LineItem("拿铁", 1800, qty=2), LineItem("可颂", 1250)],
        cashier="小王",
        sign_type="HMAC-SHA256",
    )
    assert sale.state is SaleState.NEW
    assert sale.total_fee == 4850
    assert sale.body == "拿铁 等2件"
    assert [(i.name, i.qty, i.unit_price, i.amount) for i in sale.items] == [
        ("拿铁", 2, 1800, 3600),
        ("可颂", 1, 1250, 1250),
    ]
    assert sale.out_trade_no == "S01-02-20261127-0001"
    assert sale.business_date == date(2026, 11, 27)
    assert sale.sign_type == "HMAC-SHA256"
    assert sale.cashier == "小王"
    assert sale.created_at == clock.now and sale.created_at.tzinfo is not None
    assert ledger.get_sale(sale.id) == sale
    assert ledger.sale_by_out_trade_no(sale.out_trade_no) == sale


def test_sale_from_an_amount_and_body(ledger):
    sale = ledger.create_sale(store="S01", lane="01", total_fee=990, body="快速收款")
    assert (sale.total_fee, sale.body, sale.items) == (990, "快速收款", ())


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({}, "items, or total_fee and body"),
        ({"total_fee": 100}, "items, or total_fee and body"),
        ({"total_fee": 0, "body": "x"}, "total_fee"),
        ({"total_fee": -5, "body": "x"}, "total_fee"),
        ({"total_fee": 12.5, "body": "x"}, "total_fee"),
        ({"total_fee": True, "body": "x"}, "total_fee"),
        ({"total_fee": 100, "body": ""}, "body"),
        ({"total_fee": 100, "body": "x" * 129}, "body"),
        ({"total_fee": 100, "body": "x", "sign_type": "SHA1"}, "sign_type"),
        ({"items": [LineItem("茶", 100)], "total_fee": 101}, "sum"),
        ({"items": [LineItem("", 100)]}, "name"),
        ({"items": [LineItem("茶", 100, qty=0)]}, "qty"),
        ({"items": [LineItem("茶", -1)]}, "unit_price"),
        ({"items": [("茶", 100)]}, "LineItem"),
        ({"store": "S 1", "total_fee": 100, "body": "x"}, "store id"),
        ({"lane": "lane-1", "total_fee": 100, "body": "x"}, "lane id"),
        ({"total_fee": 100, "body": "x", "now": datetime(2026, 11, 27, 10, 0)}, "timezone-aware"),
    ],
)
def test_bad_sales_are_refused_and_nothing_is_written(ledger, clock, kwargs, message):
    args = {"store": "S01", "lane": "01", **kwargs}
    with pytest.raises(InvalidInput, match=message):
        ledger.create_sale(**args)
    assert ledger.sales_for_day(date(2026, 11, 27)) == []


def test_numbers_count_up_per_lane_and_day_and_restart_at_midnight_in_shanghai(ledger, clock):
    clock.now = datetime(2026, 11, 27, 15, 58, tzinfo=UTC)  # 23:58 in Shanghai
    a = ledger.create_sale(store="S01", lane="01", total_fee=100, body="a")
    b = ledger.create_sale(store="S01", lane="01", total_fee=100, body="b")
    other_lane = ledger.create_sale(store="S01", lane="02", total_fee=100, body="c")
    clock.now = datetime(2026, 11, 27, 16, 0, 1, tzinfo=UTC)  # 00:00:01 on the 28th in Shanghai
    c = ledger.create_sale(store="S01", lane="01", total_fee=100, body="d")
    assert [a.out_trade_no, b.out_trade_no, other_lane.out_trade_no, c.out_trade_no] == [
        "S01-01-20261127-0001",
        "S01-01-20261127-0002",
        "S01-02-20261127-0001",
        "S01-01-20261128-0001",
    ]
    assert c.business_date == date(2026, 11, 28)
    assert [s.id for s in ledger.sales_for_day(date(2026, 11, 27))] == [a.id, b.id, other_lane.id]
    assert [s.id for s in ledger.sales_for_day(date(2026, 11, 27), lane="02")] == [other_lane.id]
    assert [s.id for s in ledger.sales_for_day(date(2026, 11, 28))] == [c.id]


def test_numbers_are_unique_when_many_threads_ring_up_at_once(ledger):
    count = 40
    barrier = threading.Barrier(count)
    numbers: list[str] = []
    errors: list[BaseException] = []

    def ring_up():
        try:
            barrier.wait()
            numbers.append(ledger.create_sale(store="S01", lane="01", total_fee=100, body="x").out_trade_no)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=ring_up) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(numbers) == [f"S01-01-20261127-{n:04d}" for n in range(1, count + 1)]
    assert all(is_valid_out_trade_no(n) for n in numbers)


# -- transitions ----------------------------------------------------------------------------

ACTIONS = {
    # action: (states it may leave, state it enters)
    "record_order": ((SaleState.NEW,), SaleState.AWAITING_PAYMENT),
    "record_order_failure": ((SaleState.NEW,), SaleState.FAILED),
    "retry_order": ((SaleState.FAILED,), SaleState.NEW),
    "mark_expired": ((SaleState.AWAITING_PAYMENT,), SaleState.EXPIRED),
    "mark_voided": ((SaleState.AWAITING_PAYMENT,), SaleState.VOIDED),
}


def _do(ledger, clock, action, sale_id):
    if action == "record_order":
        return ledger.record_order(
            sale_id, code_url="weixin://wxpay/bizpayurl?pr=x", prepay_id="wx1", expires_at=clock.now
        )
    if action == "record_order_failure":
        return ledger.record_order_failure(sale_id, "NOAUTH: 商户无此接口权限")
    if action == "mark_voided":
        return ledger.mark_voided(sale_id, by="小王", reason="customer left")
    return getattr(ledger, action)(sale_id)


@pytest.mark.parametrize("state", ALL_STATES, ids=str)
@pytest.mark.parametrize("action", list(ACTIONS))
def test_each_transition_from_each_state(ledger, clock, make, action, state):
    sale = make.sale_in(state)
    assert sale.state is state
    allowed, target = ACTIONS[action]
    events_before = len(ledger.events_for_sale(sale.id))
    if state in allowed:
        clock.advance(seconds=5)
        after = _do(ledger, clock, action, sale.id)
        assert after.state is target
        assert after.updated_at == clock.now
        assert len(ledger.events_for_sale(sale.id)) == events_before + 1
    else:
        with pytest.raises(InvalidTransition) as caught:
            _do(ledger, clock, action, sale.id)
        assert caught.value.current is state
        assert caught.value.action == action
        assert state.value in str(caught.value)
        assert ledger.get_sale(sale.id) == sale  # nothing changed
        assert len(ledger.events_for_sale(sale.id)) == events_before


@pytest.mark.parametrize("action", list(ACTIONS))
def test_transitions_on_a_missing_sale_say_so(ledger, clock, action):
    with pytest.raises(UnknownSale):
        _do(ledger, clock, action, 12345)


def test_order_details_are_kept_and_the_qr_slip_is_queued_with_them(ledger, clock, make):
    sale = make.new()
    deadline = clock.now + timedelta(minutes=15)
    ordered = ledger.record_order(
        sale.id, code_url="weixin://wxpay/bizpayurl?pr=abc1234", prepay_id="wx27", expires_at=deadline
    )
    assert (ordered.code_url, ordered.prepay_id, ordered.expires_at) == (
        "weixin://wxpay/bizpayurl?pr=abc1234",
        "wx27",
        deadline,
    )
    assert ordered.ordered_at == clock.now
    assert [(j.kind, j.state.value) for j in ledger.jobs_for_sale(sale.id)] == [(JobKind.SALE_SLIP, "queued")]


def test_record_order_without_slip_queues_nothing(ledger, clock, make):
    sale = make.new()
    ledger.record_order(
        sale.id, code_url="weixin://x", prepay_id="wx", expires_at=clock.now, print_slip=False
    )
    assert ledger.jobs_for_sale(sale.id) == []


def test_failed_order_keeps_its_message_and_its_number_on_retry(ledger, make):
    sale = make.new()
    failed = ledger.record_order_failure(sale.id, "SYSTEMERROR: 系统超时")
    assert failed.failure == "SYSTEMERROR: 系统超时"
    again = ledger.retry_order(sale.id)
    assert again.state is SaleState.NEW
    assert again.out_trade_no == sale.out_trade_no
    assert again.failure == "SYSTEMERROR: 系统超时"  # kept until an order succeeds
    assert (
        ledger.record_order(
            sale.id, code_url="weixin://x", prepay_id="wx", expires_at=again.created_at
        ).failure
        is None
    )


@pytest.mark.parametrize(
    "action, kind", [("mark_expired", JobKind.EXPIRED_NOTICE), ("mark_voided", JobKind.VOID_NOTICE)]
)
def test_closing_queues_its_notice_in_the_same_step(ledger, clock, make, action, kind):
    sale = make.awaiting()
    clock.advance(minutes=20)
    closed = getattr(ledger, action)(sale.id)
    assert closed.closed_at == clock.now
    assert [j.kind for j in ledger.jobs_for_sale(sale.id)] == [JobKind.SALE_SLIP, kind]


def test_closing_without_notice(ledger, make):
    sale = make.awaiting()
    ledger.mark_voided(sale.id, print_notice=False)
    assert [j.kind for j in ledger.jobs_for_sale(sale.id)] == [JobKind.SALE_SLIP]


def test_racing_expiry_and_void_only_one_wins(ledger, make):
    sale = make.awaiting()
    results: list[object] = []
    barrier = threading.Barrier(2)

    def attempt(action):
        barrier.wait()
        try:
            results.append(getattr(ledger, action)(sale.id).state)
        except InvalidTransition as exc:
            results.append(exc)

    threads = [threading.Thread(target=attempt, args=(a,)) for a in ("mark_expired", "mark_voided")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [r for r in results if isinstance(r, SaleState)]
    losers = [r for r in results if isinstance(r, InvalidTransition)]
    assert len(winners) == 1 and len(losers) == 1
    assert losers[0].current is winners[0]
    assert len([j for j in ledger.jobs_for_sale(sale.id) if j.kind is not JobKind.SALE_SLIP]) == 1


def test_pending_sales_are_new_and_awaiting_oldest_first(ledger, make):
    states = [SaleState.AWAITING_PAYMENT, SaleState.PAID, SaleState.NEW, SaleState.FAILED, SaleState.EXPIRED]
    made = {s: make.sale_in(s) for s in states}
    pending = ledger.pending_sales()
    assert [s.id for s in pending] == [made[SaleState.AWAITING_PAYMENT].id, made[SaleState.NEW].id]
    assert pending[0].items  # items come along


def test_unknown_sales_raise(ledger):
    with pytest.raises(UnknownSale, match="id 77"):
        ledger.get_sale(77)
    with pytest.raises(UnknownSale, match="S01-01-20261127-0077"):
        ledger.sale_by_out_trade_no("S01-01-20261127-0077")


def test_times_come_back_in_utc_whatever_zone_went_in(ledger, clock, make):
    from zoneinfo import ZoneInfo

    sale = make.new()
    deadline = datetime(2026, 11, 27, 10, 15, tzinfo=ZoneInfo("Asia/Shanghai"))
    ordered = ledger.record_order(sale.id, code_url="weixin://x", prepay_id="wx", expires_at=deadline)
    assert ordered.expires_at == deadline
    assert ordered.expires_at.utcoffset() == timedelta(0)
    assert ordered.expires_at.hour == 2


def test_naive_times_are_refused(ledger, make):
    sale = make.new()
    with pytest.raises(InvalidInput, match="timezone-aware"):
        ledger.record_order(sale.id, code_url="weixin://x", prepay_id="wx", expires_at=datetime(2026, 11, 27))
    assert ledger.get_sale(sale.id).state is SaleState.NEW
