"""Refund notices through the real listener (waitress, SQLite), from the simulator and by hand."""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, datetime

import pytest

from pos.ledger import JobKind, MessageKind, RefundState, SaleState
from pos.orders.refunds import RefundService
from pos.wechatpay import WeChatPayClient, notices, xmlcodec

PATH = "/wechatpay/refund-notify"


@pytest.fixture
def stack(stack_factory):
    """The listener stack of conftest, its simulator with the HTTPS port for /secapi/pay/refund."""
    return stack_factory(tls=True)


def paid(stack, total: int = 1800):
    """A sale paid by the customer at the simulator, PAID through the listener's payment notice."""
    sale = stack.ring_up(total)
    stack.sim.pay(sale.code_url)
    assert stack.wait_for(lambda: stack.ledger.get_sale(sale.id).state is SaleState.PAID)
    return stack.ledger.get_sale(sale.id)


def tls_client(stack) -> WeChatPayClient:
    pki = stack.sim.pki
    merchant = dataclasses.replace(stack.config.merchant, api_base=stack.sim.tls_base_url)
    return WeChatPayClient.from_config(merchant, cert=pki.client, verify=str(pki.ca_file), retries=0)


def ask_refund(stack, sale, fee: int):
    """Reserve a refund in the ledger and send it to the simulator, leaving completion to the notice."""
    refund = stack.ledger.start_refund(sale.id, fee)
    with tls_client(stack) as client:
        client.refund(
            out_refund_no=refund.out_refund_no,
            total_fee=sale.total_fee,
            refund_fee=fee,
            out_trade_no=sale.out_trade_no,
            notify_url=stack.url + PATH,
        )
    return refund


def slips(stack, sale_id: int):
    return [j for j in stack.ledger.jobs_for_sale(sale_id) if j.kind is JobKind.REFUND_SLIP]


def refund_messages(stack, out_trade_no: str):
    return [m for m in stack.ledger.messages_for(out_trade_no) if m.kind is MessageKind.REFUND_NOTICE]


def notice_body(stack, sale, refund, *, key: str | None = None, status: str = "SUCCESS", **inner_changes):
    """A refund notice as WeChat builds it: outer fields, no sign, the facts encrypted in req_info."""
    inner = {
        "out_refund_no": refund.out_refund_no,
        "out_trade_no": sale.out_trade_no,
        "refund_account": "REFUND_SOURCE_UNSETTLED_FUNDS",
        "refund_fee": str(refund.refund_fee),
        "refund_id": "50000000000000000000000000001",
        "refund_recv_accout": "支付用户零钱",
        "refund_request_source": "API",
        "refund_status": status,
        "settlement_refund_fee": str(refund.refund_fee),
        "settlement_total_fee": str(sale.total_fee),
        "success_time": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        "total_fee": str(sale.total_fee),
        "transaction_id": sale.transaction_id or "",
        **inner_changes,
    }
    outer = {
        "return_code": "SUCCESS",
        "appid": stack.config.merchant.appid,
        "mch_id": stack.config.merchant.mch_id,
        "nonce_str": "abcdef",
        "req_info": notices.encrypt_req_info(inner, key or stack.config.merchant.api_key),
    }
    return xmlcodec.encode_as_wechat(outer)


def is_success(response) -> bool:
    return response.status_code == 200 and xmlcodec.decode(response.content)["return_code"] == "SUCCESS"


# -- the simulator's notice --------------------------------------------------------------------------


def test_the_simulators_notice_completes_the_refund_once(stack):
    sale = paid(stack, 1800)
    stack.sim.set_faults(concurrent=4)  # every delivery as four copies at the same moment
    refund = ask_refund(stack, sale, 600)

    def delivered():
        return [d for d in stack.sim.notifications() if d["kind"] == "refund" and d.get("outcome")]

    assert len(stack.wait_for(lambda: len(delivered()) >= 4 and delivered())) >= 4
    refunded = stack.ledger.get_refund(refund.out_refund_no)
    assert refunded.refund_id  # WeChat's refund_id, from the notice
    after = stack.ledger.get_sale(sale.id)
    assert after.state is SaleState.PARTLY_REFUNDED and after.refunded_fee == 600
    assert len(slips(stack, sale.id)) == 1
    assert [m.verdict for m in refund_messages(stack, sale.out_trade_no)] == ["refunded"]
    refund_deliveries = [d for d in stack.sim.notifications() if d["kind"] == "refund"]
    assert refund_deliveries and all(d["outcome"] == "ok" for d in refund_deliveries)


def test_the_refund_service_and_the_notice_finish_it_once_whoever_is_first(stack):
    sale = paid(stack, 1000)
    pki = stack.sim.pki
    cert_file, key_file = pki.client
    merchant = dataclasses.replace(stack.config.merchant, cert_file=cert_file, key_file=key_file)
    config = stack.config.replace(merchant=merchant)
    with tls_client(stack) as client:
        service = RefundService(stack.ledger, client, config)
        assert service.notify_url == stack.url + PATH
        refund = service.refund(sale.id, 1000)
    assert refund.state is RefundState.SUCCEEDED
    stack.wait_for(lambda: [d for d in stack.sim.notifications() if d["kind"] == "refund"])
    assert stack.ledger.get_sale(sale.id).state is SaleState.REFUNDED
    assert len(slips(stack, sale.id)) == 1
    # The notice races the query (the simulator sends it at once): whichever came first completed it,
    # the other changed nothing. At most the notice's one "refunded" message is kept.
    assert [m.verdict for m in refund_messages(stack, sale.out_trade_no)] in ([], ["refunded"])
    events = [e.event for e in stack.ledger.events_for_sale(sale.id)]
    assert events.count("refunded") == 1


# -- duplicates -------------------------------------------------------------------------------------


def test_duplicates_and_racing_copies_complete_it_once(stack):
    sale = paid(stack, 1500)
    refund = stack.ledger.start_refund(sale.id, 1500)
    body = notice_body(stack, sale, refund)
    results: list[bool] = []
    barrier = threading.Barrier(8)

    def deliver() -> None:
        barrier.wait()
        results.append(is_success(stack.post(body, PATH)))

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert results == [True] * 8
    assert is_success(stack.post(body, PATH))  # a late repeat
    assert stack.ledger.get_refund(refund.out_refund_no).state is RefundState.SUCCEEDED
    assert stack.ledger.get_sale(sale.id).state is SaleState.REFUNDED
    assert len(slips(stack, sale.id)) == 1
    assert [m.verdict for m in refund_messages(stack, sale.out_trade_no)] == ["refunded"]


def test_refundclose_fails_it_and_releases_the_amount(stack):
    sale = paid(stack, 900)
    refund = stack.ledger.start_refund(sale.id, 400)
    assert stack.ledger.get_sale(sale.id).refundable_fee == 500
    response = stack.post(notice_body(stack, sale, refund, status="REFUNDCLOSE"), PATH)
    assert is_success(response)
    assert stack.ledger.get_refund(refund.out_refund_no).state is RefundState.FAILED
    after = stack.ledger.get_sale(sale.id)
    assert after.state is SaleState.PAID and after.refundable_fee == 900
    assert [f.kind.value for f in stack.ledger.flags_for_sale(sale.id)] == ["refund_failed"]
    assert slips(stack, sale.id) == []
    # A SUCCESS notice for it afterwards is a conflict kept for the manager, not a refund.
    assert is_success(stack.post(notice_body(stack, sale, refund), PATH))
    assert stack.ledger.get_refund(refund.out_refund_no).state is RefundState.FAILED
    assert [m.verdict for m in refund_messages(stack, sale.out_trade_no)] == ["refund_failed", "conflict"]


def test_genuine_but_not_ours_or_not_matching_is_kept_and_changes_nothing(stack):
    sale = paid(stack, 800)
    refund = stack.ledger.start_refund(sale.id, 300)
    wrong_amount = notice_body(stack, sale, refund, refund_fee="301")
    assert is_success(stack.post(wrong_amount, PATH))
    assert stack.ledger.get_refund(refund.out_refund_no).state is RefundState.PENDING
    unknown = notice_body(stack, sale, refund, out_refund_no="MADE-ON-THE-PLATFORM")
    assert is_success(stack.post(unknown, PATH))
    assert [m.verdict for m in refund_messages(stack, sale.out_trade_no)] == ["mismatch", "unknown_refund"]
    assert slips(stack, sale.id) == []
    assert "refund_notice_mismatch" in [e.event for e in stack.ledger.events_for_sale(sale.id)]


# -- forged and hostile bodies --------------------------------------------------------------------------


def test_forged_req_info_is_refused_and_writes_nothing(stack):
    sale = paid(stack, 700)
    refund = stack.ledger.start_refund(sale.id, 700)
    forged = notice_body(stack, sale, refund, key="0" * 32)
    response = stack.post(forged, PATH)
    assert response.status_code == 200
    reply = xmlcodec.decode(response.content)
    assert reply["return_code"] == "FAIL" and "解密" in reply["return_msg"]
    assert stack.ledger.get_refund(refund.out_refund_no).state is RefundState.PENDING
    assert refund_messages(stack, sale.out_trade_no) == []
    assert slips(stack, sale.id) == []


def hostile_bodies(stack, sale, refund):
    good = xmlcodec.decode(notice_body(stack, sale, refund))
    return {
        "empty": b"",
        "not xml": b"hello",
        "doctype": (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
            b"<xml><return_code>&e;</return_code></xml>"
        ),
        "nested": b"<xml><return_code><a>SUCCESS</a></return_code></xml>",
        "latin-1": "<xml><return_code>SUCCESS</return_code><x>\xe9</x></xml>".encode("latin-1"),
        "no return_code": xmlcodec.encode_as_wechat({k: v for k, v in good.items() if k != "return_code"}),
        "no req_info": xmlcodec.encode_as_wechat({k: v for k, v in good.items() if k != "req_info"}),
        "req_info not base64": xmlcodec.encode_as_wechat({**good, "req_info": "!!!not base64!!!"}),
        "req_info not blocks": xmlcodec.encode_as_wechat({**good, "req_info": "QUJD"}),
        "req_info truncated": xmlcodec.encode_as_wechat({**good, "req_info": good["req_info"][:-24]}),
        "other mch_id": xmlcodec.encode_as_wechat({**good, "mch_id": "19999999"}),
        "other appid": xmlcodec.encode_as_wechat({**good, "appid": "wx0000000000000000"}),
        "encrypted junk": xmlcodec.encode_as_wechat(
            {**good, "req_info": notices.encrypt_req_info({"x": "1"}, stack.config.merchant.api_key)}
        ),
    }


def test_hostile_bodies_are_refused_without_a_trace_of_them(stack, caplog):
    sale = paid(stack, 600)
    refund = stack.ledger.start_refund(sale.id, 600)
    for name, body in hostile_bodies(stack, sale, refund).items():
        response = stack.post(body, PATH)
        assert response.status_code in (200, 400), name
        reply = xmlcodec.decode(response.content)
        assert reply["return_code"] == "FAIL", name
        assert "Traceback" not in response.text
    assert stack.ledger.get_refund(refund.out_refund_no).state is RefundState.PENDING
    # Nothing is kept under the sale (the one that decrypted but held junk is kept without a sale).
    assert refund_messages(stack, sale.out_trade_no) == []
    assert "Traceback" not in caplog.text and "/etc/passwd" not in caplog.text


def test_a_big_body_is_refused_before_it_is_read(stack):
    response = stack.post(b"<xml>" + b"x" * (stack.config.listener.max_body + 10) + b"</xml>", PATH)
    assert response.status_code == 413  # waitress's own limit answers before the app runs


def test_only_post_on_the_refund_path(stack):
    for method in ("GET", "PUT", "DELETE", "OPTIONS"):
        response = stack.http.request(method, stack.url + PATH, timeout=10)
        assert response.status_code == 404, method
    assert stack.http.get(stack.url + "/wechatpay/refund-notify/x", timeout=10).status_code == 404


def test_return_code_fail_is_acknowledged_and_changes_nothing(stack):
    body = xmlcodec.encode_as_wechat({"return_code": "FAIL", "return_msg": "参数格式校验错误"})
    response = stack.post(body, PATH)
    assert is_success(response)


def test_change_holds_it_keeps_the_amount_reserved_and_a_later_success_completes_it(stack):
    sale = paid(stack, 900)
    refund = stack.ledger.start_refund(sale.id, 400)
    response = stack.post(notice_body(stack, sale, refund, status="CHANGE"), PATH)
    assert is_success(response)
    held = stack.ledger.get_refund(refund.out_refund_no)
    assert held.state is RefundState.HELD
    after = stack.ledger.get_sale(sale.id)
    assert (after.state, after.refunded_fee, after.refundable_fee) == (SaleState.PAID, 0, 500)
    assert [f.kind.value for f in stack.ledger.flags_for_sale(sale.id)] == ["refund_held"]
    assert slips(stack, sale.id) == []
    assert is_success(stack.post(notice_body(stack, sale, refund, status="CHANGE"), PATH))  # a repeat
    assert stack.ledger.get_refund(refund.out_refund_no) == held
    # The manager re-sent it on the merchant platform; WeChat's SUCCESS notice completes it.
    assert is_success(stack.post(notice_body(stack, sale, refund), PATH))
    assert stack.ledger.get_refund(refund.out_refund_no).state is RefundState.SUCCEEDED
    assert stack.ledger.get_sale(sale.id).state is SaleState.PARTLY_REFUNDED
    assert len(slips(stack, sale.id)) == 1
    assert [m.verdict for m in refund_messages(stack, sale.out_trade_no)] == ["refund_held", "refunded"]
