"""The v2 paths over real HTTP: success and failure shapes, signatures, rules and state changes."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
import requests

from pos.sandbox import api as api_paths
from pos.sandbox.clock import BEIJING
from pos.wechatpay import sign as signing
from pos.wechatpay import xmlcodec

CODE_URL = re.compile(r"^weixin://wxpay/bizpayurl\?pr=[0-9A-Za-z]{7,9}$")


def assert_signed(answer: dict[str, str], key: str, sign_type: str = signing.MD5) -> None:
    assert signing.is_valid(answer, key, sign_type), answer
    assert len(answer["sign"]) == (32 if sign_type == signing.MD5 else 64)


# -- unifiedorder ---------------------------------------------------------------------------------


@pytest.mark.parametrize("sign_type", [None, "MD5", "HMAC-SHA256"])
def test_unified_order_success_is_signed_with_the_request_sign_type(sim, api, sign_type):
    answer = api.call(sim, "/pay/unifiedorder", api.order_fields(), sign_type=sign_type)
    assert answer["return_code"] == "SUCCESS" and answer["result_code"] == "SUCCESS"
    assert answer["trade_type"] == "NATIVE"
    assert CODE_URL.match(answer["code_url"]) and len(answer["code_url"]) <= 64
    assert answer["prepay_id"].startswith("wx") and len(answer["prepay_id"]) == 36
    assert answer["appid"] == sim.appid and answer["mch_id"] == sim.mch_id
    assert_signed(answer, sim.api_key, sign_type or signing.MD5)


@pytest.mark.parametrize("sign_type", ["MD5", "HMAC-SHA256"])
def test_wrong_signature_is_return_code_fail_without_result_code(sim, api, sign_type):
    answer = api.call(sim, "/pay/unifiedorder", api.order_fields(), sign_type=sign_type, key="0" * 32)
    assert answer == {"return_code": "FAIL", "return_msg": "签名错误"}


def test_signature_of_the_other_type_is_refused(sim, api):
    fields = {"appid": sim.appid, "mch_id": sim.mch_id, "nonce_str": "n1", **api.order_fields()}
    fields["sign_type"] = "HMAC-SHA256"
    fields["sign"] = signing.sign(fields, sim.api_key, signing.MD5)  # declared HMAC, signed MD5
    reply = xmlcodec.decode(api.raw_post(sim, "/pay/unifiedorder", xmlcodec.encode(fields)).content)
    assert reply == {"return_code": "FAIL", "return_msg": "签名错误"}


def test_missing_sign_and_unknown_sign_type_are_refused(sim, api):
    fields = {"appid": sim.appid, "mch_id": sim.mch_id, "nonce_str": "n1", **api.order_fields()}
    reply = xmlcodec.decode(api.raw_post(sim, "/pay/unifiedorder", xmlcodec.encode(fields)).content)
    assert reply == {"return_code": "FAIL", "return_msg": "签名错误"}
    answer = api.call(sim, "/pay/unifiedorder", api.order_fields(), sign_type="HMAC_SHA256")
    assert answer["return_code"] == "FAIL" and "sign_type" in answer["return_msg"]
    assert "result_code" not in answer


def test_wrong_merchant(sim, api):
    answer = api.call(sim, "/pay/unifiedorder", {**api.order_fields(), "mch_id": "999"})
    assert answer["return_code"] == "FAIL" and "result_code" not in answer
    answer = api.call(sim, "/pay/unifiedorder", {**api.order_fields(), "appid": "wx0000000000000000"})
    assert answer["result_code"] == "FAIL" and answer["err_code"] == "APPID_MCHID_NOT_MATCH"
    assert_signed(answer, sim.api_key)


@pytest.mark.parametrize(
    ("override", "err_code", "mentions"),
    [
        ({"body": None}, "LACK_PARAMS", "body"),
        ({"notify_url": None}, "LACK_PARAMS", "notify_url"),
        ({"product_id": None}, "LACK_PARAMS", "product_id"),
        ({"total_fee": "0"}, "INVALID_REQUEST", "total_fee"),
        ({"total_fee": "12.50"}, "INVALID_REQUEST", "total_fee"),
        ({"total_fee": "-1"}, "INVALID_REQUEST", "total_fee"),
        ({"out_trade_no": "12345"}, "INVALID_REQUEST", "out_trade_no"),
        ({"out_trade_no": "A" * 33}, "INVALID_REQUEST", "out_trade_no"),
        ({"out_trade_no": "bad#number"}, "INVALID_REQUEST", "out_trade_no"),
        ({"notify_url": "/relative/notify"}, "INVALID_REQUEST", "notify_url"),
        ({"notify_url": "https://shop.example/notify?sale=1"}, "INVALID_REQUEST", "notify_url"),
        ({"body": "咖" * 43}, "INVALID_REQUEST", "body"),  # 129 UTF-8 bytes
        ({"time_expire": "2024-01-01"}, "INVALID_REQUEST", "time_expire"),
        ({"time_expire": "20240230120000"}, "INVALID_REQUEST", "time_expire"),
        ({"trade_type": "JSAPI"}, "INVALID_REQUEST", "trade_type"),
    ],
)
def test_field_rules(sim, api, override, err_code, mentions):
    answer = api.call(sim, "/pay/unifiedorder", api.order_fields(**override))
    assert answer["return_code"] == "SUCCESS" and answer["result_code"] == "FAIL"
    assert answer["err_code"] == err_code and mentions in answer["err_code_des"]
    assert_signed(answer, sim.api_key)


def test_out_trade_no_alphabet_and_edges_accepted(sim, api):
    for number in ("123456", "A-b_c|d*e@f", "9" * 32):
        answer = api.call(sim, "/pay/unifiedorder", api.order_fields(out_trade_no=number))
        assert answer["result_code"] == "SUCCESS", (number, answer)
    answer = api.call(sim, "/pay/unifiedorder", api.order_fields(body="咖" * 42))  # 126 bytes
    assert answer["result_code"] == "SUCCESS"


def beijing_in(seconds: float, now: float) -> str:
    return (datetime.fromtimestamp(now, BEIJING) + timedelta(seconds=seconds)).strftime("%Y%m%d%H%M%S")


def test_time_expire_must_leave_five_minutes(sim, api):
    now = sim.advance(0)
    answer = api.call(sim, "/pay/unifiedorder", api.order_fields(time_expire=beijing_in(299, now)))
    assert answer["err_code"] == "INVALID_REQUEST" and "time_expire" in answer["err_code_des"]
    answer = api.call(sim, "/pay/unifiedorder", api.order_fields(time_expire=beijing_in(600, now)))
    assert answer["result_code"] == "SUCCESS"


def test_reentry_rules(sim, api):
    fields = api.order_fields()
    first = api.call(sim, "/pay/unifiedorder", fields)
    again = api.call(sim, "/pay/unifiedorder", fields)  # new nonce, same parameters
    assert again["result_code"] == "SUCCESS"
    assert (again["code_url"], again["prepay_id"]) == (first["code_url"], first["prepay_id"])

    changed = api.call(sim, "/pay/unifiedorder", {**fields, "total_fee": "1300"})
    assert changed["err_code"] == "INVALID_REQUEST" and changed["err_code_des"] == "201 商户订单号重复"

    sim.pay(first["code_url"], notify=False)
    paid = api.call(sim, "/pay/unifiedorder", fields)
    assert paid["result_code"] == "FAIL" and paid["err_code"] == "ORDERPAID"

    other = api.order_fields()
    api.call(sim, "/pay/unifiedorder", other)
    sim.advance(301)
    assert (
        api.call(sim, "/pay/closeorder", {"out_trade_no": other["out_trade_no"]})["result_code"] == "SUCCESS"
    )
    closed = api.call(sim, "/pay/unifiedorder", other)
    assert closed["err_code"] == "ORDERCLOSED"


def test_code_url_dies_after_two_hours_and_reentry_gives_a_new_one(sim, api):
    fields = api.order_fields()
    first = api.call(sim, "/pay/unifiedorder", fields)
    sim.advance(7200)
    with pytest.raises(Exception) as dead:
        sim.pay(first["code_url"])
    assert dead.value.status == 410 and dead.value.error == "expired"
    again = api.call(sim, "/pay/unifiedorder", fields)
    assert again["result_code"] == "SUCCESS" and again["code_url"] != first["code_url"]
    assert CODE_URL.match(again["code_url"])
    assert sim.pay(again["code_url"], notify=False)


def test_code_urls_are_distinct(sim, api):
    urls = {api.place_order(sim)["code_url"] for _ in range(20)}
    assert len(urls) == 20


# -- orderquery ------------------------------------------------------------------------------------


def test_query_unknown_order(sim, api):
    answer = api.call(sim, "/pay/orderquery", {"out_trade_no": api.new_trade_no()})
    assert answer["result_code"] == "FAIL" and answer["err_code"] == "ORDERNOTEXIST"
    assert_signed(answer, sim.api_key)
    lacking = api.call(sim, "/pay/orderquery", {})
    assert lacking["err_code"] == "LACK_PARAMS"


@pytest.mark.parametrize("sign_type", ["MD5", "HMAC-SHA256"])
def test_query_notpay_subset_then_full_success_set(sim, api, sign_type):
    order = api.place_order(sim, attach="lane-01", sign_type=sign_type)
    notpay = api.call(sim, "/pay/orderquery", {"out_trade_no": order["out_trade_no"]}, sign_type=sign_type)
    assert_signed(notpay, sim.api_key, sign_type)
    assert notpay["trade_state"] == "NOTPAY" and notpay["trade_state_desc"] == "订单未支付"
    assert notpay["total_fee"] == "1250"
    for absent in ("transaction_id", "time_end", "openid", "bank_type", "cash_fee"):
        assert absent not in notpay

    transaction_id = sim.pay(order["code_url"], notify=False)
    paid = api.call(sim, "/pay/orderquery", {"transaction_id": transaction_id}, sign_type=sign_type)
    assert_signed(paid, sim.api_key, sign_type)
    assert paid["trade_state"] == "SUCCESS" and paid["out_trade_no"] == order["out_trade_no"]
    assert re.fullmatch(r"\d{28}", paid["transaction_id"]) and paid["transaction_id"] == transaction_id
    assert re.fullmatch(r"\d{14}", paid["time_end"])
    assert paid["cash_fee"] == paid["total_fee"] == "1250"
    assert paid["openid"] and paid["bank_type"] and paid["attach"] == "lane-01"
    assert paid["trade_type"] == "NATIVE" and paid["fee_type"] == "CNY"


# -- closeorder ------------------------------------------------------------------------------------


def test_close_five_minute_rule_and_states(sim, api):
    order = api.place_order(sim)
    ref = {"out_trade_no": order["out_trade_no"]}
    early = api.call(sim, "/pay/closeorder", ref)  # default: answered as done, but nothing closed
    assert early["result_code"] == "SUCCESS"
    assert api.call(sim, "/pay/orderquery", ref)["trade_state"] == "NOTPAY"
    sim.set_faults(early_close="refused")
    early = api.call(sim, "/pay/closeorder", ref)
    assert early["result_code"] == "FAIL" and "5分钟" in early["err_code_des"]
    assert api.call(sim, "/pay/orderquery", ref)["trade_state"] == "NOTPAY"
    sim.advance(300)
    closed = api.call(sim, "/pay/closeorder", ref)
    assert closed["result_code"] == "SUCCESS" and closed["result_msg"] == "OK"
    assert_signed(closed, sim.api_key)
    assert api.call(sim, "/pay/orderquery", ref)["trade_state"] == "CLOSED"
    assert api.call(sim, "/pay/closeorder", ref)["err_code"] == "ORDERCLOSED"
    with pytest.raises(Exception) as refused:
        sim.pay(order["code_url"])
    assert refused.value.error == "closed"

    paid = api.place_order(sim)
    sim.pay(paid["code_url"], notify=False)
    sim.advance(300)
    assert api.call(sim, "/pay/closeorder", {"out_trade_no": paid["out_trade_no"]})["err_code"] == "ORDERPAID"
    assert (
        api.call(sim, "/pay/closeorder", {"out_trade_no": api.new_trade_no()})["err_code"] == "ORDERNOTEXIST"
    )


def test_expired_order_cannot_be_paid_but_reads_notpay_until_closed(sim, api):
    now = sim.advance(0)
    order = api.place_order(sim, time_expire=beijing_in(360, now))
    sim.advance(361)
    with pytest.raises(Exception) as refused:
        sim.pay(order["code_url"])
    assert refused.value.status == 410
    ref = {"out_trade_no": order["out_trade_no"]}
    assert api.call(sim, "/pay/orderquery", ref)["trade_state"] == "NOTPAY"
    assert api.call(sim, "/pay/closeorder", ref)["result_code"] == "SUCCESS"
    assert api.call(sim, "/pay/orderquery", ref)["trade_state"] == "CLOSED"


def test_close_guard_is_configurable(api):
    from pos.sandbox.testing import running_simulator

    with running_simulator(close_min_age=0) as quick:
        order = api.place_order(quick)
        assert (
            api.call(quick, "/pay/closeorder", {"out_trade_no": order["out_trade_no"]})["result_code"]
            == "SUCCESS"
        )


# -- refunds ---------------------------------------------------------------------------------------


def test_refund_rules_and_query(sim, api):
    unpaid = api.place_order(sim)
    refund = {
        "out_trade_no": unpaid["out_trade_no"],
        "out_refund_no": "R1",
        "total_fee": "1250",
        "refund_fee": "1",
    }
    assert api.call(sim, "/secapi/pay/refund", refund)["err_code"] == "ORDERNOTEXIST"

    order = api.place_order(sim)
    transaction_id = sim.pay(order["code_url"], notify=False)
    first = {"transaction_id": transaction_id, "out_refund_no": api.new_trade_no(), "total_fee": "1250"}
    answer = api.call(sim, "/secapi/pay/refund", {**first, "refund_fee": "250"}, sign_type="HMAC-SHA256")
    assert_signed(answer, sim.api_key, "HMAC-SHA256")
    assert answer["result_code"] == "SUCCESS" and answer["refund_fee"] == "250"
    assert answer["out_trade_no"] == order["out_trade_no"] and re.fullmatch(r"\d{29}", answer["refund_id"])
    # Same out_refund_no again: the same refund, not a second one.
    again = api.call(sim, "/secapi/pay/refund", {**first, "refund_fee": "250"})
    assert again["refund_id"] == answer["refund_id"]
    changed = api.call(sim, "/secapi/pay/refund", {**first, "refund_fee": "300"})
    assert changed["err_code"] == "INVALID_REQUEST"
    too_much = {**first, "out_refund_no": api.new_trade_no(), "refund_fee": "1001"}
    assert api.call(sim, "/secapi/pay/refund", too_much)["err_code"] == "INVALID_REQUEST"
    wrong_total = {**first, "out_refund_no": api.new_trade_no(), "total_fee": "1", "refund_fee": "1"}
    assert api.call(sim, "/secapi/pay/refund", wrong_total)["err_code"] == "INVALID_REQUEST"
    rest = {**first, "out_refund_no": api.new_trade_no(), "refund_fee": "1000"}
    assert api.call(sim, "/secapi/pay/refund", rest)["result_code"] == "SUCCESS"

    query = api.call(sim, "/pay/refundquery", {"out_trade_no": order["out_trade_no"]})
    assert_signed(query, sim.api_key)
    assert query["refund_count"] == "2" and query["total_refund_count"] == "2"
    assert {query["refund_fee_0"], query["refund_fee_1"]} == {"250", "1000"}
    assert query["refund_status_0"] == "SUCCESS"
    by_id = api.call(sim, "/pay/refundquery", {"refund_id": answer["refund_id"]})
    assert by_id["refund_count"] == "1" and by_id["out_refund_no_0"] == first["out_refund_no"]
    assert api.call(sim, "/pay/orderquery", {"transaction_id": transaction_id})["trade_state"] == "REFUND"
    assert api.call(sim, "/pay/refundquery", {"out_refund_no": "NOPE"})["err_code"] == "REFUNDNOTEXIST"


def test_at_most_fifty_refunds_per_order(sim, api):
    order = api.place_order(sim, total_fee="100")
    transaction_id = sim.pay(order["code_url"], notify=False)
    for n in range(50):
        fields = {
            "transaction_id": transaction_id,
            "out_refund_no": f"R{n}x",
            "total_fee": "100",
            "refund_fee": "1",
        }
        assert api.call(sim, "/secapi/pay/refund", fields)["result_code"] == "SUCCESS"
    fields = {
        "transaction_id": transaction_id,
        "out_refund_no": "R50x",
        "total_fee": "100",
        "refund_fee": "1",
    }
    assert api.call(sim, "/secapi/pay/refund", fields)["result_code"] == "FAIL"
    page = api.call(sim, "/pay/refundquery", {"transaction_id": transaction_id, "offset": "40"})
    assert page["total_refund_count"] == "50" and page["refund_count"] == "10"


# -- shorturl and sandbox --------------------------------------------------------------------------


def test_short_url_signed_over_the_raw_url(sim, api):
    from urllib.parse import quote

    from pos.wechatpay import modeone

    long_url = modeone.bizpayurl("SKU-1", appid=sim.appid, mch_id=sim.mch_id, api_key=sim.api_key)
    fields = {"appid": sim.appid, "mch_id": sim.mch_id, "nonce_str": "n", "long_url": long_url}
    fields["sign"] = signing.sign(fields, sim.api_key)
    fields["long_url"] = quote(long_url, safe="")  # "签名用原串，传输需URLencode"
    reply = xmlcodec.decode(api.raw_post(sim, "/tools/shorturl", xmlcodec.encode(fields)).content)
    assert reply["result_code"] == "SUCCESS" and re.fullmatch(r"weixin://wxpay/s/\w{7}", reply["short_url"])
    plain = api.call(sim, "/tools/shorturl", {"long_url": long_url})  # CDATA, unencoded: accepted too
    assert plain["short_url"] == reply["short_url"]


def test_sandbox_getsignkey_then_sandbox_calls_with_that_key(sim, api):
    fields = {"mch_id": sim.mch_id, "nonce_str": "n"}
    body = xmlcodec.encode(signing.signed(fields, sim.api_key))
    reply = xmlcodec.decode(api.raw_post(sim, "/sandboxnew/pay/getsignkey", body).content)
    assert reply["return_code"] == "SUCCESS" and len(reply["sandbox_signkey"]) == 32
    key = reply["sandbox_signkey"]
    assert key != sim.api_key

    fields = api.order_fields()
    answer = api.call(sim, "/pay/unifiedorder", fields, key=key, sandbox=True)
    assert answer["result_code"] == "SUCCESS"
    assert_signed(answer, key)
    # The production key does not work in the sandbox, and sandbox orders are not live orders.
    refused = api.call(sim, "/pay/unifiedorder", api.order_fields(), key=sim.api_key, sandbox=True)
    assert refused["return_code"] == "FAIL" and "沙箱" in refused["return_msg"]
    hmac_refused = api.call(sim, "/pay/orderquery", {"out_trade_no": "X123456"}, sign_type="HMAC-SHA256",
                            key=key, sandbox=True)  # fmt: skip
    assert hmac_refused["return_code"] == "FAIL"
    live = api.call(sim, "/pay/orderquery", {"out_trade_no": fields["out_trade_no"]})
    assert live["err_code"] == "ORDERNOTEXIST"
    sandboxed = api.call(
        sim, "/pay/orderquery", {"out_trade_no": fields["out_trade_no"]}, key=key, sandbox=True
    )
    assert sandboxed["trade_state"] == "NOTPAY"


def test_sandbox_payment_notice_signed_with_sandbox_key(sim, api, receiver):
    answer = api.call(sim, "/pay/unifiedorder", api.order_fields(notify_url=receiver.url), sandbox=True)
    sim.pay(answer["code_url"])
    notice = xmlcodec.decode(receiver.wait(1)[0].body)
    assert signing.is_valid(notice, sim.sandbox_key) and not signing.is_valid(notice, sim.api_key)


def test_every_path_answers_xml_and_never_500(sim):
    paths = [
        *api_paths.PATHS,
        *(api_paths.SANDBOX_PREFIX + p for p in (*api_paths.PATHS, *api_paths.SANDBOX_ONLY)),
    ]
    for path in paths:
        reply = requests.post(sim.base_url + path, data=b"<xml><a>1</a></xml>", timeout=10)
        assert reply.status_code == 200, (path, reply.text)
        assert xmlcodec.decode(reply.content)["return_code"] == "FAIL"
