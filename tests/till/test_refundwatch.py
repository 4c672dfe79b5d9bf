"""The watcher follows up open refunds (pos.till.refundwatch), over real mutual TLS against the
simulator, on SQLite and PostgreSQL, with real Till objects (not started: the test makes each
watcher pass with a clock it moves; the simulator's clock moves with it).

Refund notices never arrive: notify_url points at a closed port, so only the schedule can settle
a refund WeChat keeps PROCESSING for a while."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event

from pos.config import Config
from pos.ledger import FlagKind, JobKind, RefundState, Sale, SaleState
from pos.orders.refunds import RefundPending
from pos.sandbox.testing import RunningSimulator, running_simulator
from pos.sandbox.v3files import v3_merchant
from pos.testing.clock import FakeClock
from pos.till.refundwatch import READ_EVERY, refund_interval
from pos.till.service import Till
from pos.till.testing import till_config

from .test_refund_faults import paid_sale as paid_sale_at

TIMEOUT = 0.3
MINUTE = 60


@pytest.fixture
def sim() -> Iterator[RunningSimulator]:
    with running_simulator(tls=True, time_scale=0.0001) as running:
        yield running


@pytest.fixture
def clock(sim) -> FakeClock:
    return FakeClock(datetime.now(UTC).replace(microsecond=0), follow=sim.advance)


@pytest.fixture
def config(database, tmp_path, sim) -> Config:
    base = till_config(tmp_path, sim, language="en", database=database.config)
    cert_file, key_file = sim.pki.client
    merchant = dataclasses.replace(
        base.merchant, api_base=sim.tls_base_url, ca_file=str(sim.pki.ca_file), cert_file=cert_file,
        key_file=key_file, timeout=TIMEOUT, notify_url="http://127.0.0.1:9/wechatpay/notify",
    )  # fmt: skip
    return base.replace(merchant=merchant)


@pytest.fixture
def till(config, clock) -> Iterator[Till]:
    opened = Till(config, clock=clock)
    try:
        yield opened
    finally:
        opened.stop()


def other_lane(config: Config, lane: str = "02") -> Config:
    return config.replace(till=dataclasses.replace(config.till, lane=lane))


def paid_sale(till: Till, sim: RunningSimulator, total: int = 1800, *, lane: str | None = None) -> Sale:
    return paid_sale_at(
        till.ledger, till.client, sim, total, store=till.config.store.id, lane=lane or till.config.till.lane
    )


def passes(till: Till, clock: FakeClock, seconds: float, *, every: float = MINUTE) -> None:
    """Move the clock ``seconds`` in steps of ``every``, one watcher pass after each step."""
    moved = 0.0
    while moved < seconds:
        clock.advance(every)
        moved += every
        till.watcher.poll_once()


def asked(till: Till) -> int:
    assert till.watcher.refunds is not None
    return till.watcher.refunds.asked


def slips(till: Till, sale_id: int) -> int:
    return [j.kind for j in till.ledger.jobs_for_sale(sale_id)].count(JobKind.REFUND_SLIP)


def at_wechat(sim: RunningSimulator, out_trade_no: str) -> list[dict]:
    return next(o for o in sim.orders() if o["out_trade_no"] == out_trade_no)["refunds"]


def test_the_schedule_starts_at_a_minute_and_slows_down_over_days():
    ages = [timedelta(minutes=m) for m in (0, 4, 5, 14, 15, 59, 60, 179, 180)] + [timedelta(days=3)]
    intervals = [refund_interval(age) / timedelta(minutes=1) for age in ages]
    assert intervals == [1, 1, 5, 5, 10, 10, 20, 20, 30, 30]
    assert refund_interval(timedelta(days=9)) == timedelta(hours=6)


def test_processing_refund_whose_notice_never_comes_completes_through_the_schedule_once(till, sim, clock):
    sale = paid_sale(till, sim, total=600)
    sim.set_faults(refund_outcome="processing", refund_seconds=20 * MINUTE)
    refund = till.refunds.refund(sale.id, 600)
    assert refund.state is RefundState.PENDING  # WeChat said PROCESSING to the manager's click
    till.watcher.poll_once()
    assert asked(till) == 0  # the click asked just now: the first follow-up is a minute later
    passes(till, clock, 15 * MINUTE)
    # Asked at 1, 2, 3, 4, 5, 10 and 15 minutes: every minute at first, then every 5.
    assert asked(till) == 7
    assert till.ledger.get_refund(refund.out_refund_no).state is RefundState.PENDING
    assert till.ledger.get_sale(sale.id).refundable_fee == 0  # still reserved
    passes(till, clock, 10 * MINUTE)  # WeChat settles at 20 minutes; asked at 25
    done = till.ledger.get_refund(refund.out_refund_no)
    assert done.state is RefundState.SUCCEEDED
    assert till.ledger.get_sale(sale.id).state is SaleState.REFUNDED
    assert not any(d["kind"] == "refund" and d["outcome"] == "ok" for d in sim.notifications())
    count = asked(till)
    passes(till, clock, 60 * MINUTE, every=10 * MINUTE)
    assert asked(till) == count  # final: never asked about again
    assert slips(till, sale.id) == 1
    while till.spooler.run_once():  # the confirmation slip, then the refund slip
        pass
    refund_jobs = [j for j in till.ledger.jobs_for_sale(sale.id) if j.kind is JobKind.REFUND_SLIP]
    assert [j.state.value for j in refund_jobs] == ["done"]  # printed, once


@pytest.mark.parametrize("fault", ["systemerror", "timeout", "systemerror_after", "timeout_after"])
def test_a_refund_whose_request_went_unanswered_is_sent_again_and_completes(till, sim, clock, fault):
    sale = paid_sale(till, sim, total=900)
    sim.set_faults(calls={"refund": fault}, hang_seconds=2 * TIMEOUT)
    with pytest.raises(RefundPending) as pending:
        till.refunds.refund(sale.id, 900)
    number = pending.value.refund.out_refund_no
    sim.set_faults(calls={})
    passes(till, clock, MINUTE)
    assert till.ledger.get_refund(number).state is RefundState.SUCCEEDED
    # Made at WeChat once, under the number it was given: re-sent only if WeChat never saw it.
    assert [r["out_refund_no"] for r in at_wechat(sim, sale.out_trade_no)] == [number]
    assert slips(till, sale.id) == 1 and till.ledger.get_sale(sale.id).state is SaleState.REFUNDED


def test_refundclose_releases_the_reservation(till, sim, clock):
    sale = paid_sale(till, sim, total=600)
    sim.set_faults(refund_outcome="refundclose", refund_seconds=3 * MINUTE)
    refund = till.refunds.refund(sale.id, 600)
    passes(till, clock, 4 * MINUTE)
    closed = till.ledger.get_refund(refund.out_refund_no)
    assert closed.state is RefundState.FAILED
    after = till.ledger.get_sale(sale.id)
    assert after.state is SaleState.PAID and after.refundable_fee == 600
    assert [f.kind for f in till.ledger.flags_for_sale(sale.id)] == [FlagKind.REFUND_FAILED]
    assert slips(till, sale.id) == 0


def test_change_holds_the_reservation_and_is_left_to_the_manager(till, sim, clock):
    sale = paid_sale(till, sim, total=600)
    sim.set_faults(refund_outcome="change", refund_seconds=3 * MINUTE)
    refund = till.refunds.refund(sale.id, 600)
    passes(till, clock, 4 * MINUTE)
    assert till.ledger.get_refund(refund.out_refund_no).state is RefundState.HELD
    after = till.ledger.get_sale(sale.id)
    assert after.state is SaleState.PAID and after.refundable_fee == 0  # still reserved
    assert [f.kind for f in till.ledger.flags_for_sale(sale.id)] == [FlagKind.REFUND_HELD]
    count = asked(till)
    passes(till, clock, 60 * MINUTE, every=10 * MINUTE)
    assert asked(till) == count and slips(till, sale.id) == 0  # HELD: the manager's to settle


def test_a_restarted_till_picks_the_open_refund_up(config, sim, clock):
    first = Till(config, clock=clock)
    try:
        sale = paid_sale(first, sim, total=500)
        sim.set_faults(refund_outcome="processing", refund_seconds=30 * MINUTE)
        number = first.refunds.refund(sale.id, 500).out_refund_no
        passes(first, clock, 2 * MINUTE)
        assert asked(first) == 2
    finally:
        first.stop()
    clock.advance(40 * MINUTE)  # down for a while; WeChat settled it meanwhile, its notice was lost
    second = Till(config, clock=clock)
    try:
        second.watcher.poll_once()  # its first pass, at once: from the ledger, not from memory
        assert asked(second) == 1
        assert second.ledger.get_refund(number).state is RefundState.SUCCEEDED
        assert slips(second, sale.id) == 1
    finally:
        second.stop()


def test_each_till_follows_only_its_own_lanes_refunds(till, config, sim, clock):
    sale = paid_sale(till, sim, total=700, lane="02")  # rung up at lane 02
    sim.set_faults(refund_outcome="processing", refund_seconds=2 * MINUTE)
    number = till.refunds.refund(sale.id, 700).out_refund_no
    passes(till, clock, 10 * MINUTE)
    assert asked(till) == 0  # lane 01's watcher does not touch lane 02's refund
    assert till.ledger.get_refund(number).state is RefundState.PENDING
    lane_two = Till(other_lane(config), clock=clock)
    try:
        lane_two.watcher.poll_once()
        assert asked(lane_two) == 1
        assert lane_two.ledger.get_refund(number).state is RefundState.SUCCEEDED
    finally:
        lane_two.stop()


def test_with_no_open_refund_a_pass_reads_the_refunds_once_and_asks_nothing(till, sim, clock):
    sale = paid_sale(till, sim, total=300)
    till.refunds.refund(sale.id, 300)  # SUCCESS at once: nothing left open
    statements: list[str] = []

    def record(conn, cursor, statement, *args) -> None:
        statements.append(statement)

    event.listen(till.ledger.engine, "before_cursor_execute", record)
    try:
        till.watcher.poll_once()
        reads = [s for s in statements if "refunds" in s]
        assert len(reads) == 1 and "refunds.state" in reads[0]
        statements.clear()
        clock.advance(READ_EVERY.total_seconds() / 2)
        till.watcher.poll_once()
        assert not [s for s in statements if "refunds" in s]  # read again only every READ_EVERY
    finally:
        event.remove(till.ledger.engine, "before_cursor_execute", record)
    assert asked(till) == 0


@pytest.mark.parametrize("fault", ["systemerror", "timeout_after"])
def test_on_api_v3_the_follow_up_resends_and_completes_a_processing_refund(database, tmp_path, fault):
    with running_simulator(time_scale=0.0001) as v3sim:
        clock = FakeClock(datetime.now(UTC).replace(microsecond=0), follow=v3sim.advance)
        base = till_config(tmp_path, v3sim, language="en", database=database.config)
        merchant = v3_merchant(base.merchant, tmp_path / "keys", v3sim.v3)
        merchant = dataclasses.replace(
            merchant, timeout=TIMEOUT, notify_url="http://127.0.0.1:9/wechatpay/notify"
        )
        till = Till(base.replace(merchant=merchant), clock=clock)
        try:
            sale = paid_sale(till, v3sim, total=400)
            slow = {"refund_outcome": "processing", "refund_seconds": 3 * MINUTE}
            v3sim.set_faults(calls={"refund": fault}, hang_seconds=2 * TIMEOUT, **slow)
            with pytest.raises(RefundPending) as pending:
                till.refunds.refund(sale.id, 400)
            number = pending.value.refund.out_refund_no
            v3sim.set_faults(calls={}, **slow)
            passes(till, clock, 2 * MINUTE)  # re-sent if WeChat never saw it; PROCESSING meanwhile
            assert till.ledger.get_refund(number).state is RefundState.PENDING
            passes(till, clock, 3 * MINUTE)
            assert till.ledger.get_refund(number).state is RefundState.SUCCEEDED
            assert [r["out_refund_no"] for r in at_wechat(v3sim, sale.out_trade_no)] == [number]
            assert slips(till, sale.id) == 1
        finally:
            till.stop()
