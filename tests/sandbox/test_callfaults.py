"""The simulator's hard-case switches over real HTTP: ``calls`` (SYSTEMERROR / a held answer,
before or after the work), ``hang_seconds`` and ``trade_states``; bad switches are a 400."""

from __future__ import annotations

import pytest
import requests

from pos.wechatpay import sign as signing
from pos.wechatpay import xmlcodec


def faults(sim) -> dict:
    return requests.get(sim.base_url + "/_sim/faults", timeout=5).json()


def test_systemerror_before_does_nothing_and_is_signed(sim, api):
    sim.set_faults(calls={"unified_order": {"fault": "systemerror", "times": 1}})
    fields = api.order_fields()
    answer = api.call(sim, "/pay/unifiedorder", fields)
    assert answer["return_code"] == "SUCCESS" and answer["result_code"] == "FAIL"
    assert answer["err_code"] == "SYSTEMERROR"
    assert signing.is_valid(answer, sim.api_key, signing.MD5)
    assert [o for o in sim.orders() if o["out_trade_no"] == fields["out_trade_no"]] == []
    assert faults(sim)["calls"] == {}  # used up: the next call is normal
    assert api.call(sim, "/pay/unifiedorder", fields)["result_code"] == "SUCCESS"


def test_systemerror_after_does_the_work(sim, api):
    order = api.place_order(sim)
    sim.set_faults(calls={"close_order": "systemerror_after"})
    sim.advance(301)
    answer = api.call(sim, "/pay/closeorder", {"out_trade_no": order["out_trade_no"]})
    assert answer["err_code"] == "SYSTEMERROR"
    [closed] = [o for o in sim.orders() if o["out_trade_no"] == order["out_trade_no"]]
    assert closed["state"] == "CLOSED"
    assert faults(sim)["calls"] == {"close_order": {"fault": "systemerror_after", "times": 0}}  # until reset


def test_timeout_holds_the_answer_past_the_clients_patience(sim, api):
    order = api.place_order(sim)
    sim.set_faults(calls={"order_query": "timeout_after"}, hang_seconds=1.0)
    fields = {
        "appid": sim.appid,
        "mch_id": sim.mch_id,
        "nonce_str": "n1",
        "out_trade_no": order["out_trade_no"],
    }
    body = xmlcodec.encode(signing.signed(fields, sim.api_key))
    with pytest.raises(requests.Timeout):
        requests.post(sim.base_url + "/pay/orderquery", data=body, timeout=0.2)
    sim.set_faults(calls={})
    assert (
        api.call(sim, "/pay/orderquery", {"out_trade_no": order["out_trade_no"]})["trade_state"] == "NOTPAY"
    )


def test_bill_systemerror_is_return_code_fail(sim, api):
    sim.set_faults(calls={"download_bill": "systemerror"})
    response = api.raw_post(sim, "/pay/downloadbill", b"<xml><mch_id>x</mch_id></xml>")
    assert b"FAIL" in response.content  # the gate first: a bad sign is still a sign error
    day = sim.sim.clock.beijing().strftime("%Y%m%d")
    answer = api.call(sim, "/pay/downloadbill", {"bill_date": day, "bill_type": "ALL"})
    assert answer == {"return_code": "FAIL", "return_msg": "SYSTEMERROR", "error_code": "20007"}


@pytest.mark.parametrize("state", ["USERPAYING", "PAYERROR"])
def test_trade_state_overlay_keeps_the_order_payable(sim, api, state):
    order = api.place_order(sim)
    sim.set_faults(trade_states={order["out_trade_no"]: state})
    answer = api.call(sim, "/pay/orderquery", {"out_trade_no": order["out_trade_no"]})
    assert answer["trade_state"] == state and answer["trade_state_desc"]
    sim.pay(order["code_url"], notify=False)
    assert (
        api.call(sim, "/pay/orderquery", {"out_trade_no": order["out_trade_no"]})["trade_state"] == "SUCCESS"
    )


def test_revoked_cannot_be_paid_or_closed(sim, api):
    order = api.place_order(sim)
    sim.set_faults(trade_states={order["out_trade_no"]: "REVOKED"})
    assert (
        api.call(sim, "/pay/orderquery", {"out_trade_no": order["out_trade_no"]})["trade_state"] == "REVOKED"
    )
    paid = requests.post(sim.base_url + "/_sim/pay", json={"code_url": order["code_url"]}, timeout=5)
    assert paid.status_code == 409 and paid.json()["error"] == "revoked"
    sim.advance(301)
    assert (
        api.call(sim, "/pay/closeorder", {"out_trade_no": order["out_trade_no"]})["err_code"] == "ORDERCLOSED"
    )


@pytest.mark.parametrize(
    "bad",
    [
        {"calls": {"nope": "systemerror"}},
        {"calls": {"refund": "explode"}},
        {"calls": {"refund": {"fault": "timeout", "times": -1}}},
        {"calls": {"refund": {"fault": "timeout", "extra": 1}}},
        {"calls": ["refund"]},
        {"hang_seconds": -1},
        {"trade_states": {"T1": "SUCCESS"}},
        {"trade_states": {"x" * 33: "REVOKED"}},
        {"trade_states": "REVOKED"},
    ],
)
def test_bad_switches_are_refused_and_change_nothing(sim, bad):
    before = faults(sim)
    answer = requests.post(sim.base_url + "/_sim/faults", json=bad, timeout=5)
    assert answer.status_code == 400 and answer.json()["error"] == "bad_fault"
    assert faults(sim) == before


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://pay.example.com/wechatpay/notify", True),
        ("http://127.0.0.1:9/wechatpay/notify", True),
        ("http://localhost:9/n", True),
        ("http://[::1]:9/n", True),
        ("http://pay.example.com/wechatpay/notify", False),
        ("http://10.0.0.5/n", False),
        ("ftp://127.0.0.1/n", False),
    ],
)
def test_notify_url_must_be_https_except_on_loopback(sim, api, url, ok):
    answer = api.call(sim, "/pay/unifiedorder", api.order_fields(notify_url=url))
    if ok:
        assert answer["result_code"] == "SUCCESS", answer
    else:
        assert answer["err_code"] == "INVALID_REQUEST" and "notify_url" in answer["err_code_des"]


def test_an_early_close_is_answered_but_the_order_stays_payable(sim, api):
    order = api.place_order(sim)
    ref = {"out_trade_no": order["out_trade_no"]}
    assert api.call(sim, "/pay/closeorder", ref)["result_code"] == "SUCCESS"
    assert api.call(sim, "/pay/orderquery", ref)["trade_state"] == "NOTPAY"
    sim.pay(order["code_url"], notify=False)  # the "closed" order takes the customer's money
    assert api.call(sim, "/pay/orderquery", ref)["trade_state"] == "SUCCESS"


def test_early_close_can_be_made_to_close(sim, api):
    sim.set_faults(early_close="closed")
    order = api.place_order(sim)
    ref = {"out_trade_no": order["out_trade_no"]}
    assert api.call(sim, "/pay/closeorder", ref)["result_code"] == "SUCCESS"
    assert api.call(sim, "/pay/orderquery", ref)["trade_state"] == "CLOSED"
    answer = requests.post(sim.base_url + "/_sim/faults", json={"early_close": "maybe"}, timeout=5)
    assert answer.status_code == 400


@pytest.mark.parametrize(("funded_by", "settles"), [("merchant", 1500), ("wechat", 1800)])
def test_a_coupon_shows_in_the_query_and_the_bill(sim, api, funded_by, settles):
    sim.set_faults(coupon={"fee": 300, "funded_by": funded_by})
    order = api.place_order(sim, total_fee="1800")
    sim.pay(order["code_url"], notify=False)
    paid = api.call(sim, "/pay/orderquery", {"out_trade_no": order["out_trade_no"]})
    assert (paid["total_fee"], paid["cash_fee"], paid["coupon_fee"], paid["coupon_fee_0"]) == (
        "1800", "1500", "300", "300",
    )  # fmt: skip
    assert paid["coupon_type_0"] == ("NO_CASH" if funded_by == "merchant" else "CASH")
    assert paid.get("settlement_total_fee", paid["total_fee"]) == str(settles)
    assert signing.is_valid(paid, sim.api_key, signing.MD5)
    day = sim.sim.clock.beijing().strftime("%Y%m%d")
    text = requests.post(
        sim.base_url + "/pay/downloadbill",
        data=xmlcodec.encode(
            signing.signed(
                {
                    "appid": sim.appid,
                    "mch_id": sim.mch_id,
                    "nonce_str": "n2",
                    "bill_date": day,
                    "bill_type": "ALL",
                },
                sim.api_key,
            )
        ),
        timeout=5,
    ).text
    from pos.wechatpay.bills import parse_bill

    [row] = [r for r in parse_bill(text).rows if r.out_trade_no == order["out_trade_no"]]
    assert (row.total_fee, row.settlement_total_fee, row.coupon_fee) == (1800, settles, 300)
