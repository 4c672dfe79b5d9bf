"""v3 notices sent by the simulator over HTTP, read by pos.wechatpay.v3.notices: the order of checks."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta

import pytest

from pos.wechatpay.errors import DecryptError, NoticeNotVerified, WrongMerchant
from pos.wechatpay.notices import PaymentNotice, RefundNotice
from pos.wechatpay.times import BEIJING
from pos.wechatpay.v3 import Verifier, fail_reply, open_notice, parse_notice
from pos.wechatpay.v3.crypto import PROBE_PREFIX


def place_and_pay(sim, merchant, helpers, out_trade_no: str, total: int = 1250) -> str:
    client = helpers.v3_client(sim)
    placed = client.unified_order(
        out_trade_no=out_trade_no,
        total_fee=total,
        body="演示小店-咖啡",
        notify_url=merchant.url + "/notify",
        time_expire=datetime.now(BEIJING) + timedelta(minutes=15),
    )
    return sim.pay(placed.code_url)


def reader(sim, **changes):
    v3 = sim.v3
    options = {
        "verifier": Verifier.public_key(v3["wechatpay_public_key_id"], v3["wechatpay_public_key"]),
        "apiv3_key": v3["apiv3_key"],
        "mchid": v3["mchid"],
        "appid": v3["appid"],
    }
    options.update(changes)
    return lambda seen: parse_notice(seen.headers, seen.body, **options)


def test_a_payment_notice_reads_as_v2s_payment_notice(sim, merchant, helpers):
    transaction_id = place_and_pay(sim, merchant, helpers, "N3PAY00001", 1250)
    seen = helpers.wait_for(merchant, "/notify")[0]
    assert seen.headers["Wechatpay-Signature-Type"] == "WECHATPAY2-SHA256-RSA2048"
    assert seen.headers["Wechatpay-Serial"] == sim.v3["wechatpay_public_key_id"]
    assert seen.headers["Content-Type"] == "application/json"
    notice = reader(sim)(seen)
    assert isinstance(notice, PaymentNotice)
    assert (notice.out_trade_no, notice.transaction_id, notice.total_fee) == (
        "N3PAY00001",
        transaction_id,
        1250,
    )
    assert notice.time_end.utcoffset() == timedelta(hours=8) and notice.openid
    envelope = json.loads(seen.body)
    assert (
        envelope["event_type"] == "TRANSACTION.SUCCESS"
        and envelope["resource"]["original_type"] == "transaction"
    )
    sim.wait_for_notifications(1, outcome="ok")  # a 204 is a delivery in v3


def test_forged_wrong_key_and_replayed_notices_are_refused_before_decrypting(sim, merchant, helpers):
    place_and_pay(sim, merchant, helpers, "N3PAY00002")
    seen = helpers.wait_for(merchant, "/notify")[0]
    read = reader(sim)
    forged = type(seen)(seen.path, seen.body.replace(b'"summary":"', b'"summary":"x'), {}, seen.headers)
    with pytest.raises(NoticeNotVerified, match="does not match"):
        read(forged)
    from cryptography.hazmat.primitives.asymmetric import rsa

    from pos.wechatpay.v3.crypto import public_pem

    stranger = public_pem(rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key())
    with pytest.raises(NoticeNotVerified):
        reader(sim, verifier=Verifier.public_key(sim.v3["wechatpay_public_key_id"], stranger))(seen)
    with pytest.raises(DecryptError):
        reader(sim, apiv3_key="0" * 32)(seen)  # signature fine, key wrong: decryption says so
    later = Verifier.public_key(
        sim.v3["wechatpay_public_key_id"], sim.v3["wechatpay_public_key"], now=lambda: time.time() + 301
    )
    with pytest.raises(NoticeNotVerified, match="away from our clock"):
        reader(sim, verifier=later)(seen)  # the same notice replayed five minutes later
    with pytest.raises(WrongMerchant):
        reader(sim, mchid="1900000000")(seen)
    missing = dict(seen.headers)
    missing.pop("Wechatpay-Nonce")
    with pytest.raises(NoticeNotVerified, match="lacks"):
        read(type(seen)(seen.path, seen.body, {}, missing))


def test_a_signtest_probe_is_refused_and_the_real_notice_follows(sim, merchant, helpers):
    merchant.answer("/notify", lambda fields: (400, fail_reply("签名错误")), (204, b""))
    sim.set_faults(bad_sign_probe=True)
    place_and_pay(sim, merchant, helpers, "N3PAY00003")
    first, second = helpers.wait_for(merchant, "/notify", 2)[:2]
    assert first.headers["Wechatpay-Signature"].startswith(PROBE_PREFIX)
    with pytest.raises(NoticeNotVerified, match="SIGNTEST"):
        reader(sim)(first)
    assert reader(sim)(second).out_trade_no == "N3PAY00003"


def test_refused_notices_are_sent_again_freshly_signed(sim, merchant, helpers):
    merchant.answer("/notify", (500, fail_reply("busy")), (204, b""))
    place_and_pay(sim, merchant, helpers, "N3PAY00004")
    first, second = helpers.wait_for(merchant, "/notify", 2)[:2]
    assert first.body == second.body
    assert first.headers["Wechatpay-Nonce"] != second.headers["Wechatpay-Nonce"]
    assert reader(sim)(second).out_trade_no == "N3PAY00004"
    log = sim.wait_for_notifications(1, outcome="ok")
    assert log[0]["attempt"] == 2 and log[0]["scheduled_delay"] == pytest.approx(15 * 0.001)


def test_a_refund_notice_reads_as_v2s_refund_notice(sim, merchant, helpers):
    transaction_id = place_and_pay(sim, merchant, helpers, "N3PAY00005", 800)
    client = helpers.v3_client(sim)
    client.refund(out_refund_no="N3REF00005", total_fee=800, refund_fee=300, out_trade_no="N3PAY00005")
    seen = helpers.wait_for(merchant, "/refund-notify")[0]
    notice = reader(sim)(seen)
    assert isinstance(notice, RefundNotice)
    assert (notice.out_refund_no, notice.refund_fee, notice.total_fee) == ("N3REF00005", 300, 800)
    assert (notice.transaction_id, notice.refund_status) == (transaction_id, "SUCCESS")
    assert notice.outer["event_type"] == "REFUND.SUCCESS"


def test_certificate_mode_notices(merchant, helpers):
    from pos.sandbox.testing import running_simulator

    with running_simulator(time_scale=0.001, v3_sign_with="certificate") as sim:
        place_and_pay(sim, merchant, helpers, "N3PAY00006")
        seen = helpers.wait_for(merchant, "/notify")[0]
        assert seen.headers["Wechatpay-Serial"] == sim.v3["platform_serial_no"]
        certificates = Verifier.certificates([sim.v3["platform_certificate"]])
        envelope = open_notice(seen.headers, seen.body, verifier=certificates, apiv3_key=sim.v3["apiv3_key"])
        assert envelope.resource["out_trade_no"] == "N3PAY00006"
        with pytest.raises(NoticeNotVerified, match="names no key"):
            reader(sim)(seen)  # a public-key-only verifier does not know the certificate
