"""The day view with coupons in headless Chromium: the coupon block and each coupon sale's note are on
screen, readable at a tablet's width without sideways scrolling. Screenshots go to test-artifacts/."""

from __future__ import annotations

from datetime import timedelta

from PIL import Image

from pos.ledger import SaleState


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


def test_the_coupon_block_and_notes_are_on_screen(browser, till, sim, kit):
    sim.set_faults(coupon={"fee": 300, "funded_by": "merchant"})
    latte = paid_sale(till, sim, {"items": [{"product_id": "LATTE", "qty": 2}]})
    sim.set_faults(coupon={})
    paid_sale(till, sim, {"items": [{"product_id": "CAKE"}]})
    browser.goto(till.url("/manager/login"))
    browser.wait_for("document.readyState === 'complete'")
    browser.eval(f"document.querySelector('#password').value = {kit.PASSWORD!r}")
    browser.submit("document.querySelector('form.login').submit()")
    assert browser.eval("document.querySelector('#paid-total').textContent") == "￥62.00"
    assert browser.eval("document.querySelector('#cash-paid-total').textContent") == "￥59.00"
    assert browser.eval("document.querySelector('#coupon-total').textContent") == "￥3.00"
    assert browser.eval("document.querySelector('#settled-total').textContent") == "￥59.00"
    note = f"document.querySelector('#sale-{latte['id']} .coupon-note')"
    assert browser.eval(f"{note}.textContent") == "顾客实付 ￥33.00 · 券 ￥3.00 · 应结 ￥33.00"
    assert browser.eval(f"{note}.getBoundingClientRect().height > 0")
    block = "document.querySelector('#coupons').getBoundingClientRect()"
    net = "document.querySelector('#net-total').getBoundingClientRect()"
    assert browser.eval(f"{block}.height > 0 && {block}.top > {net}.top")  # below the takings
    drawn(browser.screenshot("day-coupons.png", full_page=True))
    browser.size(768, 1024)
    drawn(browser.screenshot("day-coupons-tablet.png", full_page=True))
    assert browser.eval("document.documentElement.scrollWidth <= 768")
