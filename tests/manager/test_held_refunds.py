"""A refund WeChat could not return to the customer (the simulator's ``refund_outcome: change``),
over real HTTP on SQLite and PostgreSQL: the manager refunds on the day page, WeChat's refund
notice reaches the listener with CHANGE, the refund is HELD (not refunded, not refundable again),
the day page shows it on top with what to do, hostile resolve requests change nothing, and the
manager's resolution settles it once, with an audit record, in the day's figures."""

from __future__ import annotations

import dataclasses
import time
from datetime import timedelta
from typing import Any

import pytest

from pos.ledger import FlagKind, RefundState, SaleState
from pos.listener import create_app as listener_app
from pos.reports import day as report
from pos.sandbox.testing import running_simulator
from pos.till.testing import running_till
from pos.web import BackgroundServer


class Later:
    """A WSGI app set after its server is bound (the listener's config needs the till's ledger)."""

    app: Any = None

    def __call__(self, environ: Any, start_response: Any) -> Any:
        return self.app(environ, start_response)


@pytest.fixture
def sim():
    with running_simulator(tls=True, time_scale=0.0001) as running:
        yield running


@pytest.fixture
def listener():
    later = Later()
    server = BackgroundServer(later).start()
    try:
        yield later, server.base_url
    finally:
        server.stop()


@pytest.fixture
def config(database, tmp_path, sim, kit, listener, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sim.pki.ca_file))
    base = kit.manager_config(tmp_path, sim, language="en", database=database.config)
    cert_file, key_file = sim.pki.client
    merchant = dataclasses.replace(
        base.merchant, api_base=sim.tls_base_url, cert_file=cert_file, key_file=key_file,
        notify_url=listener[1] + "/wechatpay/notify",
    )  # fmt: skip
    return base.replace(merchant=merchant)


@pytest.fixture
def till(config, clock, listener):
    with running_till(config, clock=clock, workers=False) as running:
        listener[0].app = listener_app(config, running.till.ledger)
        yield running


def wait_for(predicate, what: str, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return value


def held_sale(till, sim, logged_in):
    """A paid 18.00 sale whose full refund WeChat could not return (CHANGE)."""
    sale = till.http.post(till.url("/api/sales"), json={"items": [{"product_id": "LATTE"}]}).json()
    sim.pay(sale["code_url"], notify=False)
    till.till.watcher.poll_once(now=till.till.now() + timedelta(seconds=3))
    ledger = till.till.ledger
    assert ledger.get_sale(sale["id"]).state is SaleState.PAID
    sim.set_faults(refund_outcome="change", refund_seconds=30)
    day = till.till.today().isoformat()
    logged_in.get(f"/manager/day?date={day}")
    answer = logged_in.post(f"/manager/sales/{sale['id']}/refund", {"amount": "18.00", "date": day})
    assert answer.status_code == 200 and "waiting for WeChat Pay" in answer.text
    [refund] = ledger.refunds_for_sale(sale["id"])
    assert refund.state is RefundState.PENDING
    sim.advance(31)  # WeChat settles it as CHANGE and sends its refund notice to the listener
    wait_for(lambda: ledger.get_refund(refund.out_refund_no).state is RefundState.HELD, "the held refund")
    return sale, ledger.get_refund(refund.out_refund_no), day


def test_a_held_refund_is_shown_refused_twice_and_resolved_once(till, sim, logged_in, config):
    ledger = till.till.ledger
    sale, refund, day = held_sale(till, sim, logged_in)
    number = refund.out_refund_no

    # Neither refunded nor refundable again, and the day says so.
    after = ledger.get_sale(sale["id"])
    assert (after.state, after.refunded_fee, after.refundable_fee) == (SaleState.PAID, 0, 0)
    page = logged_in.get(f"/manager/day?date={day}").text
    assert 'id="held-refunds"' in page and f'data-out-refund-no="{number}"' in page
    assert "refund exceptions" in page and "WeChat balance" in page  # what to do
    assert f'action="/manager/sales/{sale["id"]}/refund"' not in page  # no refund form for it
    figures = logged_in.get(f"/manager/api/day?date={day}").json()
    assert figures["refund_held"] == {"count": 1, "fee": 1800}
    assert (figures["refunded_fee"], figures["refund_pending_fee"], figures["net_fee"]) == (0, 0, 1800)
    assert [h["out_refund_no"] for h in figures["held_refunds"]] == [number]
    z = report.z_report_data(ledger, config, till.till.today(), printed_at=till.till.now())
    assert z.refunded_fen == 0 and z.extra == (("Refunds held (1)", "￥18.00"),)

    # Hostile or mistaken requests: a 4xx each, nothing changed.
    path = f"/manager/refunds/{number}/resolve"
    for data, status in [
        ({"how": "cash"}, 400),
        ({}, 400),
        ({"how": "resent", "note": "x" * 501}, 400),
        ({"how": "resent", "csrf_token": "forged"}, 403),
    ]:
        assert logged_in.post(path, {"date": day, **data}, allow_redirects=False).status_code == status
    for bad in ["NOPE-R1", "%00", "a" * 65, "..%2F..%2Fetc"]:
        response = logged_in.post(f"/manager/refunds/{bad}/resolve", {"how": "resent"}, allow_redirects=False)
        assert response.status_code == 404, bad
    anonymous = till.http.post(till.url(path), data={"how": "resent"}, allow_redirects=False)
    assert anonymous.status_code in (302, 303, 401, 403)
    assert ledger.get_refund(number) == refund
    assert ledger.get_sale(sale["id"]).state is SaleState.PAID
    assert not [e for e in ledger.events_for_sale(sale["id"]) if e.event == "refund_resolved"]

    # The manager paid the customer in cash: settled once, recorded, and counted as refunded.
    done = logged_in.post(
        path, {"date": day, "how": "other_means", "note": "现金退回"}, allow_redirects=False
    )
    assert done.status_code == 303
    settled = ledger.get_refund(number)
    assert (settled.state, settled.resolution) == (RefundState.SUCCEEDED, "other_means")
    assert ledger.get_sale(sale["id"]).state is SaleState.REFUNDED
    [event] = [e for e in ledger.events_for_sale(sale["id"]) if e.event == "refund_resolved"]
    assert event.detail["by"] == "manager@127.0.0.1" and event.detail["note"] == "现金退回"
    [flag] = [f for f in ledger.flags_for_sale(sale["id"]) if f.kind is FlagKind.REFUND_HELD]
    assert flag.resolved_at is not None
    page = logged_in.get(f"/manager/day?date={day}").text
    assert 'id="held-refunds"' not in page
    figures = logged_in.get(f"/manager/api/day?date={day}").json()
    assert figures["refund_held"] == {"count": 0, "fee": 0}
    assert (figures["refunded_fee"], figures["net_fee"]) == (1800, 0)
    again = logged_in.post(path, {"date": day, "how": "resent"}, allow_redirects=False)
    assert again.status_code == 409
    assert ledger.get_sale(sale["id"]).refunded_fee == 1800


def test_the_held_card_is_the_first_thing_on_the_page_and_its_form_settles_it(
    browser, till, sim, logged_in, kit
):
    ledger = till.till.ledger
    sale, refund, day = held_sale(till, sim, logged_in)
    browser.goto(till.url(f"/manager/day?date={day}"))
    browser.wait_for("location.pathname === '/manager/login' && document.readyState === 'complete'")
    browser.eval(f"document.querySelector('#password').value = {kit.PASSWORD!r}")
    browser.submit("document.querySelector('form.login').submit()")
    assert browser.eval("location.pathname") == "/manager/day"
    # Right under the day's title, before the totals, in red.
    assert browser.eval("document.querySelector('h1.day-title').nextElementSibling.id") == "held-refunds"
    assert browser.eval("getComputedStyle(document.querySelector('#held-refunds')).borderTopColor") == (
        "rgb(198, 40, 40)"
    )
    text = browser.eval("document.querySelector('#held-refunds').innerText")
    assert refund.out_refund_no in text and "refund exceptions" in text
    assert "not counted as refunded" in browser.eval("document.querySelector('#refund-held').textContent")
    browser.screenshot("held-refund.png", full_page=True)
    # The form cannot be sent without choosing what was done (the browser checks; the server too).
    assert browser.eval("document.querySelector('#held-refunds form').checkValidity()") is False
    browser.eval("document.querySelector('#held-refunds input[value=resent]').checked = true")
    browser.submit("document.querySelector('#held-refunds form').submit()")
    assert "paid back to the customer" in browser.eval("document.querySelector('.notice.info').textContent")
    assert browser.eval("document.querySelector('#held-refunds')") is None
    settled = ledger.get_refund(refund.out_refund_no)
    assert (settled.state, settled.resolution) == (RefundState.SUCCEEDED, "resent")
    assert ledger.get_sale(sale["id"]).state is SaleState.REFUNDED
