"""Payment notices, mode-one callbacks and refund notices, as WeChat sends them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pos.wechatpay import notices, xmlcodec
from pos.wechatpay import sign as signing
from pos.wechatpay.errors import (
    BusinessError,
    DecryptError,
    ForbiddenMarkup,
    InvalidField,
    ProtocolFail,
    SignatureError,
    SignTypeMismatch,
    WrongMerchant,
)

KEY = "192006250b4c09247ec02edce69f6a2d"
APPID = "wx2421b1c4370ec43b"
MCH_ID = "10000100"
OURS = {"api_key": KEY, "appid": APPID, "mch_id": MCH_ID}

# The §2.4 notification vector: its MD5 and HMAC signs are published values.
NOTICE = {
    "appid": APPID,
    "attach": "kiosk-01",
    "bank_type": "OTHERS",
    "cash_fee": "1",
    "fee_type": "CNY",
    "is_subscribe": "N",
    "mch_id": MCH_ID,
    "nonce_str": "5d2b6c2a8db53831f7eda20af46e531c",
    "openid": "oUpF8uMEb4qRXf22hE3X68TekukE",
    "out_trade_no": "K0120240101120000001",
    "result_code": "SUCCESS",
    "return_code": "SUCCESS",
    "time_end": "20240101120105",
    "total_fee": "1",
    "trade_type": "NATIVE",
    "transaction_id": "4200000000202401011234567890",
}
MD5_SIGN = "3E9CF577B9317CDABF33103AB1B12AC4"
HMAC_SIGN = "A4A75E54C4242CC7923DBCA191465373D2BF8500008487A4EDC7645FC487A276"


def wire(fields):
    """As WeChat writes it: total_fee bare, the rest in CDATA."""
    return xmlcodec.encode_as_wechat(fields, bare={"total_fee"})


def test_two_step_md5_notice():
    fields = notices.read_notice(wire({**NOTICE, "sign": MD5_SIGN}))
    notice = notices.verify_payment_notice(fields, **OURS, order_sign_type="MD5")
    assert notice.out_trade_no == "K0120240101120000001"
    assert notice.transaction_id == "4200000000202401011234567890"
    assert notice.total_fee == 1 and notice.cash_fee == 1
    assert notice.fee_type == "CNY" and notice.trade_type == "NATIVE"
    assert notice.time_end == datetime(2024, 1, 1, 4, 1, 5, tzinfo=UTC)
    assert notice.time_end.utcoffset().total_seconds() == 8 * 3600
    assert notice.openid == "oUpF8uMEb4qRXf22hE3X68TekukE"
    assert notice.attach == "kiosk-01" and notice.sign_type == "MD5"
    assert notice.fields["sign"] == MD5_SIGN


def test_hmac_notice_without_sign_type_verifies_with_the_orders_type():
    fields = notices.read_notice(wire({**NOTICE, "sign": HMAC_SIGN}))
    with pytest.raises(SignatureError):
        notices.verify_payment_notice(fields, **OURS)  # the documented default, MD5, fails
    notice = notices.verify_payment_notice(fields, **OURS, order_sign_type="HMAC-SHA256")
    assert notice.sign_type == "HMAC-SHA256"


def test_a_notice_naming_another_sign_type_than_its_order_is_refused():
    fields = signing.signed({**NOTICE, "sign_type": "HMAC-SHA256"}, KEY, "HMAC-SHA256")
    with pytest.raises(SignTypeMismatch):
        notices.verify_payment_notice(fields, **OURS, order_sign_type="MD5")
    fields = signing.signed({**NOTICE, "sign_type": "MD5"}, KEY, "MD5")
    with pytest.raises(SignTypeMismatch):
        notices.verify_payment_notice(fields, **OURS, order_sign_type="HMAC-SHA256")
    assert notices.verify_payment_notice(fields, **OURS, order_sign_type="MD5").sign_type == "MD5"


def test_unknown_fields_are_kept_and_signed():
    extra = {**NOTICE, "merchant_id": "x", "coupon_fee_0": "1", "coupon_type_0": "CASH"}
    fields = notices.read_notice(wire(signing.signed(extra, KEY)))
    notice = notices.verify_payment_notice(fields, **OURS)
    assert notice.fields["merchant_id"] == "x" and notice.fields["coupon_type_0"] == "CASH"
    # a verifier that dropped the unknown field would compute another sign
    dropped = {k: v for k, v in fields.items() if k != "merchant_id"}
    with pytest.raises(SignatureError):
        notices.verify_payment_notice(dropped, **OURS)


def test_forged_amount_fails_the_signature():
    forged = {**NOTICE, "sign": MD5_SIGN, "total_fee": "100"}
    with pytest.raises(SignatureError):
        notices.verify_payment_notice(forged, **OURS)


def test_unsigned_success_notice_is_refused():
    with pytest.raises(SignatureError, match="no sign"):
        notices.verify_payment_notice(NOTICE, **OURS)


def test_other_merchant_is_refused_before_anything_else():
    other = signing.signed({**NOTICE, "mch_id": "99999999"}, KEY)
    with pytest.raises(WrongMerchant, match="mch_id"):
        notices.verify_payment_notice(other, **OURS)
    other = signing.signed({**NOTICE, "appid": "wx0000000000000000"}, KEY)
    with pytest.raises(WrongMerchant, match="appid"):
        notices.verify_payment_notice(other, **OURS)


def test_return_code_fail_is_protocol_fail():
    with pytest.raises(ProtocolFail, match="签名失败"):
        notices.verify_payment_notice({"return_code": "FAIL", "return_msg": "签名失败"}, **OURS)


def test_result_code_fail_is_business_error():
    failed = signing.signed(
        {**NOTICE, "result_code": "FAIL", "err_code": "PAYERROR", "err_code_des": "银行返回失败"}, KEY
    )
    with pytest.raises(BusinessError) as info:
        notices.verify_payment_notice(failed, **OURS)
    assert info.value.err_code == "PAYERROR" and info.value.err_code_des == "银行返回失败"


@pytest.mark.parametrize(
    ("name", "value"),
    [("total_fee", "0.01"), ("total_fee", ""), ("time_end", "2024-01-01"), ("time_end", "")],
)
def test_unreadable_fields(name, value):
    fields = signing.signed({**NOTICE, name: value}, KEY)
    with pytest.raises(InvalidField, match=name):
        notices.verify_payment_notice(fields, **OURS)


def test_read_notice_refuses_xxe():
    body = b'<!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><a>&x;</a></xml>'
    with pytest.raises(ForbiddenMarkup):
        notices.read_notice(body)


def test_parse_payment_notice_one_step():
    notice = notices.parse_payment_notice(wire({**NOTICE, "sign": MD5_SIGN}), **OURS)
    assert notice.total_fee == 1


def test_replies_are_exact():
    assert notices.success_reply() == (
        b"<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>"
    )
    reply = notices.fail_reply("签名失败")
    assert xmlcodec.decode(reply) == {"return_code": "FAIL", "return_msg": "签名失败"}


# -- mode one ---------------------------------------------------------------------------------------

CALLBACK = {
    "appid": APPID,
    "openid": "o8GeHuLAsgefS_80exEr1cTqekUs",
    "mch_id": MCH_ID,
    "is_subscribe": "Y",
    "nonce_str": "5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
    "product_id": "88888",
}


def test_scan_callback_verifies():
    fields = notices.read_notice(xmlcodec.encode_as_wechat(signing.signed(CALLBACK, KEY)))
    callback = notices.verify_scan_callback(fields, **OURS)
    assert (callback.openid, callback.product_id, callback.is_subscribe) == (
        "o8GeHuLAsgefS_80exEr1cTqekUs",
        "88888",
        "Y",
    )


def test_scan_callback_with_bad_sign_or_merchant():
    with pytest.raises(SignatureError):
        notices.verify_scan_callback({**signing.signed(CALLBACK, KEY), "product_id": "1"}, **OURS)
    with pytest.raises(WrongMerchant):
        notices.verify_scan_callback(signing.signed({**CALLBACK, "mch_id": "1"}, KEY), **OURS)
    with pytest.raises(InvalidField, match="product_id"):
        notices.verify_scan_callback(signing.signed({**CALLBACK, "product_id": ""}, KEY), **OURS)


@pytest.mark.parametrize("sign_type", ["MD5", "HMAC-SHA256"])
def test_scan_reply_is_signed_with_prepay_id(sign_type):
    reply = notices.scan_reply(
        "wx201410272009395522657a690389285100", appid=APPID, mch_id=MCH_ID, api_key=KEY, sign_type=sign_type
    )
    fields = xmlcodec.decode(reply)
    assert fields["return_code"] == fields["result_code"] == "SUCCESS"
    assert fields["prepay_id"] == "wx201410272009395522657a690389285100"
    assert fields["appid"] == APPID and fields["mch_id"] == MCH_ID and len(fields["nonce_str"]) == 32
    signing.verify(fields, KEY, sign_type)


def test_scan_fail_reply_carries_the_customers_message():
    reply = notices.scan_fail_reply("商品已下架", appid=APPID, mch_id=MCH_ID, api_key=KEY, nonce_str="n1")
    fields = xmlcodec.decode(reply)
    assert fields["return_code"] == "SUCCESS" and fields["result_code"] == "FAIL"
    assert fields["err_code_des"] == "商品已下架" and fields["nonce_str"] == "n1"
    assert "prepay_id" not in fields
    signing.verify(fields, KEY)


# -- refund notices ---------------------------------------------------------------------------------

REFUND_INNER = {
    "transaction_id": "4200000000202401011234567890",
    "out_trade_no": "K0120240101120000001",
    "refund_id": "50000000382019052709732678859",
    "out_refund_no": "R0120240101120000001",
    "total_fee": "100",
    "settlement_total_fee": "100",
    "refund_fee": "40",
    "settlement_refund_fee": "40",
    "refund_status": "SUCCESS",
    "success_time": "2024-01-01 12:30:00",
    "refund_recv_accout": "支付用户零钱",
    "refund_account": "REFUND_SOURCE_RECHARGE_FUNDS",
    "refund_request_source": "API",
}


def refund_notice_fields(inner=REFUND_INNER, key=KEY):
    return {
        "return_code": "SUCCESS",
        "appid": APPID,
        "mch_id": MCH_ID,
        "nonce_str": "abc",
        "req_info": notices.encrypt_req_info(inner, key),
    }


def test_req_info_round_trip():
    token = notices.encrypt_req_info(REFUND_INNER, KEY)
    assert notices.decrypt_req_info(token, KEY) == REFUND_INNER


def test_req_info_matches_an_independent_aes_ecb():
    """The scheme itself: AES-256-ECB, key = lowercase hex MD5 of the API key, PKCS#7, <root> XML."""
    import base64
    import hashlib

    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    key = hashlib.md5(KEY.encode()).hexdigest().encode()
    plain = b"<root><out_refund_no><![CDATA[R1]]></out_refund_no></root>"
    pad = 16 - len(plain) % 16
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    token = base64.b64encode(enc.update(plain + bytes([pad]) * pad) + enc.finalize()).decode()
    assert notices.decrypt_req_info(token, KEY) == {"out_refund_no": "R1"}
    assert notices.encrypt_req_info({"out_refund_no": "R1"}, KEY) == token


def test_refund_notice_verifies_and_types():
    body = xmlcodec.encode_as_wechat(refund_notice_fields())
    notice = notices.parse_refund_notice(body, **OURS)
    assert notice.out_refund_no == "R0120240101120000001"
    assert (notice.total_fee, notice.refund_fee, notice.settlement_refund_fee) == (100, 40, 40)
    assert notice.refund_status == "SUCCESS"
    assert notice.success_time == datetime(2024, 1, 1, 4, 30, tzinfo=UTC)
    assert notice.refund_recv_accout == "支付用户零钱"
    assert notice.outer["nonce_str"] == "abc"


@pytest.mark.parametrize(
    "req_info",
    ["not base64!", "", "QUJD", notices.encrypt_req_info(REFUND_INNER, "another-key-another-key-another-k")],
    ids=["not-base64", "empty", "not-whole-blocks", "other-key"],
)
def test_refund_notice_that_does_not_decrypt(req_info):
    fields = {**refund_notice_fields(), "req_info": req_info}
    with pytest.raises((DecryptError, InvalidField)):
        notices.verify_refund_notice(fields, **OURS)


def test_req_info_decrypting_to_non_xml():
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    key = notices._refund_key(KEY)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(b"<xml><a>1</a></xml>") + padder.finalize()
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    import base64

    token = base64.b64encode(enc.update(padded) + enc.finalize()).decode()
    with pytest.raises(DecryptError, match="<root>"):
        notices.decrypt_req_info(token, KEY)


def test_refund_notice_for_another_merchant():
    with pytest.raises(WrongMerchant):
        notices.verify_refund_notice({**refund_notice_fields(), "mch_id": "1"}, **OURS)
