"""Mode one end to end: scan a signed bizpayurl, the simulator calls the merchant, pays its prepay_id."""

from __future__ import annotations

import pytest
import requests

from pos.sandbox.testing import SimulatorError, running_simulator
from pos.wechatpay import modeone, xmlcodec
from pos.wechatpay import sign as signing


class Merchant:
    """A tiny mode-one merchant: verifies the callback, places the order, answers the prepay_id."""

    def __init__(self, sim, api, notify_url: str, mode: str = "ok") -> None:
        self.sim, self.api, self.notify_url, self.mode = sim, api, notify_url, mode
        self.callbacks: list[dict[str, str]] = []

    def __call__(self, received):
        if received.path != "/modeone":
            return 200, self.api.SUCCESS_REPLY  # payment notices
        callback = xmlcodec.decode(received.body)
        self.callbacks.append(callback)
        if not signing.is_valid(callback, self.sim.api_key):
            return 200, self.api.FAIL_REPLY
        order = self.api.place_order(
            self.sim, product_id=callback["product_id"], openid=callback["openid"], notify_url=self.notify_url
        )
        reply = {
            "return_code": "SUCCESS",
            "appid": self.sim.appid,
            "mch_id": self.sim.mch_id,
            "nonce_str": signing.new_nonce(),
            "prepay_id": order["prepay_id"],
            "result_code": "SUCCESS",
        }
        if self.mode == "refuse":
            reply.update(result_code="FAIL", err_code_des="商品已下架")
        signed = signing.signed(reply, self.sim.api_key)
        if self.mode == "bad_sign":
            signed["sign"] = "0" * 32
        return 200, xmlcodec.encode(signed)


@pytest.fixture
def shop(receiver, api):
    base = receiver.url.rsplit("/", 2)[0]
    with running_simulator(time_scale=0.001, callback_url=base + "/modeone") as sim:
        merchant = Merchant(sim, api, receiver.url)
        receiver.handler = merchant
        yield sim, merchant, receiver


def label(sim, product_id: str = "SKU-001") -> str:
    return modeone.bizpayurl(product_id, appid=sim.appid, mch_id=sim.mch_id, api_key=sim.api_key)


def test_scan_round_trip(shop, api):
    sim, merchant, _ = shop
    paid = sim.scan(label(sim), openid="oUpF8uMEb4qRXf22hE3X68TekukE")
    (callback,) = merchant.callbacks
    assert set(callback) == {"appid", "openid", "mch_id", "is_subscribe", "nonce_str", "product_id", "sign"}
    assert callback["product_id"] == "SKU-001" and callback["openid"] == "oUpF8uMEb4qRXf22hE3X68TekukE"
    query = api.call(sim, "/pay/orderquery", {"transaction_id": paid["transaction_id"]})
    assert query["trade_state"] == "SUCCESS" and query["openid"] == callback["openid"]
    notices = sim.wait_for_notifications(1, outcome="ok")
    assert notices[0]["out_trade_no"] == paid["out_trade_no"]


def test_scan_a_short_url(shop, api):
    sim, merchant, _ = shop
    short = api.call(sim, "/tools/shorturl", {"long_url": label(sim, "SKU-9")})["short_url"]
    paid = sim.scan(short, notify=False)
    assert merchant.callbacks[0]["product_id"] == "SKU-9" and paid["transaction_id"]


def test_scan_refusals(shop):
    sim, merchant, _ = shop
    tampered = label(sim).replace("product_id=SKU-001", "product_id=SKU-002")
    with pytest.raises(SimulatorError) as bad:
        sim.scan(tampered)
    assert bad.value.status == 400 and bad.value.error == "bad_url" and merchant.callbacks == []

    merchant.mode = "refuse"
    with pytest.raises(SimulatorError) as refused:
        sim.scan(label(sim))
    assert refused.value.error == "merchant_refused" and "下架" in refused.value.message

    merchant.mode = "bad_sign"
    with pytest.raises(SimulatorError) as unsigned:
        sim.scan(label(sim))
    assert unsigned.value.error == "callback_sign"


def test_scan_without_callback_url(sim):
    with pytest.raises(SimulatorError) as missing:
        sim.scan(label(sim))
    assert missing.value.status == 409 and missing.value.error == "no_callback"


def test_scan_with_bad_json(sim):
    reply = requests.post(sim.base_url + "/_sim/scan", json={"url": 5}, timeout=5)
    assert reply.status_code == 400 and reply.json()["error"] == "bad_json"
