"""The simulator's hard cases, against the till over real HTTP: SYSTEMERROR and hung calls, odd states.

The simulator's own switches (``POST /_sim/faults``: ``calls``, ``hang_seconds``,
``trade_states``) make WeChat answer SYSTEMERROR or nothing, before or after it acted, and
make an order report USERPAYING, PAYERROR or REVOKED. The till must treat every unknown
outcome as unknown (ask before deciding) and never end a sale wrong: exactly one order per
sale, PAID only when the money arrived, VOIDED/EXPIRED only when nobody can pay any more.

Every test runs on API v2 and v3 (``api``): the switches are named by the call whichever API
carries it, and on v3 a SYSTEMERROR is HTTP 500 ``{"code": "SYSTEM_ERROR", ...}`` and the odd
states are v3's ``trade_state``.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import pytest

from pos.ledger import SaleState
from pos.till.testing import running_till

from .conftest import clock_of, config_for, wait_until

TIMEOUT = 0.3  # the till's [merchant] timeout here; a hung call holds its answer longer


@pytest.fixture
def till(api, sim, tmp_path):
    base = config_for(api, tmp_path, sim)
    merchant = dataclasses.replace(base.merchant, timeout=TIMEOUT)
    with running_till(base.replace(merchant=merchant), clock=clock_of(sim)) as running:
        running.till.client.backoff = 0
        yield running


def ring_up(till, amount: str = "12.50") -> dict:
    answer = till.http.post(till.url("/api/sales"), json={"amount": amount}, timeout=30)
    assert answer.status_code == 201, answer.text
    return answer.json()


def sale_state(till, sale_id: int) -> SaleState:
    return till.till.ledger.get_sale(sale_id).state


def orders_at_wechat(sim, out_trade_no: str) -> list[dict]:
    return [o for o in sim.orders() if o["out_trade_no"] == out_trade_no]


def watcher_passes(till, more: int) -> None:
    """Let the watcher run ``more`` whole passes (it keeps its own schedule; we only wait)."""
    target = till.till.watcher.passes + more
    wait_until(lambda: till.till.watcher.passes >= target, f"{more} watcher passes")


# -- 1. SYSTEMERROR and timeouts on every call ---------------------------------------------------------


@pytest.mark.parametrize("fault", ["systemerror_after", "timeout_after", "systemerror", "timeout"])
def test_unified_order_unknown_outcome_ends_with_one_payable_order(sim, till, fault):
    sim.set_faults(calls={"unified_order": {"fault": fault, "times": 1}}, hang_seconds=2 * TIMEOUT)
    sale = ring_up(till)
    assert sim.sim.settings.faults.calls == {}  # the one spoiled call happened
    assert sale["state"] == "AWAITING_PAYMENT", sale
    [order] = orders_at_wechat(sim, sale["out_trade_no"])
    assert order["code_url"] == sale["code_url"]
    sim.pay(sale["code_url"], notify=False)
    sim.advance(3)
    wait_until(lambda: sale_state(till, sale["id"]) is SaleState.PAID, "PAID by the watcher's query")


def test_unified_order_systemerror_every_time_fails_readably_and_retry_works(sim, till):
    sim.set_faults(calls={"unified_order": "systemerror"})
    failed = ring_up(till)
    assert failed["state"] == "FAILED" and failed["code_url"] is None
    assert failed["failure"]  # a sentence for the cashier
    assert orders_at_wechat(sim, failed["out_trade_no"]) == []
    sim.set_faults(calls={})
    retried = till.http.post(till.url(f"/api/sales/{failed['id']}/retry"), json={}, timeout=30)
    assert retried.status_code == 200, retried.text
    assert retried.json()["state"] == "AWAITING_PAYMENT"
    assert len(orders_at_wechat(sim, failed["out_trade_no"])) == 1


@pytest.mark.parametrize("fault", ["systemerror", "timeout"])
def test_query_failing_never_settles_a_sale_and_the_payment_is_found_after(sim, till, fault):
    sale = ring_up(till)
    sim.set_faults(calls={"order_query": fault}, hang_seconds=2 * TIMEOUT)
    sim.pay(sale["code_url"], notify=False)  # paid, but the till cannot hear of it
    sim.advance(3)
    watcher_passes(till, 3)
    assert sale_state(till, sale["id"]) is SaleState.AWAITING_PAYMENT
    sim.set_faults(calls={})
    sim.advance(40)  # past the back-off
    wait_until(lambda: sale_state(till, sale["id"]) is SaleState.PAID, "PAID once the query answers")


@pytest.mark.parametrize("fault", ["systemerror_after", "timeout_after", "systemerror"])
def test_close_unknown_outcome_is_asked_again_before_the_sale_is_voided(sim, till, fault):
    sale = ring_up(till)
    sim.set_faults(calls={"close_order": {"fault": fault, "times": 1}}, hang_seconds=2 * TIMEOUT)
    voided = till.http.post(till.url(f"/api/sales/{sale['id']}/void"), json={}, timeout=30)
    assert voided.status_code == 200, voided.text
    sim.advance(301)  # WeChat's 5-minute rule
    wait_until(lambda: sale_state(till, sale["id"]) is SaleState.VOIDED, "VOIDED after a second close")
    assert sim.sim.settings.faults.calls == {}  # the first close was spoiled
    [order] = orders_at_wechat(sim, sale["out_trade_no"])
    assert order["state"] == "CLOSED"


# -- 2. order states the till must read right -------------------------------------------------------


@pytest.mark.parametrize("state", ["USERPAYING", "PAYERROR"])
def test_userpaying_and_payerror_are_not_final(sim, till, state):
    sale = ring_up(till)
    sim.set_faults(trade_states={sale["out_trade_no"]: state})
    sim.advance(3)
    watcher_passes(till, 3)
    assert sale_state(till, sale["id"]) is SaleState.AWAITING_PAYMENT
    sim.pay(sale["code_url"], notify=False)  # the customer tries again and pays
    sim.advance(3)
    wait_until(lambda: sale_state(till, sale["id"]) is SaleState.PAID, f"PAID after {state}")


def test_revoked_ends_the_sale_as_nobody_can_pay(sim, till):
    sale = ring_up(till)
    sim.set_faults(trade_states={sale["out_trade_no"]: "REVOKED"})
    sim.advance(3)
    wait_until(lambda: sale_state(till, sale["id"]) is SaleState.EXPIRED, "EXPIRED after REVOKED")
    assert till.till.ledger.get_sale(sale["id"]).transaction_id in (None, "")


# -- 4. a close within 5 minutes answers SUCCESS and closes nothing -------------------------------------


class SteppedClock:
    """WeChat's clock plus ``ahead``: set it after the order to model an NTP step forward, so the
    till's "5 minutes after the order" comes before WeChat's."""

    def __init__(self, sim) -> None:
        self.sim_now = clock_of(sim)
        self.ahead = timedelta(0)

    def __call__(self) -> datetime:
        return self.sim_now() + self.ahead


@pytest.fixture
def stepped():
    return {}


@pytest.fixture
def hasty_till(api, sim, tmp_path, stepped):
    base = config_for(api, tmp_path, sim)
    merchant = dataclasses.replace(base.merchant, timeout=TIMEOUT)
    clock = SteppedClock(sim)
    stepped["clock"] = clock
    with running_till(base.replace(merchant=merchant), clock=clock) as running:
        running.till.client.backoff = 0
        yield running


def test_an_early_close_is_not_taken_as_final_and_a_later_payment_is_found(sim, hasty_till, stepped):
    till = hasty_till
    sale = ring_up(till)
    stepped["clock"].ahead = timedelta(seconds=30)  # the till's clock steps forward after the order
    voided = till.http.post(till.url(f"/api/sales/{sale['id']}/void"), json={}, timeout=30)
    assert voided.status_code == 200 and voided.json()["state"] == "AWAITING_PAYMENT"  # "voiding"
    sim.advance(275)  # the till thinks 5 minutes have passed; WeChat counts 4:35
    wait_until(lambda: close_checked(till, sale["id"]), "the close checked")
    assert sale_state(till, sale["id"]) is SaleState.AWAITING_PAYMENT  # not VOIDED: the order is still open
    assert orders_at_wechat(sim, sale["out_trade_no"])[0]["state"] == "NOTPAY"
    sim.pay(sale["code_url"], notify=False)  # the customer scans the "voided" sale's QR
    sim.advance(40)
    wait_until(lambda: sale_state(till, sale["id"]).is_paid, "the payment found and recorded")
    assert orders_at_wechat(sim, sale["out_trade_no"])[0]["state"] == "SUCCESS"


def test_an_early_close_is_tried_again_until_the_order_really_closes(sim, hasty_till, stepped):
    till = hasty_till
    sale = ring_up(till)
    stepped["clock"].ahead = timedelta(seconds=30)  # the till's clock steps forward after the order
    till.http.post(till.url(f"/api/sales/{sale['id']}/void"), json={}, timeout=30)
    sim.advance(275)
    wait_until(lambda: close_checked(till, sale["id"]), "the close checked")
    sim.advance(60)  # WeChat's 5 minutes are up; the watcher's back-off too
    wait_until(lambda: sale_state(till, sale["id"]) is SaleState.VOIDED, "VOIDED once really closed")
    assert orders_at_wechat(sim, sale["out_trade_no"])[0]["state"] == "CLOSED"


def close_checked(till, sale_id: int) -> bool:
    """The till closed, then saw by a query that the order is still open."""
    return any(e.event == "close_not_final" for e in till.till.ledger.events_for_sale(sale_id))
