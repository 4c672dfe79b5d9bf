"""The fault switches on the simulator's v3 paths, as a v3 client sees them on the wire: signed
500 ``SYSTEM_ERROR``, odd ``trade_state``s, refunds PROCESSING then ABNORMAL / CLOSED / SUCCESS,
the early close, and a coupon's ``promotion_detail``."""

from __future__ import annotations

import json
import uuid

import pytest

from .test_api_v3 import signed_request, verified


def native(sim, total: int = 1800) -> tuple[str, str]:
    """A v3 Native order; returns its out_trade_no and code_url."""
    no = "F3" + uuid.uuid4().hex[:20]
    body = json.dumps({
        "appid": sim.v3["appid"], "mchid": sim.v3["mchid"], "description": "拿铁", "out_trade_no": no,
        "notify_url": "http://127.0.0.1:9/notify", "amount": {"total": total, "currency": "CNY"},
    }).encode()  # fmt: skip
    answer = signed_request(sim, "POST", "/v3/pay/transactions/native", body)
    assert answer.status_code == 200, answer.text
    return no, verified(sim, answer)["code_url"]


def query(sim, no: str) -> dict:
    answer = signed_request(sim, "GET", f"/v3/pay/transactions/out-trade-no/{no}?mchid={sim.v3['mchid']}")
    assert answer.status_code == 200, answer.text
    return verified(sim, answer)


def close(sim, no: str):
    return signed_request(
        sim,
        "POST",
        f"/v3/pay/transactions/out-trade-no/{no}/close",
        json.dumps({"mchid": sim.v3["mchid"]}).encode(),
    )


def refund(sim, no: str, out_refund_no: str, fee: int, total: int):
    body = {
        "out_trade_no": no,
        "out_refund_no": out_refund_no,
        "amount": {"refund": fee, "total": total, "currency": "CNY"},
    }
    return signed_request(sim, "POST", "/v3/refund/domestic/refunds", json.dumps(body).encode())


@pytest.mark.parametrize("when", ["systemerror", "systemerror_after"])
def test_systemerror_is_a_signed_500_and_after_means_the_order_was_made(sim, when):
    sim.set_faults(calls={"unified_order": {"fault": when, "times": 1}})
    no = "F3" + uuid.uuid4().hex[:20]
    body = json.dumps({
        "appid": sim.v3["appid"], "mchid": sim.v3["mchid"], "description": "拿铁", "out_trade_no": no,
        "notify_url": "http://127.0.0.1:9/notify", "amount": {"total": 100},
    }).encode()  # fmt: skip
    answer = signed_request(sim, "POST", "/v3/pay/transactions/native", body)
    assert answer.status_code == 500
    assert verified(sim, answer) == {"code": "SYSTEM_ERROR", "message": "系统错误"}
    made = [o for o in sim.orders() if o["out_trade_no"] == no]
    assert len(made) == (1 if when == "systemerror_after" else 0)
    assert sim.sim.settings.faults.calls == {}  # the one spoiled call used the switch up
    again = signed_request(sim, "POST", "/v3/pay/transactions/native", body)
    assert again.status_code == 200 and len([o for o in sim.orders() if o["out_trade_no"] == no]) == 1


def test_a_request_that_fails_the_gate_is_refused_not_spoiled(sim):
    sim.set_faults(calls={"order_query": "systemerror"})
    answer = signed_request(
        sim, "GET", f"/v3/pay/transactions/out-trade-no/NOSUCH01?mchid={sim.v3['mchid']}", stamp=1
    )
    assert answer.status_code == 401 and answer.json()["code"] == "SIGN_ERROR"


def test_a_held_answer_after_acting_still_answers_in_the_end(sim):
    no, _ = native(sim)
    sim.set_faults(calls={"close_order": "timeout_after"}, hang_seconds=0.2, early_close="closed")
    assert close(sim, no).status_code == 204  # late, but it closed
    assert query(sim, no)["trade_state"] == "CLOSED"


@pytest.mark.parametrize("state", ["USERPAYING", "PAYERROR", "REVOKED"])
def test_trade_states_show_in_the_v3_query(sim, state):
    no, code_url = native(sim)
    sim.set_faults(trade_states={no: state})
    seen = query(sim, no)
    assert seen["trade_state"] == state and seen["trade_state_desc"]
    if state == "REVOKED":
        answer = close(sim, no)
        assert answer.status_code == 400 and verified(sim, answer)["code"] == "ORDER_CLOSED"
    else:
        sim.pay(code_url, notify=False)  # still payable; the payment ends the overlay
        assert query(sim, no)["trade_state"] == "SUCCESS"


@pytest.mark.parametrize(
    ("mode", "status", "state"),
    [("ignored", 204, "NOTPAY"), ("refused", 400, "NOTPAY"), ("closed", 204, "CLOSED")],
)
def test_an_early_close_follows_the_switch(sim, mode, status, state):
    no, _ = native(sim)
    sim.set_faults(early_close=mode)
    answer = close(sim, no)
    assert answer.status_code == status, answer.text
    if status == 400:
        assert verified(sim, answer)["code"] == "INVALID_REQUEST"
    assert query(sim, no)["trade_state"] == state
    sim.advance(301)
    assert close(sim, no).status_code == 204 and query(sim, no)["trade_state"] == "CLOSED"


@pytest.mark.parametrize(
    ("outcome", "final"), [("processing", "SUCCESS"), ("change", "ABNORMAL"), ("refundclose", "CLOSED")]
)
def test_refunds_are_processing_then_settle_in_v3_words(sim, outcome, final):
    no, code_url = native(sim, 600)
    sim.pay(code_url, notify=False)
    sim.set_faults(refund_outcome=outcome, refund_seconds=30)
    accepted = verified(sim, refund(sim, no, no + "R1", 600, 600))
    assert accepted["status"] == "PROCESSING" and "success_time" not in accepted
    looked = signed_request(sim, "GET", f"/v3/refund/domestic/refunds/{no}R1")
    assert verified(sim, looked)["status"] == "PROCESSING"
    sim.advance(31)
    settled = verified(sim, signed_request(sim, "GET", f"/v3/refund/domestic/refunds/{no}R1"))
    assert settled["status"] == final
    assert ("success_time" in settled) == (final == "SUCCESS")
    again = refund(sim, no, no + "R2", 600, 600)  # only a CLOSED refund gave its amount back
    assert again.status_code == (200 if final == "CLOSED" else 400), again.text


@pytest.mark.parametrize(("funded_by", "kind"), [("merchant", "NOCASH"), ("wechat", "CASH")])
def test_a_coupon_shows_as_payer_total_and_promotion_detail(sim, funded_by, kind):
    sim.set_faults(coupon={"fee": 300, "funded_by": funded_by})
    no, code_url = native(sim, 1800)
    sim.pay(code_url, notify=False)
    seen = query(sim, no)
    assert (seen["amount"]["total"], seen["amount"]["payer_total"]) == (1800, 1500)
    [promotion] = seen["promotion_detail"]
    assert (promotion["type"], promotion["amount"]) == (kind, 300)
