"""A payment code and a printed QR for the same sale, asked for at the same time, over real HTTP
(a till under waitress, the simulator as WeChat) on both databases: the ledger decides once, so
exactly one payable order ever exists for the sale and the other request gets its 409.

The simulator's ``timeout_after`` switch with a short ``hang_seconds`` holds one request's answer
from WeChat (its order already made) while the other request arrives: the window in which a check
followed by a separate write would let both through."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from pos.config import DatabaseConfig
from pos.sandbox.testing import RunningSimulator, running_simulator
from pos.till.testing import RunningTill, running_till, till_config

HOLD = 1.0  # seconds WeChat's answer is held


@pytest.fixture
def sim() -> Iterator[RunningSimulator]:
    with running_simulator(time_scale=0.001) as running:
        yield running


@pytest.fixture
def till(tmp_path, sim, database_url) -> Iterator[RunningTill]:
    config = till_config(tmp_path, sim, language="en", database=DatabaseConfig(url=database_url))
    with running_till(config, workers=False) as running:
        yield running


def code_sale(till: RunningTill) -> dict:
    answer = till.http.post(till.url("/api/sales"), json={"amount": "18.80", "pay_by": "code"}, timeout=10)
    assert answer.status_code == 201, answer.text
    return answer.json()


def pay_code(till: RunningTill, sale_id: int, code: str) -> requests.Response:
    return requests.post(till.url(f"/api/sales/{sale_id}/pay-code"), json={"auth_code": code}, timeout=15)


def charge_qr(till: RunningTill, sale_id: int) -> requests.Response:
    return requests.post(till.url(f"/api/sales/{sale_id}/charge-qr"), json={}, timeout=15)


def payable(sim: RunningSimulator, out_trade_no: str) -> list[str]:
    """The sale's orders at WeChat a customer could still pay: its Native order, its attempts."""
    mine = [o for o in sim.orders() if o["out_trade_no"].split("-M")[0] == out_trade_no]
    return sorted(o["out_trade_no"] for o in mine if o["state"] in ("NOTPAY", "USERPAYING"))


Call = Callable[[], requests.Response]


def retry(till: RunningTill, sale_id: int) -> requests.Response:
    return requests.post(till.url(f"/api/sales/{sale_id}/retry"), json={}, timeout=15)


def ring_up_qr(till: RunningTill) -> requests.Response:
    return requests.post(till.url("/api/sales"), json={"amount": "9.00"}, timeout=15)


def while_held(sim: RunningSimulator, op: str, first: Call, second: Call) -> tuple[requests.Response, ...]:
    """``first`` with WeChat's answer to ``op`` held; ``second`` once ``first`` is waiting on it."""
    sim.set_faults(hang_seconds=HOLD, calls={op: {"fault": "timeout_after", "times": 1}})
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(first)
        for _ in range(500):  # the held call has reached WeChat once the switch is used up
            if not _switch_on(sim, op) or held.done():
                break
            threading.Event().wait(0.02)
        other = second()
        return held.result(), other


def _switch_on(sim: RunningSimulator, op: str) -> bool:
    return op in sim._call("GET", "/_sim/faults")["calls"]


def test_a_code_while_the_qr_order_is_being_placed_is_refused(till, sim):
    sale = code_sale(till)
    qr, code = while_held(sim, "unified_order", lambda: charge_qr(till, sale["id"]),
                          lambda: pay_code(till, sale["id"], sim.paycode("paid")))  # fmt: skip
    assert code.status_code == 409 and "printed QR" in code.json()["error"]
    assert qr.status_code == 200 and qr.json()["state"] == "AWAITING_PAYMENT"
    assert payable(sim, sale["out_trade_no"]) == [sale["out_trade_no"]]


def test_a_qr_while_a_code_is_being_charged_is_refused(till, sim):
    sale = code_sale(till)
    code, qr = while_held(sim, "micropay", lambda: pay_code(till, sale["id"], sim.paycode("password")),
                          lambda: charge_qr(till, sale["id"]))  # fmt: skip
    assert qr.status_code == 409 and "payment code" in qr.json()["error"]
    assert code.status_code == 200 and code.json()["paycode"]["status"] == "userpaying"
    assert payable(sim, sale["out_trade_no"]) == [sale["out_trade_no"] + "-M1"]


def test_a_code_while_a_failed_order_is_retried_is_refused(till, sim):
    sim.set_faults(calls={"unified_order": {"fault": "systemerror", "times": 3}})
    failed = till.http.post(till.url("/api/sales"), json={"amount": "18.80"}, timeout=10).json()
    assert failed["state"] == "FAILED"
    again, code = while_held(sim, "unified_order",
                             lambda: retry(till, failed["id"]),
                             lambda: pay_code(till, failed["id"], sim.paycode("paid")))  # fmt: skip
    assert code.status_code == 409 and again.json()["state"] == "AWAITING_PAYMENT"
    assert payable(sim, failed["out_trade_no"]) == [failed["out_trade_no"]]


def test_a_retry_while_a_code_is_being_charged_is_refused(till, sim):
    sim.set_faults(calls={"unified_order": {"fault": "systemerror", "times": 3}})
    failed = till.http.post(till.url("/api/sales"), json={"amount": "18.80"}, timeout=10).json()
    assert failed["state"] == "FAILED"
    assert pay_code(till, failed["id"], sim.paycode("password")).json()["paycode"]["status"] == "userpaying"
    again = retry(till, failed["id"])
    assert again.status_code == 409 and "payment code" in again.json()["error"]
    assert payable(sim, failed["out_trade_no"]) == [failed["out_trade_no"] + "-M1"]


def test_a_sale_being_rung_up_for_a_qr_is_not_charged_by_code_meanwhile(till, sim):
    before = code_sale(till)  # the next sale's id follows this one's
    ring_up, code = while_held(sim, "unified_order",
                               lambda: ring_up_qr(till),
                               lambda: pay_code(till, before["id"] + 1, sim.paycode("paid")))  # fmt: skip
    assert ring_up.status_code == 201 and ring_up.json()["id"] == before["id"] + 1
    assert code.status_code == 409 and ring_up.json()["state"] == "AWAITING_PAYMENT"
    assert payable(sim, ring_up.json()["out_trade_no"]) == [ring_up.json()["out_trade_no"]]


def together(start: threading.Barrier, call: Call) -> requests.Response:
    start.wait(5)
    return call()


def test_racing_requests_leave_exactly_one_payable_order(till, sim):
    for _ in range(6):
        sale = code_sale(till)
        code = sim.paycode("password")
        start = threading.Barrier(2)
        with ThreadPoolExecutor(2) as pool:
            qr = pool.submit(together, start, lambda: charge_qr(till, sale["id"]))  # noqa: B023
            paid = pool.submit(together, start, lambda: pay_code(till, sale["id"], code))  # noqa: B023
            answers = sorted([qr.result().status_code, paid.result().status_code])
        assert answers == [200, 409]
        assert len(payable(sim, sale["out_trade_no"])) == 1
