"""The till's payment-code routes over real HTTP: a till under waitress, the simulator as WeChat,
a SQLite ledger and a dir: printer. (The slow outcomes, password and unknown, are driven with a
FakeClock in tests/orders/test_micropay.py and, through the watcher, tests/till/test_codewatch.py.)"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pos.ledger import JobKind
from pos.sandbox.testing import RunningSimulator, running_simulator
from pos.sandbox.v3files import v3_merchant
from pos.till.testing import RunningTill, running_till, till_config
from pos.wechatpay.client import WeChatPayClient
from pos.wechatpay.v3 import WeChatPayV3Client


@pytest.fixture
def sim() -> Iterator[RunningSimulator]:
    with running_simulator(time_scale=0.001) as running:
        yield running


@pytest.fixture
def till(tmp_path, sim) -> Iterator[RunningTill]:
    with running_till(till_config(tmp_path, sim, language="en"), workers=False) as running:
        yield running


def code(sim: RunningSimulator, outcome: str) -> str:
    return sim.paycode(outcome)


def code_sale(till: RunningTill) -> dict:
    answer = till.http.post(till.url("/api/sales"), json={"amount": "18.80", "pay_by": "code"}, timeout=10)
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_code_sale_has_no_native_order_and_pays_by_code(till, sim):
    sale = code_sale(till)
    assert sale["state"] == "NEW" and not sale.get("code_url")
    assert sim.orders() == []  # nothing ordered at WeChat
    answer = till.http.post(
        till.url(f"/api/sales/{sale['id']}/pay-code"), json={"auth_code": code(sim, "paid")}
    )
    assert answer.status_code == 200, answer.text
    paid = answer.json()
    assert paid["state"] == "PAID" and paid["paycode"]["status"] == "paid"
    kinds = [job.kind for job in till.till.ledger.jobs_for_sale(sale["id"])]
    assert kinds == [JobKind.CONFIRMATION]  # the paid receipt; never a QR slip


def test_declined_code_answers_plain_words_and_the_sale_stays_payable(till, sim):
    sale = code_sale(till)
    answer = till.http.post(
        till.url(f"/api/sales/{sale['id']}/pay-code"), json={"auth_code": code(sim, "not_enough")}
    )
    assert answer.status_code == 200
    assert answer.json()["state"] == "NEW" and "balance" in answer.json()["paycode"]["message"]


@pytest.mark.parametrize(
    "body", [{"auth_code": "6901234567892"}, {"auth_code": 134567890123456789}, {"auth_code": ""}, {},
             {"x": 1}, {"auth_code": "284567890123456789"}],
)  # fmt: skip
def test_anything_but_a_payment_code_is_a_400_saying_so(till, body):
    sale = code_sale(till)
    answer = till.http.post(till.url(f"/api/sales/{sale['id']}/pay-code"), json=body)
    assert answer.status_code == 400 and "payment code" in answer.json()["error"]
    assert till.till.ledger.get_sale(sale["id"]).state.value == "NEW"


def test_a_sale_with_a_printed_qr_is_not_paid_by_code(till, sim):
    sale = till.http.post(till.url("/api/sales"), json={"amount": "5.00"}).json()
    assert sale["state"] == "AWAITING_PAYMENT"
    answer = till.http.post(
        till.url(f"/api/sales/{sale['id']}/pay-code"), json={"auth_code": code(sim, "paid")}
    )
    assert answer.status_code == 409 and "QR" in answer.json()["error"]


def test_switch_to_a_printed_qr_uses_the_sales_own_number(till, sim):
    sale = code_sale(till)
    till.http.post(till.url(f"/api/sales/{sale['id']}/pay-code"), json={"auth_code": code(sim, "expired")})
    answer = till.http.post(till.url(f"/api/sales/{sale['id']}/charge-qr"), json={})
    assert answer.status_code == 200, answer.text
    switched = answer.json()
    assert switched["state"] == "AWAITING_PAYMENT" and switched["code_url"]
    assert {o["out_trade_no"] for o in sim.orders()} == {
        sale["out_trade_no"]
    }  # the attempt never became an order
    sim.pay(switched["code_url"], notify=False)


def test_bad_pay_by_and_unknown_sale(till):
    assert (
        till.http.post(till.url("/api/sales"), json={"amount": "1.00", "pay_by": "cash"}).status_code == 400
    )
    answer = till.http.post(till.url("/api/sales/999/pay-code"), json={"auth_code": "134567890123456789"})
    assert answer.status_code == 404


def test_cashier_page_scan_payment_code_in_chromium(till, sim, browser):
    browser.size(1024, 768)
    browser.goto(till.url("/"))
    browser.wait_for("!!document.getElementById('charge-code')")
    browser.eval("document.querySelector('[data-key=\"5\"]').click()")
    browser.eval("document.getElementById('charge-code').click()")
    browser.wait_for("!document.getElementById('paycode-form').hidden")
    assert sim.orders() == []  # no Native order, no QR
    assert browser.eval("document.getElementById('qr').hidden")
    assert (
        browser.eval("document.getElementById('sale-status').textContent") == "Waiting for the payment code"
    )
    browser.screenshot("scan-code.png")
    browser.eval(
        "(() => { const i = document.getElementById('paycode-input'); i.value = '6901234567892';"
        " document.getElementById('paycode-form').requestSubmit(); })()"
    )
    refused = browser.wait_for(
        "(() => { const m = document.getElementById('paycode-message').textContent;"
        " return m.includes('not a WeChat payment code') && m; })()"
    )
    assert "18" in refused
    code = paycode_for(sim, "paid")
    browser.eval(
        f"(() => {{ const i = document.getElementById('paycode-input'); i.value = '{code}';"
        " document.getElementById('paycode-form').requestSubmit(); })()"
    )
    browser.wait_for("document.getElementById('sale-status').className === 'status paid'")
    assert browser.eval("document.getElementById('paycode-form').hidden")
    browser.screenshot("paid-by-code.png")
    assert till.till.ledger.get_sale(1).state.value == "PAID"


def paycode_for(sim: RunningSimulator, outcome: str) -> str:
    return code(sim, outcome)


def test_a_v3_merchant_takes_payment_codes_through_v2_micropay(tmp_path, sim):
    config = till_config(tmp_path, sim, language="en")
    config = config.replace(merchant=v3_merchant(config.merchant, tmp_path / "keys", sim.v3))
    with running_till(config, workers=False) as v3_till:
        assert isinstance(v3_till.till.client, WeChatPayV3Client)  # Native orders on v3...
        assert isinstance(v3_till.till.code_client, WeChatPayClient)  # ...codes on v2, with the v2 key
        sale = code_sale(v3_till)
        answer = v3_till.http.post(
            v3_till.url(f"/api/sales/{sale['id']}/pay-code"), json={"auth_code": code(sim, "paid")}
        )
        assert answer.status_code == 200 and answer.json()["state"] == "PAID", answer.text
