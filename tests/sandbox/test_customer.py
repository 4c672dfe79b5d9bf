"""The customer's side: the phone page, /_sim/pay and its errors, the clock and orders views."""

from __future__ import annotations

import json
import re

import pytest
import requests

from pos.sandbox.testing import SimulatorError


def test_phone_page_shows_merchant_body_and_yuan(sim, api):
    order = api.place_order(sim, body="演示小店-拿铁", total_fee="1250")
    page = requests.get(sim.base_url + "/_sim/phone", params={"code_url": order["code_url"]}, timeout=5)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    html = page.text
    assert 'lang="zh-CN"' in html and 'name="viewport"' in html
    assert "演示小店" in html and "演示小店-拿铁" in html and "￥12.50" in html
    assert "<script" not in html  # plain HTML + CSS: works on any phone
    paid = requests.post(sim.base_url + "/_sim/phone", data={"code_url": order["code_url"]}, timeout=5)
    assert paid.status_code == 200 and "支付成功" in paid.text
    assert re.search(r"\d{28}", paid.text)
    query = api.call(sim, "/pay/orderquery", {"out_trade_no": order["out_trade_no"]})
    assert query["trade_state"] == "SUCCESS" and query["transaction_id"] in paid.text


def test_phone_page_errors_are_pages_not_tracebacks(sim):
    page = requests.get(sim.base_url + "/_sim/phone", params={"code_url": "weixin://wxpay/bizpayurl?pr=nope"})
    assert page.status_code == 404 and "二维码无效" in page.text
    ask = requests.get(sim.base_url + "/_sim/phone", timeout=5)
    assert ask.status_code == 200 and 'name="code_url"' in ask.text


def test_pay_errors(sim, api):
    with pytest.raises(SimulatorError) as unknown:
        sim.pay("weixin://wxpay/bizpayurl?pr=AAAAAAA")
    assert (unknown.value.status, unknown.value.error) == (404, "unknown_code")
    order = api.place_order(sim)
    transaction_id = sim.pay(order["code_url"], notify=False, openid="oTESTopenid0000000000000000a")
    with pytest.raises(SimulatorError) as twice:
        sim.pay(order["code_url"])
    assert (twice.value.status, twice.value.error) == (409, "paid")
    query = api.call(sim, "/pay/orderquery", {"transaction_id": transaction_id})
    assert query["openid"] == "oTESTopenid0000000000000000a"
    for bad in ({"code_url": ""}, {"code_url": order["code_url"], "notify": "yes"}, ["not", "an", "object"]):
        reply = requests.post(sim.base_url + "/_sim/pay", json=bad, timeout=5)
        assert reply.status_code == 400 and reply.json()["error"] == "bad_json"


def test_clock_endpoint(sim):
    before = requests.get(sim.base_url + "/_sim/clock", timeout=5).json()
    after = requests.post(sim.base_url + "/_sim/clock", json={"advance_seconds": 3600}, timeout=5).json()
    assert after["offset"] - before["offset"] == 3600 and after["now"] >= before["now"] + 3600
    for bad in ({"advance_seconds": -1}, {"advance_seconds": "1"}, {}):
        assert requests.post(sim.base_url + "/_sim/clock", json=bad, timeout=5).status_code == 400


def test_identity_and_orders(sim, api):
    who = requests.get(sim.base_url + "/_sim/", timeout=5).json()
    assert (who["appid"], who["mch_id"], who["api_key"]) == (sim.appid, sim.mch_id, sim.api_key)
    assert who["sign_types"] == ["MD5", "HMAC-SHA256"]
    order = api.place_order(sim)
    (listed,) = sim.orders()
    assert listed["out_trade_no"] == order["out_trade_no"] and listed["state"] == "NOTPAY"


# -- the open orders on the phone page --------------------------------------------------------------


def _listed(html: str) -> dict[str, str]:
    """out_trade_no -> the <li> of each listed open order."""
    return dict(re.findall(r'<li class="order" data-out-trade-no="([^"]+)">(.*?)</li>', html, re.S))


def test_phone_page_lists_the_open_orders_and_pays_them_as_pasting_does(sim, api):
    empty = requests.get(sim.base_url + "/_sim/phone", timeout=5)
    assert empty.status_code == 200 and _listed(empty.text) == {} and "没有待支付的订单" in empty.text
    first = api.place_order(sim, body="演示小店-拿铁", total_fee="1800")
    second = api.place_order(sim, body="演示小店-<b>茶</b>", total_fee="1234567800")
    paid_already = api.place_order(sim, body="已付", total_fee="100")
    sim.pay(paid_already["code_url"], notify=False)
    closed = api.place_order(sim, body="已关", total_fee="200")
    requests.post(sim.base_url + "/_sim/clock", json={"advance_seconds": 301}, timeout=5)
    assert (
        api.call(sim, "/pay/closeorder", {"out_trade_no": closed["out_trade_no"]})["result_code"] == "SUCCESS"
    )

    html = requests.get(sim.base_url + "/_sim/phone", timeout=5).text
    listed = _listed(html)
    assert list(listed) == [second["out_trade_no"], first["out_trade_no"]]  # payable ones, newest first
    assert "￥18.00" in listed[first["out_trade_no"]] and "演示小店-拿铁" in listed[first["out_trade_no"]]
    assert "￥12345678.00" in listed[second["out_trade_no"]]
    assert "&lt;b&gt;茶&lt;/b&gt;" in listed[second["out_trade_no"]]  # the order's text is escaped
    assert 'name="code_url"' in html.split('<ul class="orders">')[1]  # the paste box is still there
    form = re.search(r'<form method="post" action="">\s*<input type="hidden" name="code_url" value="([^"]+)">'
                     r'\s*<button type="submit">支付</button>', listed[first["out_trade_no"]])  # fmt: skip
    assert form and form.group(1) == first["code_url"]

    # The button posts what the paste box's page posts: the same POST /_sim/phone, the same payment.
    paid = requests.post(sim.base_url + "/_sim/phone", data={"code_url": form.group(1)}, timeout=5)
    assert paid.status_code == 200 and "支付成功" in paid.text and "￥18.00" in paid.text
    query = api.call(sim, "/pay/orderquery", {"out_trade_no": first["out_trade_no"]})
    assert query["trade_state"] == "SUCCESS" and query["transaction_id"] in paid.text
    assert list(_listed(requests.get(sim.base_url + "/_sim/phone", timeout=5).text)) == [
        second["out_trade_no"]
    ]

    # Past its time_expire an order is no longer listed (nor payable).
    requests.post(sim.base_url + "/_sim/clock", json={"advance_seconds": 3 * 3600}, timeout=5)
    assert _listed(requests.get(sim.base_url + "/_sim/phone", timeout=5).text) == {}


def test_phone_page_on_a_phone_in_chromium_pays_from_the_list(sim, api, browser):
    order = api.place_order(sim, body="演示小店-拿铁×2", total_fee="3600")
    browser.size(390, 844)  # a phone
    browser.goto(sim.base_url + "/_sim/phone")
    assert browser.eval("document.querySelectorAll('li.order').length") == 1
    assert browser.eval("document.documentElement.scrollWidth") <= 390  # nothing wider than the screen
    box = browser.eval("JSON.stringify(document.querySelector('li.order button').getBoundingClientRect())")
    button = json.loads(box)
    assert button["height"] >= 40 and button["right"] <= 390  # a thumb-sized button, on screen
    browser.screenshot("phone-open-orders.png")
    browser.submit("document.querySelector('li.order button').click()")
    assert "支付成功" in browser.eval("document.body.innerText")
    browser.screenshot("phone-paid.png")
    query = api.call(sim, "/pay/orderquery", {"out_trade_no": order["out_trade_no"]})
    assert query["trade_state"] == "SUCCESS"
