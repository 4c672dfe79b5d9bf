"""The cashier's page while a payment code is charged, in headless Chromium: "the customer must
enter the password" while the till's watcher follows the attempt, then the outcome; a definite
failure in plain words with the choice of a new code or a printed QR. A real till under waitress
(its watcher's passes driven with a FakeClock), the simulator as WeChat."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import requests

from pos.sandbox.testing import RunningSimulator, running_simulator
from pos.testing.clock import FakeClock
from pos.till.testing import RunningTill, running_till, till_config

MESSAGE = "document.getElementById('paycode-message').textContent"


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


def ring_up_for_code(browser, till: RunningTill) -> None:
    browser.goto(till.url("/"))
    browser.wait_for("!!document.getElementById('charge-code')")
    browser.eval("document.querySelector('[data-key=\"5\"]').click()")
    browser.eval("document.getElementById('charge-code').click()")
    browser.wait_for("!document.getElementById('paycode-form').hidden")


def scan(browser, code: str) -> None:
    browser.eval(
        f"(() => {{ const i = document.getElementById('paycode-input'); i.value = {json.dumps(code)};"
        " document.getElementById('paycode-form').requestSubmit(); })()"
    )


def test_password_shows_on_the_page_then_the_payment(till, sim, clock, browser):
    browser.size(1024, 768)
    ring_up_for_code(browser, till)
    code = make_code(sim, "password")
    scan(browser, code)
    waiting = browser.wait_for(f"{MESSAGE}.includes('must enter') && {MESSAGE}")
    assert waiting == "The customer must enter the payment password on the phone"
    assert browser.eval("document.getElementById('paycode-input').disabled")  # one code at a time
    assert browser.eval("document.getElementById('charge-qr').hidden")  # no second payable order
    browser.screenshot("paycode-password.png")
    clock.advance(5)
    till.till.watcher.poll_once()  # still typing: the page keeps saying so
    assert till.till.ledger.get_sale(1).state.value == "NEW"
    requests.post(sim.base_url + f"/_sim/paycode/{code}", json={"action": "pay"}, timeout=5)
    clock.advance(5)
    till.till.watcher.poll_once()
    browser.wait_for("document.getElementById('sale-status').className === 'status paid'")
    assert browser.eval("document.getElementById('paycode-form').hidden")
    assert till.till.ledger.get_sale(1).state.value == "PAID"


@pytest.mark.parametrize(
    ("outcome", "words"),
    [("expired", "expired or was used"), ("not_enough", "balance is not enough")],
)
def test_a_definite_failure_in_plain_words_then_a_printed_qr(till, sim, browser, outcome, words):
    browser.size(1024, 768)
    ring_up_for_code(browser, till)
    scan(browser, make_code(sim, outcome))
    shown = browser.wait_for(f"{MESSAGE}.includes({json.dumps(words)}) && {MESSAGE}")
    assert "err" not in shown.lower() and "_" not in shown  # words, not WeChat's codes
    browser.wait_for("!document.getElementById('paycode-input').disabled")  # a new code can be scanned
    assert not browser.eval("document.getElementById('charge-qr').hidden")
    browser.screenshot(f"paycode-{outcome}.png")
    browser.eval("document.getElementById('charge-qr').click()")  # the customer has no other code
    browser.wait_for("!document.getElementById('qr').hidden && !!document.querySelector('#qr svg')")
    assert till.till.ledger.get_sale(1).state.value == "AWAITING_PAYMENT"


def test_unknown_outcome_shows_checking_then_reversed(till, sim, clock, browser):
    browser.size(1024, 768)
    ring_up_for_code(browser, till)
    scan(browser, make_code(sim, "unknown"))
    browser.wait_for(f"{MESSAGE}.includes('checking with WeChat')")
    for _ in range(12):
        clock.advance(5)
        till.till.watcher.poll_once()
    shown = browser.wait_for(f"{MESSAGE}.includes('reversed') && {MESSAGE}")
    assert "not charged" in shown
    browser.wait_for("!document.getElementById('paycode-input').disabled")
    assert not browser.eval("document.getElementById('charge-qr').hidden")
    assert till.till.ledger.get_sale(1).state.value == "NEW"
