"""Our v3 client against the simulator over real HTTP: every call, both ways, and forged answers."""

from __future__ import annotations

import itertools
import time
from datetime import datetime, timedelta

import pytest

from pos.wechatpay.bills import parse_bill
from pos.wechatpay.client import WeChatPayClient
from pos.wechatpay.errors import (
    AnswerNotVerified,
    BillHashMismatch,
    BusinessError,
    NoBill,
    SignatureError,
    TransportError,
    V3BusinessError,
    V3Refusal,
)
from pos.wechatpay.times import BEIJING
from pos.wechatpay.v3 import Verifier, WeChatPayV3Client
from pos.wechatpay.v3.client import BillLink

_numbers = itertools.count(1)


def trade_no() -> str:
    return f"V3{time.strftime('%H%M%S')}{next(_numbers):05d}"


def order(client: WeChatPayV3Client, merchant, out_trade_no: str, total_fee: int = 1250):
    return client.unified_order(
        out_trade_no=out_trade_no,
        total_fee=total_fee,
        body="演示小店-咖啡",
        notify_url=merchant.url + "/notify",
        spbill_create_ip="127.0.0.1",
        time_expire=datetime.now(BEIJING) + timedelta(minutes=15),
        attach="till-01",
    )


def sim_today(sim):
    return datetime.fromtimestamp(sim.advance(0), BEIJING).date()


def test_order_query_both_ways_refund_and_bill(sim, merchant, helpers):
    client = helpers.v3_client(sim)
    no = trade_no()
    placed = order(client, merchant, no)
    assert placed.code_url.startswith("weixin://wxpay/bizpayurl?pr=")
    unpaid = client.query_order(no)
    assert (unpaid.trade_state, unpaid.total_fee, unpaid.paid) == ("NOTPAY", 1250, False)

    transaction_id = sim.pay(placed.code_url, notify=False)
    by_id = client.query_order(transaction_id=transaction_id)
    by_no = client.query_order(out_trade_no=no)
    for status in (by_id, by_no):
        assert (status.out_trade_no, status.trade_state, status.transaction_id) == (
            no,
            "SUCCESS",
            transaction_id,
        )
        assert (status.total_fee, status.cash_fee, status.attach) == (1250, 1250, "till-01")
        assert status.time_end is not None and status.time_end.utcoffset() == timedelta(hours=8)
        assert status.openid and status.fields["payer.openid"] == status.openid

    accepted = client.refund(
        out_refund_no=no + "R1", total_fee=1250, refund_fee=250, out_trade_no=no, refund_desc="少找零"
    )
    assert (accepted.refund_fee, accepted.total_fee, accepted.transaction_id) == (250, 1250, transaction_id)
    again = client.refund(
        out_refund_no=no + "R1", total_fee=1250, refund_fee=250, transaction_id=transaction_id
    )
    assert again.refund_id == accepted.refund_id  # idempotent per out_refund_no
    queried = client.refund_query(out_refund_no=no + "R1")
    assert queried.refunds[0].refund_status == "SUCCESS" and queried.refunds[0].refund_fee == 250
    assert client.query_order(no).trade_state == "REFUND"

    bill = parse_bill(client.download_bill(sim_today(sim)))
    mine = [row for row in bill.rows if row.out_trade_no == no]
    assert sorted(row.trade_state for row in mine) == ["REFUND", "SUCCESS"]
    assert {row.transaction_id for row in mine} == {transaction_id}
    refund_row = next(row for row in mine if row.trade_state == "REFUND")
    assert refund_row.refund_fee == 250


def test_one_order_seen_by_both_apis(sim, merchant, helpers):
    v3 = helpers.v3_client(sim)
    v2 = WeChatPayClient(sim.appid, sim.mch_id, sim.api_key, api_base=sim.base_url, timeout=5, backoff=0)
    placed_on_v3 = trade_no()
    order(v3, merchant, placed_on_v3, total_fee=990)
    assert v2.query_order(placed_on_v3).total_fee == 990
    placed_on_v2 = trade_no()
    code_url = v2.unified_order(
        out_trade_no=placed_on_v2,
        total_fee=660,
        body="茶",
        notify_url=merchant.url + "/n",
        product_id="SKU",
        spbill_create_ip="127.0.0.1",
    ).code_url
    transaction_id = sim.pay(code_url, notify=False)
    seen = v3.query_order(transaction_id=transaction_id)
    assert (seen.out_trade_no, seen.total_fee, seen.trade_state) == (placed_on_v2, 660, "SUCCESS")
    sim.advance(301)  # a close in an order's first 5 minutes may be ignored (the early_close switch)
    v3.close_order(placed_on_v3)
    assert v2.query_order(placed_on_v3).trade_state == "CLOSED"


def test_close_and_the_errors_of_one_tree(sim, merchant, helpers):
    client = helpers.v3_client(sim)
    no = trade_no()
    placed = order(client, merchant, no)
    sim.advance(301)  # a close in an order's first 5 minutes may be ignored (the early_close switch)
    assert client.close_order(no).out_trade_no == no
    client.close_order(no)  # closing is re-entrant
    assert client.query_order(no).trade_state == "CLOSED"
    with pytest.raises(V3BusinessError) as closed:
        order(client, merchant, no)
    assert closed.value.code == "ORDER_CLOSED" and closed.value.err_code == "ORDERCLOSED"

    with pytest.raises(BusinessError) as unknown:
        client.query_order("NOSUCHORDER1")
    assert unknown.value.err_code == "ORDERNOTEXIST" and unknown.value.status == 404  # type: ignore[attr-defined]

    paid_no = trade_no()
    sim.pay(order(client, merchant, paid_no).code_url, notify=False)
    with pytest.raises(BusinessError) as paid:
        client.close_order(paid_no)
    assert paid.value.err_code == "ORDERPAID" and paid.value.verified  # type: ignore[attr-defined]
    with pytest.raises(BusinessError) as refund_unknown:
        client.refund_query(out_refund_no="NOSUCHREFUND")
    assert refund_unknown.value.err_code == "REFUNDNOTEXIST"
    assert placed.code_url  # the closed order's code_url is dead on the phone too
    with pytest.raises(Exception, match="closed"):
        sim.pay(placed.code_url)


def test_a_request_signed_with_another_key_is_refused_with_sign_error(sim, merchant, helpers):
    from cryptography.hazmat.primitives.asymmetric import rsa

    wrong = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    client = helpers.v3_client(sim, retries=0)
    client.private_key = wrong
    with pytest.raises(V3Refusal) as refused:
        client.query_order("ANYORDER01")
    assert (refused.value.status, refused.value.code) == (401, "SIGN_ERROR")
    assert refused.value.detail["sign_information"]["url"].startswith("/v3/pay/transactions/out-trade-no/")


@pytest.mark.parametrize(
    "fault",
    ["bad_signature", "stale_timestamp", "signtest", "wrong_serial", "tampered_body", "missing_headers"],
)
def test_an_answer_we_cannot_verify_is_an_unknown_outcome(sim, merchant, helpers, fault):
    client = helpers.v3_client(sim)
    no = trade_no()
    sim.set_faults(v3_answer=fault)
    with pytest.raises(AnswerNotVerified) as forged:
        order(client, merchant, no)
    # Both a SignatureError (what) and a TransportError (WeChat may have acted: query first).
    assert isinstance(forged.value, SignatureError) and isinstance(forged.value, TransportError)
    sim.set_faults(v3_answer="")
    assert client.query_order(no).trade_state == "NOTPAY"  # the simulator had placed it


def test_old_timestamps_are_refused_by_our_clock_too(sim, merchant, helpers):
    # The simulator signs with real time; a till whose clock is 6 minutes ahead refuses the answer.
    client = helpers.v3_client(sim)
    client.verifier.now = lambda: time.time() + 360
    with pytest.raises(AnswerNotVerified, match="away from our clock"):
        client.query_order("ANYORDER02")


def test_certificate_mode_downloads_decrypts_and_verifies(sim, merchant, helpers):
    client = helpers.v3_client(sim, verifier=Verifier())
    found = client.refresh_certificates()
    assert [c.serial_no for c in found] == [sim.v3["platform_serial_no"]]
    assert found[0].pem == sim.v3["platform_certificate"]
    no = trade_no()
    order(client, merchant, no)  # the client names the platform serial; answers are signed with it
    assert client.query_order(no).trade_state == "NOTPAY"
    # A wrong APIv3 key cannot read the certificates: nothing is trusted.
    other = helpers.v3_client(sim, verifier=Verifier(), apiv3_key="k" * 32)
    with pytest.raises(Exception, match="APIv3 key"):
        other.refresh_certificates()


def test_bill_with_a_wrong_hash_is_refused_and_an_empty_day_is_no_bill(sim, merchant, helpers):
    client = helpers.v3_client(sim)
    sim.pay(order(client, merchant, trade_no()).code_url, notify=False)
    link = client.trade_bill(sim_today(sim), gzip=False)
    assert len(link.hash_value) == 40
    with pytest.raises(BillHashMismatch):
        client.fetch_bill(BillLink(link.hash_type, "0" * 40, link.download_url))
    assert parse_bill(client.fetch_bill(link)).rows
    with pytest.raises(NoBill):
        client.download_bill(sim_today(sim) - timedelta(days=3))
    sim.advance(301)  # download URLs live five minutes
    with pytest.raises(BusinessError, match="失效"):
        client.fetch_bill(link)
