"""v3 notices through the real listener (waitress, SQLite) with ``[merchant] api = "v3"``: the
simulator's signed, encrypted notices over real HTTP, and forged, probing and wrong-API ones."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from pos import config as pos_config
from pos.ledger import LineItem, MessageKind, PaidStatus, PaymentSource, RefundState, SaleState, open_ledger
from pos.listener import create_app
from pos.sandbox.testing import running_simulator
from pos.sandbox.v3files import v3_merchant
from pos.wechatpay.factory import client_for
from pos.wechatpay.v3 import crypto

from .conftest import Served, Stack, make_config

REFUND_PATH = "/wechatpay/refund-notify"


@contextlib.contextmanager
def v3_stack(tmp_path, database_url: str, certificate_mode: bool = False) -> Iterator[Stack]:
    """The listener on v3; ``certificate_mode``: WeChat signs with its platform certificate, which
    the listener (and the test's client) download from ``/v3/certificates`` into a folder."""
    sign_with = "certificate" if certificate_mode else "public_key"
    with running_simulator(time_scale=0.001, v3_sign_with=sign_with) as sim:
        served = Served(pos_config.ListenerConfig())
        try:
            base = make_config(tmp_path, sim, database_url)
            merchant = v3_merchant(
                base.merchant, tmp_path / "keys", sim.v3, certificate_mode=certificate_mode
            )
            config = base.replace(merchant=pos_config.MerchantConfig(
                **{**merchant.__dict__, "notify_url": served.base_url + "/wechatpay/notify"}
            ))  # fmt: skip
            ledger = open_ledger(config.database.url)
            served.app = create_app(config, ledger)
            client = client_for(config.merchant, retries=0)
            stack = Stack(sim, ledger, config, served.base_url, client)  # type: ignore[arg-type]
            try:
                yield stack
            finally:
                stack.http.close()
                client.close()
                ledger.close()
        finally:
            served.stop()


@pytest.fixture(params=["public_key", "certificate"])
def stack(tmp_path, database_url, request) -> Iterator[Stack]:
    """Each v3 notice test runs in both of WeChat's modes: public key and platform certificates."""
    with v3_stack(tmp_path, database_url, certificate_mode=request.param == "certificate") as s:
        yield s


def ring_up(stack: Stack, total_fee: int = 1800):
    sale = stack.ledger.create_sale(store="S01", lane="01", items=[LineItem("拿铁", total_fee)])
    expires = datetime.now(UTC) + timedelta(minutes=15)
    order = stack.client.unified_order(
        out_trade_no=sale.out_trade_no, total_fee=total_fee, body=sale.body, notify_url=stack.notify_url,
        spbill_create_ip="127.0.0.1", time_expire=expires,
    )  # fmt: skip
    return stack.ledger.record_order(sale.id, code_url=order.code_url, prepay_id="", expires_at=expires)


def sealed_notice(stack: Stack, inner: dict, *, event: str = "TRANSACTION.SUCCESS", key: str = "") -> bytes:
    """A v3 notice envelope around ``inner``, encrypted with ``key`` (ours by default)."""
    nonce = crypto.new_nonce()[:12]
    original = "transaction" if event.startswith("TRANSACTION") else "refund"
    ciphertext = crypto.aes_encrypt(key or stack.config.merchant.apiv3_key, nonce, original,
                                    json.dumps(inner).encode())  # fmt: skip
    return json.dumps({
        "id": "EV-" + nonce, "create_time": "2026-12-04T10:00:00+08:00", "resource_type": "encrypt-resource",
        "event_type": event, "summary": "支付成功",
        "resource": {"original_type": original, "algorithm": "AEAD_AES_256_GCM", "ciphertext": ciphertext,
                     "associated_data": original, "nonce": nonce},
    }).encode()  # fmt: skip


def transaction(stack: Stack, sale, *, total: int | None = None, mchid: str = "") -> dict:
    return {
        "appid": stack.config.merchant.appid, "mchid": mchid or stack.config.merchant.mch_id,
        "out_trade_no": sale.out_trade_no, "transaction_id": f"42000000002026120{sale.id:011d}",
        "trade_type": "NATIVE", "trade_state": "SUCCESS", "trade_state_desc": "支付成功",
        "bank_type": "OTHERS",
        "success_time": datetime.now(UTC).isoformat(timespec="seconds"),
        "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
        "amount": {"total": total or sale.total_fee, "payer_total": total or sale.total_fee,
                   "currency": "CNY"},
    }  # fmt: skip


def post(
    stack: Stack, body: bytes, headers: dict[str, str], path: str = "/wechatpay/notify"
) -> requests.Response:
    sent = {"Content-Type": "application/json", **headers}
    return stack.http.post(stack.url + path, data=body, headers=sent, timeout=10)


def wechat_signed(stack: Stack, body: bytes, fault: str = "") -> dict[str, str]:
    """Headers signed with the simulator's WeChat Pay key: what only WeChat can produce."""
    headers, _ = stack.sim.sim.v3.signed_headers(body, fault=fault)
    return headers


def nothing_written(stack: Stack, sale) -> None:
    assert stack.ledger.get_sale(sale.id).state is SaleState.AWAITING_PAYMENT
    assert stack.ledger.payments_for_sale(sale.id) == []
    assert stack.ledger.messages_for(sale.out_trade_no) == []


def test_a_paid_v3_order_is_marked_paid_once_by_its_notice_answered_204(stack):
    sale = ring_up(stack)
    stack.sim.set_faults(duplicate=True)
    stack.sim.pay(sale.code_url)
    assert stack.wait_for(lambda: stack.ledger.get_sale(sale.id).state is SaleState.PAID)
    deliveries = stack.sim.wait_for_notifications(2, outcome="ok")
    assert {d["status"] for d in deliveries} == {204}
    [payment] = stack.ledger.payments_for_sale(sale.id)
    assert payment.source is PaymentSource.NOTICE and payment.total_fee == 1800
    [order] = [o for o in stack.sim.orders() if o["out_trade_no"] == sale.out_trade_no]
    assert stack.ledger.get_sale(sale.id).transaction_id == order["transaction_id"]


def test_a_signtest_probe_is_refused_and_the_real_notice_that_follows_pays(stack):
    sale = ring_up(stack)
    stack.sim.set_faults(bad_sign_probe=True)
    stack.sim.pay(sale.code_url)
    assert stack.wait_for(lambda: stack.ledger.get_sale(sale.id).state is SaleState.PAID)
    stack.sim.wait_for_notifications(1, outcome="ok")  # the sale is PAID before the 204 is logged
    statuses = [d["status"] for d in stack.sim.notifications()]
    assert statuses[0] == 401 and 204 in statuses


@pytest.mark.parametrize(
    "fault", ["signtest", "bad_signature", "stale_timestamp", "wrong_serial", "missing_headers"]
)
def test_forged_replayed_and_probe_notices_are_refused_and_change_nothing(stack, fault):
    sale = ring_up(stack)
    body = sealed_notice(stack, transaction(stack, sale))
    answer = post(stack, body, wechat_signed(stack, body, fault))
    assert answer.status_code == 401
    assert answer.json()["code"] == "FAIL" and answer.json()["message"]
    nothing_written(stack, sale)


def test_a_body_changed_after_signing_or_sealed_with_another_key_is_refused(stack):
    sale = ring_up(stack)
    body = sealed_notice(stack, transaction(stack, sale))
    headers = wechat_signed(stack, body)
    tampered = body.replace(b'"summary": "', b'"summary": "x', 1)
    assert post(stack, tampered, headers).status_code == 401
    foreign = sealed_notice(stack, transaction(stack, sale), key="K" * 32)
    answer = post(stack, foreign, wechat_signed(stack, foreign))
    assert answer.status_code == 400 and answer.json()["code"] == "FAIL"
    other = sealed_notice(stack, transaction(stack, sale, mchid="1230000109"))
    assert post(stack, other, wechat_signed(stack, other)).status_code == 400
    nothing_written(stack, sale)


def test_a_signed_notice_with_the_wrong_amount_is_flagged_not_paid(stack):
    sale = ring_up(stack)
    body = sealed_notice(stack, transaction(stack, sale, total=1))
    answer = post(stack, body, wechat_signed(stack, body))
    assert answer.status_code == 204 and answer.content == b""
    assert stack.ledger.get_sale(sale.id).state is not SaleState.PAID
    [message] = stack.ledger.messages_for(sale.out_trade_no)
    assert message.kind is MessageKind.NOTICE and message.verdict == PaidStatus.AMOUNT_MISMATCH.value


def test_a_payment_event_on_the_refund_path_and_a_v2_notice_are_refused(stack):
    sale = ring_up(stack)
    body = sealed_notice(stack, transaction(stack, sale))
    assert post(stack, body, wechat_signed(stack, body), REFUND_PATH).status_code == 400
    v2 = (
        b"<xml><return_code>SUCCESS</return_code><out_trade_no>"
        + sale.out_trade_no.encode()
        + b"</out_trade_no></xml>"
    )
    answer = stack.http.post(
        stack.url + "/wechatpay/notify", data=v2, headers={"Content-Type": "text/xml"}, timeout=10
    )
    assert answer.status_code == 401 and answer.json()["code"] == "FAIL"
    nothing_written(stack, sale)


def test_in_certificate_mode_the_listener_downloads_and_keeps_the_certificates(tmp_path, database_url):
    with v3_stack(tmp_path, database_url, certificate_mode=True) as stack:
        folder = Path(stack.config.merchant.platform_certificates_dir)
        assert not list(folder.glob("*.pem"))  # nothing downloaded yet
        sale = ring_up(stack)
        stack.sim.pay(sale.code_url)
        assert stack.wait_for(lambda: stack.ledger.get_sale(sale.id).state is SaleState.PAID)
        [delivery] = stack.sim.wait_for_notifications(1, outcome="ok")
        assert delivery["status"] == 204
        assert [p.stem for p in folder.glob("*.pem")] == [stack.sim.v3["platform_serial_no"]]

        # WeChat rotates: the next notice names a serial the listener has not seen; it downloads
        # the list once and believes it, at the first delivery.
        new = stack.sim.rotate_platform_certificate()["platform_serial_no"]
        later = ring_up(stack)
        stack.sim.pay(later.code_url)
        assert stack.wait_for(lambda: stack.ledger.get_sale(later.id).state is SaleState.PAID)
        stack.sim.wait_for_notifications(2, outcome="ok")
        attempts = [d["status"] for d in stack.sim.notifications() if d["out_trade_no"] == later.out_trade_no]
        assert attempts == [204]  # believed at the first delivery, not after a retry
        assert {p.stem for p in folder.glob("*.pem")} == {stack.sim.v3["platform_serial_no"], new}


def test_a_v3_notice_on_a_v2_listener_is_refused(stack_factory):
    v2 = stack_factory()
    sale = v2.ring_up()
    body = b'{"resource_type": "encrypt-resource", "event_type": "TRANSACTION.SUCCESS"}'
    headers = wechat_signed(v2, body)  # the same simulator's WeChat key: genuinely signed, wrong API
    answer = post(v2, body, headers)
    assert answer.status_code == 400 and b"FAIL" in answer.content
    assert v2.ledger.get_sale(sale.id).state is SaleState.AWAITING_PAYMENT
    assert v2.ledger.messages_for(sale.out_trade_no) == []


def test_a_v3_refund_notice_completes_a_pending_refund_once(stack):
    sale = ring_up(stack)
    stack.sim.pay(sale.code_url)
    assert stack.wait_for(lambda: stack.ledger.get_sale(sale.id).state is SaleState.PAID)
    sale = stack.ledger.get_sale(sale.id)
    refund = stack.ledger.start_refund(sale.id, 500)
    stack.client.refund(
        out_refund_no=refund.out_refund_no, total_fee=sale.total_fee, refund_fee=500,
        out_trade_no=sale.out_trade_no, notify_url=stack.url + REFUND_PATH,
    )  # fmt: skip
    assert stack.wait_for(
        lambda: stack.ledger.get_refund(refund.out_refund_no).state is RefundState.SUCCEEDED
    )
    deliveries = stack.sim.wait_for_notifications(1, kind="refund", outcome="ok")
    assert deliveries and deliveries[0]["status"] == 204
    kept = [m for m in stack.ledger.messages_for(sale.out_trade_no) if m.kind is MessageKind.REFUND_NOTICE]
    assert [m.verdict for m in kept] == ["refunded"]


@pytest.mark.parametrize(
    "change",
    [
        {"Wechatpay-Timestamp": "\u00b2"},  # a digit to str.isdigit, not to int(): latin-1 byte 0xB2
        {"Wechatpay-Timestamp": "9" * 40},
        {"Wechatpay-Signature": "!!not base64!!"},
        {"Wechatpay-Nonce": "\u00ff" * 300},
        {"Wechatpay-Serial": "PUB_KEY_ID_\u00e9"},
        {"Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA1024"},
    ],
)
def test_hostile_signature_headers_get_a_4xx_and_change_nothing(stack, change):
    sale = ring_up(stack)
    body = sealed_notice(stack, transaction(stack, sale))
    headers = {**wechat_signed(stack, body), **change}
    answer = post(stack, body, headers)
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.json()["code"] == "FAIL"
    nothing_written(stack, sale)


@pytest.mark.parametrize("body", [b"", b"null", b"[]", b"{" * 5000, '{"a": "\u00e9"}'.encode("latin-1")])
def test_hostile_bodies_signed_by_wechat_get_a_4xx(stack, body):
    answer = post(stack, body, wechat_signed(stack, body))
    assert 400 <= answer.status_code < 500, answer.text
    answer = post(stack, body, wechat_signed(stack, body), REFUND_PATH)
    assert 400 <= answer.status_code < 500, answer.text
