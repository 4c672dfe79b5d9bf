"""The customer's side: the phone page, /_sim/pay and its errors, the clock and orders views."""

from __future__ import annotations

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
