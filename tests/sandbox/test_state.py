"""With a state file, orders, refunds, short URLs and the clock survive a restart."""

from __future__ import annotations

import json
import time

import pytest

from pos.sandbox.state import SimState
from pos.sandbox.testing import running_simulator
from pos.wechatpay import xmlcodec


def test_restart_keeps_orders_and_clock(tmp_path, api):
    path = tmp_path / "sim-state.json"
    with running_simulator(state_file=str(path)) as sim:
        paid = api.place_order(sim)
        transaction_id = sim.pay(paid["code_url"], notify=False)
        refund = {
            "transaction_id": transaction_id,
            "out_refund_no": "RF1",
            "total_fee": "1250",
            "refund_fee": "50",
        }
        assert api.call(sim, "/secapi/pay/refund", refund)["result_code"] == "SUCCESS"
        waiting = api.place_order(sim)
        sim.advance(600)
        before = sim.advance(0)
    assert json.loads(path.read_text(encoding="utf-8"))["version"] == 1
    assert not list(tmp_path.glob("*.tmp"))  # atomic writes leave no temp files behind

    with running_simulator(state_file=str(path)) as again:
        assert again.advance(0) >= before  # the clock offset came back
        query = api.call(again, "/pay/orderquery", {"out_trade_no": paid["out_trade_no"]})
        assert query["trade_state"] == "REFUND" and query["transaction_id"] == transaction_id
        refunds = api.call(again, "/pay/refundquery", {"out_refund_no": "RF1"})
        assert refunds["refund_fee_0"] == "50"
        # The waiting order is still payable with its code_url, and old enough to close.
        assert again.pay(waiting["code_url"], notify=False)
        same = api.call(again, "/secapi/pay/refund", refund)
        assert same["result_code"] == "SUCCESS" and same["refund_fee"] == "50"


def test_a_foreign_state_file_is_refused_clearly(tmp_path):
    path = tmp_path / "not-ours.json"
    path.write_text('{"orders": [{"what": 1}]}', encoding="utf-8")
    with pytest.raises(ValueError, match="not a simulator state file"):
        SimState(path)


def test_without_a_file_nothing_is_written(tmp_path, monkeypatch, api):
    monkeypatch.chdir(tmp_path)
    with running_simulator() as sim:
        api.place_order(sim)
    assert list(tmp_path.iterdir()) == []


def test_a_pending_notice_is_sent_again_after_a_restart(tmp_path, api, receiver):
    path = tmp_path / "sim-state.json"
    with running_simulator(state_file=str(path), time_scale=1.0, faults={"drop_first": 1}) as sim:
        order = api.place_order(sim, notify_url=receiver.url)
        transaction_id = sim.pay(order["code_url"])
        assert [d["outcome"] for d in sim.wait_for_notifications(1)] == ["dropped"]  # next try in 15 s
    assert receiver.received == []
    with running_simulator(state_file=str(path), time_scale=1.0) as again:
        again.wait_for_notifications(1, outcome="ok")
        (got,) = receiver.received
        assert xmlcodec.decode(got.body)["transaction_id"] == transaction_id
        (listed,) = again.orders()
        deadline = time.monotonic() + 5
        while listed["notice"] != "delivered" and time.monotonic() < deadline:
            time.sleep(0.01)
            (listed,) = again.orders()
        assert listed["notice"] == "delivered"
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert saved["orders"][0]["notice"] == "delivered"
