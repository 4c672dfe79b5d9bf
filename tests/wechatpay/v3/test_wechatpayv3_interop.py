"""An independent v3 client (wechatpayv3 from PyPI, public-key and certificate mode) against the simulator.

wechatpayv3 has no base-URL option: its gateway is the private attribute ``_core._gate_way``,
which we point at the simulator after construction (in public-key mode the constructor makes
no request). Everything else is the library's own signing, verification and decryption.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from pos.wechatpay.times import BEIJING

wechatpayv3 = pytest.importorskip("wechatpayv3")


@pytest.fixture
def pay(sim, merchant):
    v3 = sim.v3
    client = wechatpayv3.WeChatPay(
        wechatpay_type=wechatpayv3.WeChatPayType.NATIVE,
        mchid=v3["mchid"],
        private_key=v3["merchant_private_key"],
        cert_serial_no=v3["merchant_serial_no"],
        appid=v3["appid"],
        apiv3_key=v3["apiv3_key"],
        notify_url=merchant.url + "/notify",
        public_key=v3["wechatpay_public_key"],
        public_key_id=v3["wechatpay_public_key_id"],
        timeout=(5, 10),
    )
    client._core._gate_way = sim.base_url  # the only way to aim it elsewhere (see module doc)
    return client


def test_order_query_close_refund_and_notice(pay, sim, merchant, helpers):
    expire = (datetime.now(BEIJING) + timedelta(minutes=15)).replace(microsecond=0).isoformat()
    code, message = pay.pay(
        description="演示小店-咖啡",
        out_trade_no="WXPYV3000001",
        amount={"total": 1250},
        time_expire=expire,
        scene_info={"payer_client_ip": "127.0.0.1"},
    )
    assert code == 200, message
    code_url = json.loads(message)["code_url"]

    code, message = pay.query(out_trade_no="WXPYV3000001")
    assert code == 200 and json.loads(message)["trade_state"] == "NOTPAY"

    transaction_id = sim.pay(code_url)
    code, message = pay.query(transaction_id=transaction_id)
    assert code == 200 and json.loads(message)["out_trade_no"] == "WXPYV3000001"

    seen = helpers.wait_for(merchant, "/notify")[0]
    notice = pay.callback(seen.headers, seen.body)
    assert notice is not None, "wechatpayv3 refused the simulator's notice"
    assert notice["event_type"] == "TRANSACTION.SUCCESS"
    assert notice["resource"]["transaction_id"] == transaction_id
    assert notice["resource"]["amount"]["total"] == 1250
    forged = dict(seen.headers, **{"Wechatpay-Signature": "WECHATPAY/SIGNTEST/" + "A" * 344})
    assert pay.callback(forged, seen.body) is None

    code, message = pay.refund(
        out_refund_no="WXPYV3R00001",
        amount={"refund": 250, "total": 1250, "currency": "CNY"},
        transaction_id=transaction_id,
    )
    assert code == 200 and json.loads(message)["amount"]["refund"] == 250
    code, message = pay.query_refund(out_refund_no="WXPYV3R00001")
    assert code == 200 and json.loads(message)["status"] == "SUCCESS"

    code, message = pay.pay(description="茶", out_trade_no="WXPYV3000002", amount={"total": 600})
    assert code == 200
    sim.advance(301)  # a close in an order's first 5 minutes may be ignored (the early_close switch)
    code, message = pay.close(out_trade_no="WXPYV3000002")
    assert code == 204, message
    code, message = pay.query(out_trade_no="WXPYV3000002")
    assert json.loads(message)["trade_state"] == "CLOSED"


def test_it_refuses_a_forged_answer_from_the_simulator(pay, sim):
    assert pay.pay(description="茶", out_trade_no="WXPYV3000009", amount={"total": 600})[0] == 200
    sim.set_faults(v3_answer="bad_signature")  # it checks 2xx answers only, so ask for a known order
    with pytest.raises(Exception, match="verify the signature"):
        pay.query(out_trade_no="WXPYV3000009")


def test_errors_reach_it_as_v3_json(pay):
    code, message = pay.query(out_trade_no="WXPYV3NOSUCH")
    assert code == 404 and json.loads(message)["code"] == "ORDER_NOT_EXIST"


def test_certificate_mode_files_rotation_and_notice(merchant, helpers, tmp_path):
    """wechatpayv3 in certificate mode (no public key) against the simulator signing with its platform
    certificate: it reads the files our store wrote (the MAC lines above the PEM do not bother it),
    verifies answers and a notice, and meets a rotation by downloading /v3/certificates itself."""
    from pos.sandbox.testing import running_simulator
    from pos.wechatpay.v3.certstore import CertificateStore, StoreVerifier

    with running_simulator(time_scale=0.001, v3_sign_with="certificate") as sim:
        v3 = sim.v3
        ours = tmp_path / "ours"
        store = CertificateStore(ours, v3["apiv3_key"])
        client = helpers.v3_client(sim, StoreVerifier(store))
        store.fetch = client.certificates
        assert store.refresh("none") and [h.serial_no for h in store.certificates] == [
            v3["platform_serial_no"]
        ]
        theirs = tmp_path / "theirs"
        theirs.mkdir()
        for path in ours.glob("*.pem"):
            (theirs / path.name).write_text(path.read_text())

        # With certificates in cert_dir, the constructor makes no request (it would go to WeChat).
        pay = wechatpayv3.WeChatPay(
            wechatpay_type=wechatpayv3.WeChatPayType.NATIVE,
            mchid=v3["mchid"],
            private_key=v3["merchant_private_key"],
            cert_serial_no=v3["merchant_serial_no"],
            appid=v3["appid"],
            apiv3_key=v3["apiv3_key"],
            notify_url=merchant.url + "/notify",
            cert_dir=str(theirs),
            timeout=(5, 10),
        )
        pay._core._gate_way = sim.base_url
        code, message = pay.pay(description="茶", out_trade_no="WXPYV3CERT001", amount={"total": 600})
        assert code == 200, message
        sim.pay(json.loads(message)["code_url"])
        seen = helpers.wait_for(merchant, "/notify")[0]
        assert seen.headers["Wechatpay-Serial"] == v3["platform_serial_no"]
        notice = pay.callback(seen.headers, seen.body)
        assert notice is not None and notice["resource"]["out_trade_no"] == "WXPYV3CERT001"

        new = sim.rotate_platform_certificate()["platform_serial_no"]
        code, message = pay.query(out_trade_no="WXPYV3CERT001")  # signed with the new certificate
        assert code == 200 and json.loads(message)["trade_state"] == "SUCCESS"
        assert (theirs / f"{new}.pem").exists()  # it downloaded the rotated list itself
