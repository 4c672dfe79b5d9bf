"""Notices as WeChat sends them: the bytes, the retry schedule, and each fault switch."""

from __future__ import annotations

import itertools
import re
import threading

import pytest
import requests

from pos.sandbox.settings import RETRY_SCHEDULE
from pos.sandbox.testing import running_simulator
from pos.wechatpay import notices, xmlcodec
from pos.wechatpay import sign as signing

NOTICE_FIELDS = set(
    [
        "appid",
        "attach",
        "bank_type",
        "cash_fee",
        "fee_type",
        "is_subscribe",
        "mch_id",
        "nonce_str",
        "openid",
        "out_trade_no",
        "result_code",
        "return_code",
        "sign",
        "time_end",
        "total_fee",
        "trade_type",
        "transaction_id",
    ]
)


@pytest.mark.parametrize("sign_type", ["MD5", "HMAC-SHA256"])
def test_payment_notice_bytes(sim, api, receiver, sign_type):
    order = api.place_order(sim, notify_url=receiver.url, attach="lane-01", sign_type=sign_type)
    transaction_id = sim.pay(order["code_url"])
    (got,) = receiver.wait(1)
    assert got.path == "/wechatpay/notify" and got.headers["Content-Type"].startswith("text/xml")
    text = got.body.decode("utf-8")
    assert "<total_fee>1250</total_fee>" in text  # bare, like the real thing
    elements = re.findall(r"<(\w+)>(.*?)</\1>", text[len("<xml>") : -len("</xml>")])
    for name, inner in elements:
        if name != "total_fee":
            assert inner.startswith("<![CDATA[") and inner.endswith("]]>"), name
    fields = xmlcodec.decode(got.body)
    assert set(fields) == NOTICE_FIELDS  # no sign_type, no empty device_info
    assert fields["transaction_id"] == transaction_id and fields["out_trade_no"] == order["out_trade_no"]
    assert fields["total_fee"] == fields["cash_fee"] == "1250" and fields["attach"] == "lane-01"
    assert signing.is_valid(fields, sim.api_key, sign_type)
    other = signing.HMAC_SHA256 if sign_type == signing.MD5 else signing.MD5
    assert not signing.is_valid(fields, sim.api_key, other)
    assert [d["outcome"] for d in sim.wait_for_notifications(1)] == ["ok"]


def test_pay_without_notify_sends_nothing(sim, api, receiver):
    quiet = api.place_order(sim, notify_url=receiver.url)
    loud = api.place_order(sim, notify_url=receiver.url)
    sim.pay(quiet["code_url"], notify=False)
    sim.pay(loud["code_url"], notify=True)
    received = receiver.wait(1)
    sim.wait_for_notifications(1, outcome="ok")
    assert [xmlcodec.decode(r.body)["out_trade_no"] for r in received] == [loud["out_trade_no"]]
    assert [d["out_trade_no"] for d in sim.notifications()] == [loud["out_trade_no"]]


def test_retry_schedule_fail_fail_success(sim, api, receiver):
    receiver.script = [(200, api.FAIL_REPLY), (200, api.FAIL_REPLY)]
    order = api.place_order(sim, notify_url=receiver.url)
    sim.pay(order["code_url"])
    deliveries = sim.wait_for_notifications(1, outcome="ok")
    log = sim.notifications()
    assert [d["outcome"] for d in log] == ["fail", "fail", "ok"]
    assert [d["attempt"] for d in log] == [1, 2, 3]
    scale = sim.settings.time_scale
    assert [d["scheduled_delay"] for d in log] == [0, 15 * scale, 15 * scale]
    for before, after in itertools.pairwise(log):
        assert after["at"] - before["at"] >= after["scheduled_delay"]
    assert len(receiver.received) == 3 and deliveries
    assert requests.get(sim.base_url + "/_sim/notifications", timeout=5).json()["pending"] == []


def test_full_schedule_then_give_up(api):
    with running_simulator(time_scale=0.00001, retry_schedule=RETRY_SCHEDULE) as sim:
        order = api.place_order(sim, notify_url="http://127.0.0.1:9/dead")
        sim.pay(order["code_url"])
        log = sim.wait_for_notifications(16, timeout=15)
        assert len(log) == 16 and {d["outcome"] for d in log} == {"error"}
        assert [d["scheduled_delay"] for d in log] == [0, *(s * 0.00001 for s in RETRY_SCHEDULE)]
        assert requests.get(sim.base_url + "/_sim/notifications", timeout=5).json()["pending"] == []


@pytest.mark.parametrize(
    "script",
    [
        [(201, b"<xml><return_code><![CDATA[SUCCESS]]></return_code></xml>")],  # not 200
        [(200, b"success")],  # not XML
        [(200, b'{"return_code": "SUCCESS"}')],  # JSON
        [(500, b"")],
    ],
)
def test_anything_but_200_with_success_xml_is_retried(sim, api, receiver, script):
    receiver.script = list(script)
    order = api.place_order(sim, notify_url=receiver.url)
    sim.pay(order["code_url"])
    sim.wait_for_notifications(1, outcome="ok")
    assert [d["outcome"] for d in sim.notifications()] == ["fail", "ok"]


def test_slow_reply_counts_as_failure(api, receiver):
    with running_simulator(time_scale=0.001, notify_timeout=0.2) as sim:
        receiver.script = [(200, api.SUCCESS_REPLY, 0.5)]
        order = api.place_order(sim, notify_url=receiver.url)
        sim.pay(order["code_url"])
        sim.wait_for_notifications(1, outcome="ok")
        assert [d["outcome"] for d in sim.notifications()] == ["timeout", "ok"]


def test_advancing_the_clock_brings_retries_forward(api, receiver):
    with running_simulator(time_scale=1.0) as sim:  # real schedule: the retry is 15 s away
        receiver.script = [(200, api.FAIL_REPLY)]
        order = api.place_order(sim, notify_url=receiver.url)
        sim.pay(order["code_url"])
        sim.wait_for_notifications(1, outcome="fail")
        assert len(receiver.received) == 1
        sim.advance(15)
        assert [d["outcome"] for d in sim.wait_for_notifications(1, outcome="ok")] == ["ok"]
        assert len(receiver.received) == 2


# -- fault switches ---------------------------------------------------------------------------------


def test_drop_first(sim, api, receiver):
    sim.set_faults(drop_first=2)
    order = api.place_order(sim, notify_url=receiver.url)
    sim.pay(order["code_url"])
    sim.wait_for_notifications(1, outcome="ok")
    assert [d["outcome"] for d in sim.notifications()] == ["dropped", "dropped", "ok"]
    assert len(receiver.received) == 1
    assert requests.get(sim.base_url + "/_sim/faults", timeout=5).json()["drop_first"] == 0


def test_duplicate(sim, api, receiver):
    sim.set_faults(duplicate=True)
    order = api.place_order(sim, notify_url=receiver.url)
    sim.pay(order["code_url"])
    received = receiver.wait(2)
    assert len(received) == 2 and received[0].body == received[1].body
    assert [d["copy"] for d in sim.wait_for_notifications(2, outcome="ok")] == [1, 2]


def test_concurrent_copies_arrive_together(sim, api, receiver):
    together = threading.Barrier(3, timeout=3)

    def handler(_received):
        try:
            together.wait()  # passes only if three requests are in flight at once
        except threading.BrokenBarrierError:
            return 200, api.FAIL_REPLY
        return 200, api.SUCCESS_REPLY

    receiver.handler = handler
    sim.set_faults(concurrent=3)
    order = api.place_order(sim, notify_url=receiver.url)
    sim.pay(order["code_url"])
    log = sim.wait_for_notifications(3, outcome="ok")
    assert sorted(d["copy"] for d in log) == [1, 2, 3] and {d["attempt"] for d in log} == {1}


def test_delay(sim, api, receiver):
    sim.set_faults(delay_seconds=0.3)
    order = api.place_order(sim, notify_url=receiver.url)
    paid_at = sim.advance(0)
    sim.pay(order["code_url"])
    assert receiver.received == []  # the notice is still held back
    (delivery,) = sim.wait_for_notifications(1, outcome="ok")
    assert delivery["at"] - paid_at >= 0.3


def test_bad_sign_probe_comes_first_and_does_not_count(sim, api, receiver):
    def handler(received):
        fields = xmlcodec.decode(received.body)
        ok = signing.is_valid(fields, sim.api_key)
        return 200, (api.SUCCESS_REPLY if ok else api.FAIL_REPLY)

    receiver.handler = handler
    sim.set_faults(bad_sign_probe=True)
    order = api.place_order(sim, notify_url=receiver.url)
    sim.pay(order["code_url"])
    sim.wait_for_notifications(1, outcome="ok")
    log = sim.notifications()
    assert [(d["kind"], d["outcome"]) for d in log] == [("probe", "fail"), ("pay", "ok")]
    first, second = (xmlcodec.decode(r.body) for r in receiver.received)
    assert not signing.is_valid(first, sim.api_key) and signing.is_valid(second, sim.api_key)
    assert {k: v for k, v in first.items() if k != "sign"} == {k: v for k, v in second.items() if k != "sign"}


def test_faults_endpoint_checks_its_input(sim):
    for bad in ({"drop_first": -1}, {"duplicate": "yes"}, {"concurrent": 0}, {"explode": True}):
        reply = requests.post(sim.base_url + "/_sim/faults", json=bad, timeout=5)
        assert reply.status_code == 400 and reply.json()["error"] == "bad_fault"
    reply = requests.post(sim.base_url + "/_sim/faults", data=b"not json", timeout=5)
    assert reply.status_code == 400


def test_faults_from_settings(api, receiver):
    with running_simulator(time_scale=0.001, faults={"duplicate": True}) as sim:
        order = api.place_order(sim, notify_url=receiver.url)
        sim.pay(order["code_url"])
        assert len(sim.wait_for_notifications(2, outcome="ok")) == 2


# -- refund notices -----------------------------------------------------------------------------------


def test_refund_notice_is_encrypted_and_unsigned(sim, api, receiver):
    order = api.place_order(sim, notify_url=receiver.url)
    transaction_id = sim.pay(order["code_url"], notify=False)
    refund = {
        "transaction_id": transaction_id, "out_refund_no": "RF0001", "total_fee": "1250", "refund_fee": "250",
        "notify_url": receiver.url,
    }  # fmt: skip
    answer = api.call(sim, "/secapi/pay/refund", refund)
    (got,) = receiver.wait(1)
    outer = xmlcodec.decode(got.body)
    assert set(outer) == {"return_code", "appid", "mch_id", "nonce_str", "req_info"}
    inner = notices.decrypt_req_info(outer["req_info"], sim.api_key)
    assert inner["refund_id"] == answer["refund_id"] and inner["out_refund_no"] == "RF0001"
    assert inner["refund_fee"] == "250" and inner["total_fee"] == "1250"
    assert inner["refund_status"] == "SUCCESS" and inner["transaction_id"] == transaction_id
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", inner["success_time"])
    assert [d["kind"] for d in sim.wait_for_notifications(1, outcome="ok")] == ["refund"]
