"""The manager's pages in headless Chromium: log in, open a day, export the CSV, refund part of a sale.

The simulator runs with its HTTPS port (a throwaway CA) because refunds go to
``/secapi/pay/refund`` with the merchant's client certificate; the till trusts
the CA through ``REQUESTS_CA_BUNDLE``, as a shop would trust a private CA.
Screenshots are kept under ``test-artifacts/manager/`` (not committed) for a
person to look at; the test itself checks what the page says and does.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import time
from datetime import timedelta

import pytest
from PIL import Image

from pos.ledger import SaleState
from pos.sandbox.testing import running_simulator


@pytest.fixture
def sim():
    with running_simulator(tls=True) as running:
        yield running


@pytest.fixture
def config(tmp_path, sim, kit, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sim.pki.ca_file))
    base = kit.manager_config(tmp_path, sim)
    cert_file, key_file = sim.pki.client
    merchant = dataclasses.replace(
        base.merchant, api_base=sim.tls_base_url, cert_file=cert_file, key_file=key_file
    )
    return base.replace(merchant=merchant)


def paid_sale(till, sim, body: dict) -> dict:
    sale = till.http.post(till.url("/api/sales"), json=body).json()
    sim.pay(sale["code_url"], notify=False)
    till.till.watcher.poll_once(now=till.till.now() + timedelta(seconds=3))
    assert till.till.ledger.get_sale(sale["id"]).state is SaleState.PAID
    return sale


def drawn(path) -> Image.Image:
    image = Image.open(path).convert("L")
    low, high = image.getextrema()
    assert high - low > 100, f"{path} is blank"
    return image


def test_log_in_open_a_day_export_csv_and_refund_part_of_a_sale(browser, till, sim, kit, tmp_path):
    latte = paid_sale(till, sim, {"items": [{"product_id": "LATTE", "qty": 2}, {"product_id": "TEA"}]})
    paid_sale(till, sim, {"items": [{"product_id": "CAKE"}]})
    expired = till.http.post(till.url("/api/sales"), json={"amount": "9.90"}).json()
    till.till.ledger.mark_expired(expired["id"])
    day = till.till.today().isoformat()

    # Log in: the day view sends the browser to the login form first.
    browser.goto(till.url(f"/manager/day?date={day}"))
    browser.wait_for("location.pathname === '/manager/login' && document.readyState === 'complete'")
    drawn(browser.screenshot("login.png"))
    browser.eval("document.querySelector('#password').value = 'wrong password'")
    browser.submit("document.querySelector('form.login').submit()")
    assert "密码错误" in browser.eval("document.querySelector('.notice.error').textContent")
    browser.eval(f"document.querySelector('#password').value = {kit.PASSWORD!r}")
    browser.submit("document.querySelector('form.login').submit()")
    assert browser.eval("location.pathname + location.search") == f"/manager/day?date={day}"
    assert browser.eval("document.cookie") == ""  # the session cookie is HttpOnly: no script can read it

    # The day at a glance.
    assert browser.eval("document.querySelector('#paid-total').textContent") == "￥74.50"
    assert browser.eval("document.querySelector('#net-total').textContent") == "￥74.50"
    assert browser.eval("document.querySelectorAll('table.sales tbody tr').length") == 3
    assert browser.eval("document.querySelectorAll('svg.chart rect.bar').length") >= 1
    drawn(browser.screenshot("day.png", full_page=True))
    browser.size(768, 1024)
    drawn(browser.screenshot("day-tablet.png", full_page=True))
    assert browser.eval("document.documentElement.scrollWidth <= 768")  # no sideways scrolling on a tablet
    browser.size(1280, 900)

    # Export the CSV: the browser downloads the file the link names.
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.send("Browser.setDownloadBehavior", behavior="allow", downloadPath=str(downloads))
    browser.eval("document.querySelector('#export-csv').click()")
    deadline = time.monotonic() + 20
    while not list(downloads.glob("*.csv")) and time.monotonic() < deadline:
        time.sleep(0.1)
    saved = list(downloads.glob("*.csv"))
    assert [p.name for p in saved] == [f"pos-S01-{day}.csv"]
    raw = saved[0].read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert rows[1][1] == latte["out_trade_no"] and rows[1][3] == "拿铁×2; 柠檬茶×1" and rows[1][4] == "48.50"

    # Refund 5.00 of the first sale from its row.
    row = f"#sale-{latte['id']}"
    browser.eval(f"document.querySelector('{row} details').open = true")
    assert (
        browser.eval(f"document.querySelector('{row} input[name=amount]').value") == "48.50"
    )  # full by default
    browser.eval(f"document.querySelector('{row} input[name=amount]').value = '5.00'")
    browser.eval(f"document.querySelector('{row} input[name=reason]').value = '少找零'")
    browser.eval(f"document.querySelector('{row}').scrollIntoView({{block: 'center'}})")
    drawn(browser.screenshot("refund-form.png"))
    browser.submit(f"document.querySelector('{row} form.refund-form').submit()")
    notice = browser.eval("document.querySelector('.notice').textContent")
    assert latte["out_trade_no"] in notice and "5.00" in notice, notice
    sale = till.till.ledger.get_sale(latte["id"])
    assert sale.state is SaleState.PARTLY_REFUNDED and sale.refunded_fee == 500
    assert browser.eval("document.querySelector('#refunded-total').textContent") == "￥5.00"
    assert browser.eval("document.querySelector('#net-total').textContent") == "￥69.50"
    drawn(browser.screenshot("after-refund.png", full_page=True))
