"""A reverse that never went through is not left there: the watcher reverses the attempt again
until WeChat confirms it, over real HTTP (a till under waitress with a FakeClock, the simulator as
WeChat with its reverse fault switch), on both databases. The watcher's passes are driven with the
clock the test moves."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import requests

from pos.config import DatabaseConfig
from pos.ledger import FlagKind, JobKind, SaleState
from pos.ledger.micropay import REVERSE_WINDOW, attempts_of_sale
from pos.sandbox.testing import RunningSimulator, running_simulator
from pos.testing.clock import FakeClock
from pos.till.codewatch import LATE_INTERVAL, LATE_WINDOW, reverse_interval
from pos.till.testing import RunningTill, running_till, till_config

from .test_codewatch import charge, status, trade_state, watch


@pytest.fixture
def sim() -> Iterator[RunningSimulator]:
    with running_simulator(time_scale=0.001) as running:
        yield running


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def config(tmp_path, sim, database_url):
    return till_config(tmp_path, sim, language="en", database=DatabaseConfig(url=database_url))


@pytest.fixture
def till(config, clock) -> Iterator[RunningTill]:
    with running_till(config, clock=clock, workers=False) as running:
        yield running


def reverses_left(sim: RunningSimulator) -> int | None:
    """How many more reverse calls the fault switch spoils (None: switched off, used up)."""
    spec = sim._call("GET", "/_sim/faults")["calls"].get("reverse")
    return None if spec is None else spec["times"]


def fail_reverses(sim: RunningSimulator, times: int) -> None:
    sim.set_faults(calls={"reverse": {"fault": "systemerror", "times": times}})


def give_up(till: RunningTill, sim: RunningSimulator, clock: FakeClock) -> tuple[int, str]:
    """A code whose outcome stays unknown, past the deadline, whose first reverse fails."""
    answer = charge(till, sim.paycode("unknown"))
    sale_id, number = answer["id"], answer["paycode"]["out_trade_no"]
    for _ in range(12):  # queried every 5 s; reversed 60 s after the pay call
        watch(till, clock, 5)
    after = status(till, sale_id)
    assert after["paycode"]["status"] == "reverse_failed" and after["state"] == "NEW"
    assert trade_state(sim, number) == "USERPAYING"  # WeChat never reversed it
    return sale_id, number


def test_a_failed_reverse_is_retried_until_wechat_confirms_it(till, sim, clock):
    fail_reverses(sim, 4)  # the first-time reverse and three of the watcher's fail, then it recovers
    sale_id, number = give_up(till, sim, clock)
    assert reverses_left(sim) == 3
    watch(till, clock, 10)  # not yet: the next reverse is LATE_INTERVAL after the till gave up
    assert reverses_left(sim) == 3
    for left in (2, 1, None):
        watch(till, clock, LATE_INTERVAL.total_seconds())
        assert reverses_left(sim) == left
        assert status(till, sale_id)["paycode"]["status"] == "reverse_failed"
    watch(till, clock, LATE_INTERVAL.total_seconds())  # the switch is off: WeChat confirms
    after = status(till, sale_id)
    assert after["paycode"]["status"] == "reversed" and after["state"] == "NEW"
    assert "not charged" in after["paycode"]["message"]
    assert trade_state(sim, number) == "REVOKED"
    ledger = till.till.ledger
    [attempt] = attempts_of_sale(ledger, sale_id)
    assert attempt.outcome == "reversed" and not attempt.reversing
    kinds = [e.event for e in ledger.events_for_sale(sale_id) if e.event.startswith("micropay_re")]
    assert kinds == ["micropay_reverse_failed", "micropay_reversed"]
    # The sale is still payable: a new code pays it, once.
    paid = till.http.post(till.url(f"/api/sales/{sale_id}/pay-code"), json={"auth_code": sim.paycode("paid")})
    assert paid.status_code == 200, paid.text
    paid = paid.json()
    assert paid["state"] == "PAID" and paid["paycode"]["out_trade_no"] == number[:-1] + "2"
    for _ in range(3):
        watch(till, clock, 60)
    assert [job.kind for job in ledger.jobs_for_sale(sale_id)] == [JobKind.CONFIRMATION]


def test_the_reverse_backs_off_after_the_first_minutes(till, sim, clock):
    fail_reverses(sim, 0)  # WeChat never takes the reverse
    sale_id, number = give_up(till, sim, clock)
    fail_reverses(sim, 1000)  # counted from here
    steps = int(LATE_WINDOW / LATE_INTERVAL)
    for _ in range(steps):
        watch(till, clock, LATE_INTERVAL.total_seconds())
    assert 1000 - reverses_left(sim) == steps
    later = reverse_interval(LATE_WINDOW)
    assert later > LATE_INTERVAL
    watch(till, clock, LATE_INTERVAL.total_seconds())  # past the window: not every 30 s any more
    assert 1000 - reverses_left(sim) == steps
    watch(till, clock, (later - LATE_INTERVAL).total_seconds())
    assert 1000 - reverses_left(sim) == steps + 1
    assert status(till, sale_id)["paycode"]["status"] == "reverse_failed"
    # Once WeChat no longer accepts a reverse (7 days), the watcher stops; reconciliation names it.
    clock.advance(REVERSE_WINDOW.total_seconds())
    till.till.watcher.poll_once()
    gone = reverses_left(sim)
    watch(till, clock, 3600)
    assert reverses_left(sim) == gone and trade_state(sim, number) == "USERPAYING"


def test_a_restarted_till_carries_on_reversing(config, sim, clock):
    fail_reverses(sim, 0)
    with running_till(config, clock=clock, workers=False) as first:
        sale_id, number = give_up(first, sim, clock)
        watch(first, clock, LATE_INTERVAL.total_seconds())
    clock.advance(minutes=20)  # the till was down a while; WeChat is well again
    fail_reverses(sim, 1)
    with running_till(config, clock=clock, workers=False) as second:
        second.till.watcher.poll_once()  # what is due from the ledger's events: reversed (fails once)
        assert status(second, sale_id)["paycode"]["status"] == "reverse_failed"
        assert reverses_left(sim) is None
        watch(second, clock, reverse_interval(LATE_WINDOW).total_seconds())
        after = status(second, sale_id)
        # not PAID; still payable (FAILED: the watcher calls a code sale NEW this long "interrupted")
        assert after["paycode"]["status"] == "reversed" and after["state"] in ("NEW", "FAILED")
    assert trade_state(sim, number) == "REVOKED"


def test_a_late_success_while_reversing_is_flagged_never_paid(till, sim, clock):
    fail_reverses(sim, 0)
    answer = charge(till, code := sim.paycode("unknown"))
    sale_id, number = answer["id"], answer["paycode"]["out_trade_no"]
    for _ in range(12):
        watch(till, clock, 5)
    assert status(till, sale_id)["paycode"]["status"] == "reverse_failed"
    watch(till, clock, LATE_INTERVAL.total_seconds())
    # The customer's phone settles it after all, before any reverse went through.
    assert requests.post(sim.base_url + f"/_sim/paycode/{code}", json={"action": "pay"}, timeout=5).ok
    assert trade_state(sim, number) == "SUCCESS"
    for _ in range(4):
        watch(till, clock, LATE_INTERVAL.total_seconds())
    ledger = till.till.ledger
    sale = ledger.get_sale(sale_id)
    assert sale.state in (SaleState.NEW, SaleState.FAILED) and sale.flagged and not sale.transaction_id
    assert [f.kind for f in ledger.flags_for_sale(sale_id)] == [FlagKind.PAID_AFTER_REVERSE]
    assert ledger.jobs_for_sale(sale_id) == []  # no paid receipt
    assert status(till, sale_id)["paycode"]["status"] == "flagged"
    [attempt] = attempts_of_sale(ledger, sale_id)
    assert attempt.reverse_ended == "paid_after_reverse" and not attempt.reversing
    fail_reverses(sim, 1000)
    for _ in range(3):  # the reversing has ended: no more reverse calls, no second flag
        watch(till, clock, 600)
    assert reverses_left(sim) == 1000 and trade_state(sim, number) == "SUCCESS"
    assert len(ledger.flags_for_sale(sale_id)) == 1
