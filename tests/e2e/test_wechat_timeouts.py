"""WeChat does not answer in time: the till re-sends the same order, never a second one.

A gateway (:mod:`pos.wechatpay.testing`) stands between the till and the simulator. It passes
every request on to the simulator, but for the first unified orders it holds the answer back
until the till has given up (the order *was* created: the answer was lost), or swallows the
request without passing it on (the order was never created). Either way WeChat must end up
with exactly one order for the sale, and the sale either waits for payment with that order's
code_url, or is FAILED with a message the cashier understands and a retry that works.

v2 only: the gateway in between relays v2's XML paths. The same losses on v3 (an answer held
after the order was made, or no order at all) are the simulator's ``timeout_after`` and
``timeout`` switches, which tests/e2e/test_gateway_faults.py runs on both APIs.
"""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest
import requests

from pos.till.testing import running_till, till_config
from pos.wechatpay import xmlcodec
from pos.wechatpay.testing import running_gateway

TIMEOUT = 0.3  # the till's [merchant] timeout in these tests
TOO_LATE = 2 * TIMEOUT  # a held answer comes after the till stopped listening


class Front:
    """Forwards to the simulator; the first ``lost`` unified orders lose their answer (``forward``)
    or vanish before reaching WeChat (not ``forward``)."""

    def __init__(self, sim, gateway) -> None:
        self.sim = sim
        self.gateway = gateway
        self.lost = 0
        self.forward_lost = True
        self._lock = threading.Lock()
        self._http = requests.Session()
        for path in ("/pay/unifiedorder", "/pay/orderquery", "/pay/closeorder"):
            gateway.answer(path, self._relay(path))

    def _relay(self, path: str):
        def reply(fields: dict[str, str]):
            with self._lock:
                losing = path == "/pay/unifiedorder" and self.lost > 0
                if losing:
                    self.lost -= 1
            if losing and not self.forward_lost:
                time.sleep(TOO_LATE)
                return 504, b"lost"
            answer = self._http.post(self.sim.base_url + path, data=xmlcodec.encode(fields), timeout=10)
            if losing:
                time.sleep(TOO_LATE)  # WeChat made the order; its answer never reaches the till in time
            return answer.status_code, answer.content

        return reply

    def orders_sent(self) -> list:
        return self.gateway.requests_to("/pay/unifiedorder")


@pytest.fixture
def front(sim):
    with running_gateway() as gateway:
        front = Front(sim, gateway)
        yield front
        front._http.close()


@pytest.fixture
def till(database, sim, front, tmp_path):
    base = till_config(tmp_path, sim, database=database.config)
    merchant = dataclasses.replace(base.merchant, api_base=front.gateway.url, timeout=TIMEOUT)
    with running_till(dataclasses.replace(base, merchant=merchant)) as running:
        running.till.client.backoff = 0  # the client's pause between re-sends; the re-sends still happen
        yield running


def orders_at_wechat(sim, out_trade_no: str) -> list[dict]:
    return [o for o in sim.orders() if o["out_trade_no"] == out_trade_no]


@pytest.mark.parametrize("forward_lost", [True, False], ids=["answer-lost", "request-lost"])
def test_a_lost_first_order_is_sent_again_as_the_same_order(sim, front, till, forward_lost):
    front.forward_lost = forward_lost
    front.lost = 3  # the whole first call: the client's own re-sends of the same bytes time out too
    answer = till.http.post(till.url("/api/sales"), json={"amount": "12.50"}, timeout=30)
    assert answer.status_code == 201
    sale = answer.json()
    assert sale["state"] == "AWAITING_PAYMENT"

    [order] = orders_at_wechat(sim, sale["out_trade_no"])
    assert order["code_url"] == sale["code_url"] and order["total_fee"] == 1250
    sent = front.orders_sent()
    assert len(sent) == 4  # three sends of the first call, then the checkout's second attempt
    assert len({s.body for s in sent[:3]}) == 1  # the client re-sends identical bytes
    assert {s.fields["out_trade_no"] for s in sent} == {sale["out_trade_no"]}
    # Between the attempts the till asked WeChat what became of the first one.
    assert [s.fields["out_trade_no"] for s in front.gateway.requests_to("/pay/orderquery")][:1] == [
        sale["out_trade_no"]
    ]


def test_wechat_silent_for_every_attempt_fails_readably_and_the_retry_works(sim, front, till):
    front.lost = 1000
    answer = till.http.post(till.url("/api/sales"), json={"amount": "8.80"}, timeout=30)
    assert answer.status_code == 201
    failed = answer.json()
    assert failed["state"] == "FAILED" and failed["code_url"] is None
    assert failed["failure"] == "微信支付暂时无法连接，请稍后重试"
    assert len(orders_at_wechat(sim, failed["out_trade_no"])) == 1  # every send reached the same order
    assert till.till.ledger.jobs_for_sale(failed["id"]) == []  # no slip with a dead QR

    front.lost = 0  # WeChat answers again; the cashier presses Retry
    retried = till.http.post(till.url(f"/api/sales/{failed['id']}/retry"), json={}, timeout=30)
    assert retried.status_code == 200, retried.text
    sale = retried.json()
    assert sale["state"] == "AWAITING_PAYMENT" and sale["out_trade_no"] == failed["out_trade_no"]
    [order] = orders_at_wechat(sim, sale["out_trade_no"])
    assert order["code_url"] == sale["code_url"]
    assert {s.fields["out_trade_no"] for s in front.orders_sent()} == {sale["out_trade_no"]}

    sim.pay(sale["code_url"], notify=False)  # and the order it got is the one the customer can pay
    assert orders_at_wechat(sim, sale["out_trade_no"])[0]["state"] == "SUCCESS"
