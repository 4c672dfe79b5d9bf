"""The v2 signature against published vectors, and its rules as properties."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pos.wechatpay import sign as signing
from pos.wechatpay.errors import SignatureError

KEY = "192006250b4c09247ec02edce69f6a2d"

# 安全规范 4_3, the official worked example.
OFFICIAL = {
    "appid": "wxd930ea5d5a258f4f",
    "mch_id": "10000100",
    "device_info": "1000",
    "body": "test",
    "nonce_str": "ibuaiVcKdpRxkhJA",
}

NOTICE = {
    "appid": "wx2421b1c4370ec43b",
    "attach": "kiosk-01",
    "bank_type": "OTHERS",
    "cash_fee": "1",
    "fee_type": "CNY",
    "is_subscribe": "N",
    "mch_id": "10000100",
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

UNIFIED_ORDER = {
    "appid": "wx2421b1c4370ec43b",
    "body": "Kiosk-Coffee",
    "mch_id": "10000100",
    "nonce_str": "1add1a30ac87aa2db72f57a2375d8fec",
    "notify_url": "https://example.com/wxpay/notify",
    "out_trade_no": "K0120240101120000001",
    "product_id": "SKU-001",
    "spbill_create_ip": "14.23.150.211",
    "total_fee": "1",
    "trade_type": "NATIVE",
}

BIZPAYURL = {
    "appid": "wx2421b1c4370ec43b",
    "mch_id": "10000100",
    "nonce_str": "f6808210402125e30663234f94c87a8c",
    "product_id": "88888",
    "time_stamp": "1414488825",
}


def test_official_string_to_sign():
    assert signing.signing_bytes(OFFICIAL, KEY) == (
        b"appid=wxd930ea5d5a258f4f&body=test&device_info=1000&mch_id=10000100"
        b"&nonce_str=ibuaiVcKdpRxkhJA&key=192006250b4c09247ec02edce69f6a2d"
    )


@pytest.mark.parametrize(
    ("fields", "sign_type", "expected"),
    [
        (OFFICIAL, "MD5", "9A0A8659F005D6984697E2CA0A9CF3B7"),
        (OFFICIAL, "HMAC-SHA256", "6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6"),
        ({"test1": "test1", "test2": "test2"}, "MD5", "1E3A8D73B5A4AEE787C0F68B5DAB8520"),
        (
            {"test1": "test1", "test2": "test2"},
            "HMAC-SHA256",
            "EDAC6D70D2FDF5A2382F8204FC96A1918017E46ACC5297F565ED1A7610ACF659",
        ),
        (NOTICE, "MD5", "3E9CF577B9317CDABF33103AB1B12AC4"),
        (NOTICE, "HMAC-SHA256", "A4A75E54C4242CC7923DBCA191465373D2BF8500008487A4EDC7645FC487A276"),
        (UNIFIED_ORDER, "MD5", "EC2B191A3F77DAF8FE2E79BAC48DE0C8"),
        (BIZPAYURL, "MD5", "F7F116C5B792712848C3297798FEAAE8"),
    ],
    ids=[
        "official-md5",
        "official-hmac",
        "wechatpy-md5",
        "wechatpy-hmac",
        "notice-md5",
        "notice-hmac",
        "unifiedorder-md5",
        "bizpayurl-md5",
    ],
)
def test_published_vectors(fields, sign_type, expected):
    assert signing.sign(fields, KEY, sign_type) == expected
    assert signing.is_valid({**fields, "sign": expected}, KEY, sign_type)


def test_sign_field_and_empty_values_are_not_signed():
    base = signing.sign(OFFICIAL, KEY)
    assert signing.sign({**OFFICIAL, "sign": "ANYTHING"}, KEY) == base
    assert signing.sign({**OFFICIAL, "attach": ""}, KEY) == base
    # but "0" is a value, not an empty one (wechatpy's truthiness test gets this wrong)
    assert signing.sign({**OFFICIAL, "attach": "0"}, KEY) != base


def test_unknown_fields_and_sign_type_are_signed():
    base = signing.sign(OFFICIAL, KEY)
    assert signing.sign({**OFFICIAL, "merchant_id": "42"}, KEY) != base
    with_type = {**OFFICIAL, "sign_type": "MD5"}
    assert b"&sign_type=MD5&" in signing.signing_bytes(with_type, KEY)
    assert signing.sign(with_type, KEY) != base


def test_names_sorted_by_byte_order_case_sensitive():
    fields = {"b": "1", "B": "2", "a_b": "3", "ab": "4"}
    assert signing.signing_bytes(fields, "k") == b"B=2&a_b=3&ab=4&b=1&key=k"


def test_chinese_values_hash_utf8_bytes():
    fields = {"body": "演示小店-咖啡", "mch_id": "1"}
    expected = hashlib.md5("body=演示小店-咖啡&mch_id=1&key=k".encode()).hexdigest().upper()
    assert signing.sign(fields, "k") == expected


def test_is_valid_rejects_missing_wrong_and_other_algorithm():
    good = signing.signed(OFFICIAL, KEY)
    assert signing.is_valid(good, KEY)
    assert signing.is_valid({**good, "sign": good["sign"].lower()}, KEY)  # hex case is not the message
    assert not signing.is_valid(OFFICIAL, KEY)
    assert not signing.is_valid({**good, "sign": ""}, KEY)
    assert not signing.is_valid({**good, "body": "tesT"}, KEY)
    assert not signing.is_valid(good, "0" * 32)
    assert not signing.is_valid(good, KEY, "HMAC-SHA256")
    assert not signing.is_valid({**good, "sign": "非ASCII"}, KEY)


def test_is_valid_compares_in_constant_time(monkeypatch):
    calls = []
    real = signing.hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(signing.hmac, "compare_digest", spy)
    good = signing.signed(OFFICIAL, KEY)
    assert signing.is_valid(good, KEY)
    assert not signing.is_valid({**good, "sign": "0" * 32}, KEY)
    assert len(calls) == 2


def test_unknown_sign_type_is_refused():
    with pytest.raises(ValueError, match="HMAC_SHA256"):
        signing.sign(OFFICIAL, KEY, "HMAC_SHA256")
    with pytest.raises(SignatureError, match="unknown sign_type"):
        signing.verify(signing.signed(OFFICIAL, KEY), KEY, "SHA1")


def test_verify_raises_for_missing_and_wrong():
    good = signing.signed(OFFICIAL, KEY, "HMAC-SHA256")
    signing.verify(good, KEY, "HMAC-SHA256")
    with pytest.raises(SignatureError, match="no sign"):
        signing.verify(OFFICIAL, KEY)
    with pytest.raises(SignatureError, match="does not match"):
        signing.verify(good, KEY, "MD5")


def test_signed_drops_empty_values_and_old_sign():
    out = signing.signed({**OFFICIAL, "attach": "", "sign": "OLD"}, KEY)
    assert "attach" not in out
    assert out["sign"] == "9A0A8659F005D6984697E2CA0A9CF3B7"


def test_new_nonce_is_fresh_and_fits():
    nonces = {signing.new_nonce() for _ in range(50)}
    assert len(nonces) == 50
    assert all(len(n) == 32 and n.isalnum() for n in nonces)


names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_0123456789", min_size=1, max_size=12).filter(
    lambda n: n != "sign"
)
values = st.text(min_size=0, max_size=20)
messages = st.dictionaries(names, values, max_size=8)


@given(messages, st.sampled_from(signing.SIGN_TYPES))
def test_signed_messages_verify_and_any_change_breaks_them(fields, sign_type):
    good = signing.signed(fields, KEY, sign_type)
    assert signing.is_valid(good, KEY, sign_type)
    assert len(good["sign"]) == (32 if sign_type == "MD5" else 64)
    for name, value in good.items():
        if name != "sign":
            assert not signing.is_valid({**good, name: value + "x"}, KEY, sign_type)
    assert not signing.is_valid({**good, "zz_extra": "1"}, KEY, sign_type)


@given(messages)
def test_sign_ignores_insertion_order(fields):
    reversed_fields = dict(reversed(list(fields.items())))
    assert signing.sign(fields, KEY) == signing.sign(reversed_fields, KEY)
