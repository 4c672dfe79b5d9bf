"""The watcher follows a payment code the cashier's request left open, over real HTTP: a till
under waitress with a FakeClock, the simulator as WeChat (its paycode outcomes "password" and
"unknown"), a SQLite ledger. The watcher's passes are driven with the clock the test moves."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import requests

from pos.ledger import FlagKind, JobKind, SaleState
from pos.sandbox.testing import RunningSimulator, running_simulator
from pos.testing.clock import FakeClock
from pos.till.testing import RunningTill, running_till, till_config


@pytest.fixture
def sim() -> Iterator[RunningSimulator]:
    with running_simulator(time_scale=0.001) as running:
        yield running


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def till(tmp_path, sim, clock) -> Iterator[RunningTill]:
    with running_till(till_config(tmp_path, sim, language="en"), clock=clock, workers=False) as running:
        yield running


def make_code(sim: RunningSimulator, outcome: str) -> str:
    return sim.paycode(outcome)


def customer(sim: RunningSimulator, code: str, action: str, **extra) -> requests.Response:
    return requests.post(sim.base_url + f"/_sim/paycode/{code}", json={"action": action, **extra}, timeout=5)


def charge(till: RunningTill, code: str) -> dict:
    sale = till.http.post(till.url("/api/sales"), json={"amount": "18.80", "pay_by": "code"}, timeout=10)
    assert sale.status_code == 201, sale.text
    answer = till.http.post(till.url(f"/api/sales/{sale.json()['id']}/pay-code"), json={"auth_code": code})
    assert answer.status_code == 200, answer.text
    return answer.json()


def status(till: RunningTill, sale_id: int) -> dict:
    answer = till.http.get(till.url(f"/api/sales/{sale_id}/pay-code"), timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def watch(till: RunningTill, clock: FakeClock, seconds: float) -> None:
    """Move the clock ``seconds`` and let the watcher make its pass."""
    clock.advance(seconds)
    till.till.watcher.poll_once()


def trade_state(sim: RunningSimulator, out_trade_no: str) -> str:
    return next(o for o in sim.orders() if o["out_trade_no"] == out_trade_no)["state"]


def test_password_the_request_ends_and_the_watcher_settles_the_late_success_once(till, sim, clock):
    code = make_code(sim, "password")
    answer = charge(till, code)
    sale_id, number = answer["id"], answer["paycode"]["out_trade_no"]
    assert answer["paycode"]["status"] == "userpaying" and answer["paycode"]["pending"]
    assert answer["state"] == "NEW" and "password" in answer["paycode"]["message"]
    watch(till, clock, 5)  # the customer is still typing: nothing changes
    assert status(till, sale_id)["paycode"]["status"] == "userpaying"
    assert customer(sim, code, "pay").status_code == 200
    watch(till, clock, 5)
    paid = status(till, sale_id)
    assert paid["state"] == "PAID" and paid["paycode"] == {
        "status": "paid", "message": "Paid", "pending": False, "out_trade_no": number, "err_code": ""
    }  # fmt: skip
    for _ in range(3):  # later passes find nothing more to do: paid exactly once
        watch(till, clock, 30)
    ledger = till.till.ledger
    assert [job.kind for job in ledger.jobs_for_sale(sale_id)] == [JobKind.CONFIRMATION]
    payments = [e for e in ledger.events_for_sale(sale_id) if e.event == "micropay_settled"]
    assert (
        len(payments) == 1 and ledger.get_sale(sale_id).transaction_id == payments[0].detail["transaction_id"]
    )


def test_password_then_cancelled_ends_cancelled_and_payable(till, sim, clock):
    code = make_code(sim, "password")
    answer = charge(till, code)
    customer(sim, code, "cancel")
    for _ in range(4):  # PAYERROR: reversed as soon as WeChat allows (15 s after the pay call)
        watch(till, clock, 5)
    after = status(till, answer["id"])
    assert after["paycode"]["status"] == "cancelled" and after["state"] == "NEW"
    assert trade_state(sim, answer["paycode"]["out_trade_no"]) == "REVOKED"


def test_unknown_until_the_deadline_is_reversed_and_a_late_success_flagged(till, sim, clock):
    code = make_code(sim, "unknown")
    answer = charge(till, code)
    sale_id, number = answer["id"], answer["paycode"]["out_trade_no"]
    assert answer["paycode"]["status"] == "checking" and answer["state"] == "NEW"
    for _ in range(11):  # queried every 5 s; still unknown before the deadline: not reversed
        watch(till, clock, 5)
        assert status(till, sale_id)["paycode"]["pending"]
    assert trade_state(sim, number) == "USERPAYING"
    watch(till, clock, 5)  # 60 s after the pay call
    reversed_ = status(till, sale_id)
    assert reversed_["paycode"]["status"] == "reversed" and not reversed_["paycode"]["pending"]
    assert reversed_["state"] == "NEW" and "not charged" in reversed_["paycode"]["message"]
    assert trade_state(sim, number) == "REVOKED"
    # WeChat's back end settles the reversed order after all: the watcher asks again and flags it.
    assert customer(sim, code, "pay", late=True).status_code == 200
    watch(till, clock, 30)
    watch(till, clock, 30)  # asked twice: still one flag
    sale = till.till.ledger.get_sale(sale_id)
    assert sale.state is SaleState.NEW and sale.flagged and not sale.transaction_id
    assert [f.kind for f in till.till.ledger.flags_for_sale(sale_id)] == [FlagKind.PAID_AFTER_REVERSE]
    assert till.till.ledger.jobs_for_sale(sale_id) == []  # no paid receipt for money the till gave up on


def test_a_restarted_till_resumes_the_open_attempt(tmp_path, sim, clock):
    config = till_config(tmp_path, sim, language="en")
    code = make_code(sim, "password")
    with running_till(config, clock=clock, workers=False) as first:
        answer = charge(first, code)
    customer(sim, code, "pay")
    with running_till(config, clock=clock, workers=False) as second:  # the till restarted meanwhile
        watch(second, clock, 5)
        assert status(second, answer["id"])["state"] == "PAID"


def test_a_sale_waiting_on_a_code_is_not_switched_to_a_qr_meanwhile(till, sim, clock):
    answer = charge(till, make_code(sim, "password"))
    switched = till.http.post(till.url(f"/api/sales/{answer['id']}/charge-qr"), json={})
    assert switched.status_code == 409 and "payment code" in switched.json()["error"]
    assert {o["out_trade_no"] for o in sim.orders()} == {answer["paycode"]["out_trade_no"]}


def test_status_of_a_sale_never_charged_by_code_and_of_an_unknown_sale(till):
    sale = till.http.post(till.url("/api/sales"), json={"amount": "1.00", "pay_by": "code"}).json()
    assert status(till, sale["id"])["paycode"] is None
    assert till.http.get(till.url("/api/sales/999/pay-code")).status_code == 404
