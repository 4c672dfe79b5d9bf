"""The v3 message layouts and primitives, checked against the reference's fixed examples."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from pos.wechatpay.errors import DecryptError, SignatureError
from pos.wechatpay.v3 import crypto

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_request_message_is_five_lines_each_ending_in_newline():
    # The official example: GET with an empty body still ends "\n\n".
    message = crypto.request_message(
        "get", "/v3/certificates", "1554208460", "593BEC0C930BF1AFEB40B4A08C8FB242"
    )
    assert message == b"GET\n/v3/certificates\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n\n"


def test_answer_message_covers_the_raw_body():
    assert crypto.answer_message("1722850421", "n", b'{"a":1}') == b'1722850421\nn\n{"a":1}\n'
    assert crypto.answer_message("1", "n", b"") == b"1\nn\n\n"


def test_aes_gcm_matches_the_reference_vector():
    # docs/wechatpay-v3.md §7 (computed with Python cryptography for the reference).
    key, nonce, aad = "0123456789abcdef0123456789abcdef", "fdasflkja484", "transaction"
    sealed = "DUcclrHBE5NffFMk6pzEyhUOzEv805vSXVdOTWcxr669KE1ZsfUaWu+xWJDRToaFm60JTfuIXPEGBSOvnA=="
    plain = b'{"out_trade_no":"T1","trade_state":"SUCCESS"}'
    assert crypto.aes_encrypt(key, nonce, aad, plain) == sealed
    assert crypto.aes_decrypt(key, nonce, aad, sealed) == plain
    with pytest.raises(DecryptError):
        crypto.aes_decrypt("x" * 32, nonce, aad, sealed)
    with pytest.raises(DecryptError):
        crypto.aes_decrypt(key, nonce, "refund", sealed)


def test_authorization_round_trip_and_verification():
    auth = crypto.authorize(
        KEY,
        mchid="1900009191",
        serial_no="1DDE55AD",
        method="POST",
        url="/v3/pay/transactions/native",
        body=b"{}",
        timestamp=1554208460,
    )
    parsed = crypto.parse_authorization(auth.header())
    assert parsed == auth
    message = crypto.request_message(
        "POST", "/v3/pay/transactions/native", "1554208460", auth.nonce_str, b"{}"
    )
    assert crypto.rsa_verify(KEY.public_key(), message, auth.signature)
    assert not crypto.rsa_verify(KEY.public_key(), message + b"x", auth.signature)
    assert not crypto.rsa_verify(KEY.public_key(), message, crypto.PROBE_PREFIX + auth.signature[19:])


def test_authorization_parameters_in_any_order():
    header = 'WECHATPAY2-SHA256-RSA2048 serial_no="S",signature="c2ln",mchid="1",timestamp="2",nonce_str="N"'
    assert crypto.parse_authorization(header).serial_no == "S"


@pytest.mark.parametrize(
    "header",
    [
        "",
        'Bearer mchid="1"',
        'WECHATPAY2-SHA256-RSA2048 mchid="1",nonce_str="N",signature="s",timestamp="2"',
        'WECHATPAY2-SHA256-RSA2048 mchid="1",mchid="2",nonce_str="N",signature="s",timestamp="2",serial_no="S"',  # noqa: E501
        'WECHATPAY2-SHA256-RSA2048 mchid=1,nonce_str="N",signature="s",timestamp="2",serial_no="S"',
        'WECHATPAY2-SHA256-RSA2048 evil="1",mchid="1",nonce_str="N",signature="s",timestamp="2",serial_no="S"',  # noqa: E501
    ],
)
def test_malformed_authorization_is_refused(header):
    with pytest.raises(SignatureError):
        crypto.parse_authorization(header)


def test_rfc3339_times_keep_their_offset_and_need_one():
    from pos.wechatpay.errors import InvalidField
    from pos.wechatpay.times import parse_rfc3339, to_rfc3339

    moment = parse_rfc3339("2018-06-08T10:34:56+08:00")
    assert to_rfc3339(moment) == "2018-06-08T10:34:56+08:00"
    assert to_rfc3339(parse_rfc3339("2018-06-08T02:34:56Z")) == "2018-06-08T10:34:56+08:00"
    for bad in ("2018-06-08T10:34:56", "20180608103456", "2018-06-08 10:34:56+08:00", ""):
        with pytest.raises(InvalidField):
            parse_rfc3339(bad)
