"""Cashiers sign in with a PIN; scripts use the API token; a kiosk on loopback with nobody set up works
as before. Real waitress, a real SQLite ledger, the simulator as WeChat; the PIN screen in Chromium."""

from __future__ import annotations

import dataclasses
import time

import pytest

from pos.ledger.cashiers import set_cashier
from pos.sandbox.testing import running_simulator
from pos.testing.clock import FakeClock
from pos.till.signin import hash_pin
from pos.till.testing import running_till, till_config

TOKEN = "a-long-enough-api-token-for-tests"
SIGNIN_ERROR = (
    "!document.getElementById('signin-error').hidden && document.getElementById('signin-error').textContent"
)


@pytest.fixture
def sim():
    with running_simulator() as running:
        yield running


@pytest.fixture
def clock():
    return FakeClock()


def config_with(tmp_path, sim, database, **till):
    config = till_config(tmp_path, sim, database=database.config)
    return config.replace(till=dataclasses.replace(config.till, **till))


@pytest.fixture
def till(database, sim, tmp_path, clock):
    config = config_with(tmp_path, sim, database, api_token=TOKEN, cashier_idle_minutes=5)
    with running_till(config, clock=clock, workers=False) as running:
        set_cashier(running.till.ledger, "小王", hash_pin("2468"))
        set_cashier(running.till.ledger, "Amy", hash_pin("1357"))
        yield running


def sign_in(till, name="小王", pin="2468"):
    token = till.http.get(till.url("/api/session")).json()["csrf_token"]
    response = till.http.post(
        till.url("/api/session"), json={"name": name, "pin": pin}, headers={"X-CSRF-Token": token}
    )
    return response


def test_with_cashiers_nobody_drives_the_till_unsigned(till):
    for method, path in (("GET", "/api/sales"), ("POST", "/api/sales"), ("GET", "/api/printer")):
        response = till.http.request(method, till.url(path), json={"amount": "1.00"})
        assert response.status_code == 401 and "PIN" in response.json()["error"]
    assert till.till.ledger.sales_for_day(till.till.today(), store="S01") == []
    session = till.http.get(till.url("/api/session")).json()
    assert session["required"] is True and session["cashier"] is None
    assert session["cashiers"] == ["Amy", "小王"]


def test_scripts_use_the_api_token(till):
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    sale = till.http.post(till.url("/api/sales"), json={"amount": "3.00"}, headers=bearer)
    assert sale.status_code == 201
    wrong = till.http.post(
        till.url("/api/sales"), json={"amount": "3.00"}, headers={"Authorization": "Bearer x"}
    )
    assert wrong.status_code == 401 and wrong.json()["error"] == "API 令牌不正确"
    assert len(till.till.ledger.sales_for_day(till.till.today(), store="S01")) == 1


def test_a_signed_in_cashier_is_recorded_on_sales_voids_and_reprints(till):
    assert sign_in(till, pin="0000").status_code == 401
    answer = sign_in(till)
    assert answer.status_code == 200 and answer.json()["cashier"] == "小王"
    token = answer.json()["csrf_token"]
    headers = {"X-CSRF-Token": token}
    # The body cannot claim another cashier: the signed-in one rang it up.
    sale = till.http.post(till.url("/api/sales"), json={"amount": "5.00", "cashier": "Amy"}, headers=headers)
    assert sale.status_code == 201, sale.text
    sale_id = sale.json()["id"]
    assert till.till.ledger.get_sale(sale_id).cashier == "小王"
    # The session's own token is needed for changes: a cookie alone (a forged request) is not enough.
    assert till.http.post(till.url(f"/api/sales/{sale_id}/reprint"), json={}).status_code == 403
    assert (
        till.http.post(till.url(f"/api/sales/{sale_id}/reprint"), json={}, headers=headers).status_code == 202
    )
    assert till.http.post(till.url(f"/api/sales/{sale_id}/void"), json={}, headers=headers).status_code == 200
    events = {e.event: e.detail for e in till.till.ledger.events_for_sale(sale_id)}
    assert events["reprint"]["by"] == "小王"
    assert events["void_requested"]["by"] == "小王"
    # The manager's day JSON adds the day up by cashier.
    assert till.till.ledger.get_sale(sale_id).void_requested_by == "小王"


def test_idle_cashiers_are_asked_for_the_pin_again(till, clock):
    headers = {"X-CSRF-Token": sign_in(till).json()["csrf_token"]}
    assert till.http.get(till.url("/api/sales")).status_code == 200
    clock.advance(minutes=4)
    assert till.http.post(till.url("/api/session/active"), json={}, headers=headers).status_code == 200
    clock.advance(minutes=4)  # 8 minutes since sign-in, 4 since the last tap
    assert till.http.get(till.url("/api/sales")).status_code == 200
    clock.advance(minutes=2)  # polling is not activity: 6 minutes since the last tap
    idle = till.http.get(till.url("/api/sales"))
    assert idle.status_code == 401 and "5 分钟未操作" in idle.json()["error"]
    assert till.http.post(till.url("/api/sales"), json={"amount": "1.00"}, headers=headers).status_code == 401
    assert sign_in(till).status_code == 200


def test_pin_guesses_are_limited(database, sim, tmp_path, clock):
    config = config_with(tmp_path, sim, database, api_token=TOKEN)
    config = config.replace(manager=dataclasses.replace(config.manager, max_failures=3))
    with running_till(config, clock=clock, workers=False) as till:
        set_cashier(till.till.ledger, "小王", hash_pin("2468"))
        assert [sign_in(till, pin=f"{n:04d}").status_code for n in range(3)] == [401, 401, 401]
        locked = sign_in(till)  # the right PIN, too late
        assert locked.status_code == 429 and "分钟后再试" in locked.json()["error"]
        clock.advance(minutes=16)
        assert sign_in(till).status_code == 200


def test_sign_in_needs_the_session_token(till):
    till.http.get(till.url("/api/session"))
    bare = till.http.post(till.url("/api/session"), json={"name": "小王", "pin": "2468"})
    assert bare.status_code == 403
    assert till.http.get(till.url("/api/sales")).status_code == 401


def test_one_kiosk_on_loopback_works_as_before(database, sim, tmp_path):
    with running_till(till_config(tmp_path, sim, database=database.config), workers=False) as till:
        assert till.http.get(till.url("/api/session")).json()["required"] is False
        sale = till.http.post(till.url("/api/sales"), json={"amount": "2.00"})
        assert sale.status_code == 201
        assert till.http.post(till.url(f"/api/sales/{sale.json()['id']}/void"), json={}).status_code == 200
        # The first cashier added (pos cashier add, another process) closes the kiosk at once.
        set_cashier(till.till.ledger, "小王", hash_pin("2468"))
        assert till.http.get(till.url("/api/sales")).status_code == 401


def test_the_pin_screen_in_a_browser(till, browser, clock):
    browser.goto(till.url("/"))
    browser.wait_for("!document.getElementById('signin').hidden")
    names = browser.eval("[...document.querySelectorAll('#signin-names button')].map(b => b.textContent)")
    assert names == ["Amy", "小王"]
    browser.eval(
        "[...document.querySelectorAll('#signin-names button')].find(b => b.textContent === '小王').click()"
    )
    browser.eval("document.getElementById('signin-pin').value = '9999'")
    browser.eval("document.getElementById('signin-submit').click()")
    browser.wait_for(f"({SIGNIN_ERROR}) === '收银员或 PIN 不正确'")
    browser.eval("document.getElementById('signin-pin').value = '2468'")
    browser.eval("document.getElementById('signin-submit').click()")
    try:
        browser.wait_for("document.getElementById('signin').hidden")
    except TimeoutError:
        raise AssertionError(browser.eval("document.getElementById('signin-error').textContent")) from None
    assert browser.eval("document.getElementById('cashier-name').textContent") == "小王"
    # Ring a sale up on the page: the ledger has the signed-in cashier's name on it.
    browser.eval("document.querySelector('.product[data-id=\"LATTE\"]').click()")
    browser.eval("document.getElementById('charge').click()")
    browser.wait_for(
        "!document.getElementById('sale').hidden && document.getElementById('sale-no').textContent"
    )
    sales = till.till.ledger.sales_for_day(till.till.today(), store="S01")
    assert [s.cashier for s in sales] == ["小王"]
    browser.wait_for("!document.getElementById('void').hidden")
    browser.eval("document.getElementById('void').click()")
    browser.eval("document.getElementById('confirm-yes').click()")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and till.till.ledger.get_sale(sales[0].id).void_requested_by is None:
        time.sleep(0.05)
    # Idle: the page's own polling meets the sign-out and shows the PIN screen again, saying why.
    clock.advance(minutes=6)
    message = browser.wait_for(
        "!document.getElementById('signin').hidden && document.getElementById('signin-error').textContent"
    )
    assert "分钟未操作" in message
    events = {e.event: e.detail for e in till.till.ledger.events_for_sale(sales[0].id)}
    assert events["void_requested"]["by"] == "小王"
