"""The chain's day in headless Chromium: the chain's manager signs in, sees every store by lane (a
store that sold yesterday but not today among them, marked), opens one store's day with one click
and comes back; the page fits a tablet. Screenshots go to
``test-artifacts/manager/`` for a person to look at."""

from __future__ import annotations

from datetime import timedelta

from PIL import Image

from pos.ledger import LineItem


def _drawn(path) -> None:
    low, high = Image.open(path).convert("L").getextrema()
    assert high - low > 100, f"{path} is blank"


def test_the_chain_manager_walks_from_the_chain_to_a_store_and_back(
    browser, kit, tmp_path, sim, clock, chain_sales
):
    from pos.till.testing import running_till

    config = chain_sales.with_chain_password(kit.manager_config(tmp_path, sim))
    with running_till(config, clock=clock, workers=False) as till:
        sales = chain_sales(till)
        sales.sale("S01", "01", 1000)
        sales.sale("S01", "02", 700, refund=200)
        other = sales.sale("S02", "01", 900)
        sales.sale("S02", "03", 400)
        day = other.business_date.isoformat()
        yesterday = sales.service.now() - timedelta(days=1)
        sales.ledger.create_sale(store="S03", lane="02", items=[LineItem("拿铁", 500)], now=yesterday)

        browser.goto(till.url(f"/manager/chain?date={day}"))
        browser.wait_for("location.pathname === '/manager/login' && document.readyState === 'complete'")
        browser.eval(f"document.querySelector('#password').value = {chain_sales.PASSWORD!r}")
        browser.submit("document.querySelector('form.login').submit()")
        assert browser.eval("location.pathname + location.search") == f"/manager/chain?date={day}"
        assert browser.eval("document.querySelectorAll('tr.lane:not(.quiet)').length") == 4
        assert browser.eval("document.querySelector('tr.lane.quiet').dataset.store") == "S03"
        assert browser.eval("document.querySelectorAll('tr.store-total.quiet .pill.quiet').length") == 1
        assert browser.eval("document.querySelector('#chain-paid').textContent") == "￥30.00"
        assert browser.eval("document.querySelector('#chain-net').textContent") == "￥28.00"
        _drawn(browser.screenshot("chain.png", full_page=True))
        browser.size(768, 1024)
        assert browser.eval("document.documentElement.scrollWidth <= 768")  # no sideways scrolling
        _drawn(browser.screenshot("chain-tablet.png", full_page=True))
        browser.size(1280, 900)

        browser.submit("document.querySelector('tr.store-total[data-store=S02] a.store-link').click()")
        assert browser.eval("location.search") == f"?date={day}&store=S02"
        assert browser.eval("document.querySelector('#shown-store').dataset.store") == "S02"
        assert browser.eval("document.querySelector('#paid-total').textContent") == "￥13.00"
        assert other.out_trade_no in browser.eval("document.body.textContent")
        _drawn(browser.screenshot("chain-store.png", full_page=True))

        browser.submit("document.querySelector('#chain-banner a').click()")
        assert browser.eval("location.pathname") == "/manager/chain"
