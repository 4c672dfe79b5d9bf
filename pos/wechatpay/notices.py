"""Messages WeChat sends to us: payment notices, mode-one scan callbacks, refund notices.

A payment notice is verified in two steps so the listener can look up, between
them, the sign type the order was created with (a notice signed with
HMAC-SHA256 usually carries no ``sign_type``, and verifying it with the
documented default MD5 fails)::

    fields = read_notice(body)                      # hardened XML -> every field, unknown ones too
    order = ledger.find(fields.get("out_trade_no"))
    notice = verify_payment_notice(fields, api_key=..., appid=..., mch_id=...,
                                   order_sign_type=order.sign_type)

The signature is checked over every received field except ``sign``; nothing is
dropped or filtered first. Replies are the exact bytes WeChat expects.

Refund notices carry no ``sign``: their ``req_info`` is AES-256-ECB encrypted
with the lowercase hex MD5 of the API key, and decrypting it is the proof.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from pos.wechatpay import sign as signing
from pos.wechatpay import xmlcodec
from pos.wechatpay.errors import (
    BusinessError,
    DecryptError,
    InvalidField,
    ProtocolFail,
    SignTypeMismatch,
    WrongMerchant,
    XmlError,
)
from pos.wechatpay.fields import fen, optional_fen, optional_time, required
from pos.wechatpay.times import parse_spaced

SUCCESS = "SUCCESS"

_SUCCESS_REPLY = (
    b"<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>"
)


def _frozen(fields: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(fields))


# -- common checks -------------------------------------------------------------------------------


def read_notice(body: bytes, *, max_bytes: int = xmlcodec.MAX_BODY) -> dict[str, str]:
    """Step one: the raw request body to ``{field: text}``, refusing unsafe or malformed XML.

    Raises an :class:`~pos.wechatpay.errors.XmlError` subclass. Nothing is trusted yet.
    """
    return xmlcodec.decode(body, max_bytes=max_bytes)


def check_merchant(fields: Mapping[str, str], *, appid: str, mch_id: str) -> None:
    """Raise :class:`WrongMerchant` unless the message names our appid and mch_id."""
    if fields.get("appid") != appid:
        raise WrongMerchant(f"appid {fields.get('appid')!r} is not ours ({appid})")
    if fields.get("mch_id") != mch_id:
        raise WrongMerchant(f"mch_id {fields.get('mch_id')!r} is not ours ({mch_id})")


def _check_return(fields: Mapping[str, str]) -> None:
    if fields.get("return_code") != SUCCESS:
        message = fields.get("return_msg") or fields.get("retmsg") or ""
        raise ProtocolFail(message or "return_code is not SUCCESS", fields)


def _check_result(fields: Mapping[str, str]) -> None:
    if fields.get("result_code") != SUCCESS:
        raise BusinessError(fields.get("err_code", ""), fields.get("err_code_des", ""), fields)


# -- payment notices ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentNotice:
    """A verified 支付结果通知. Compare ``total_fee`` with the order before believing the amount."""

    out_trade_no: str
    transaction_id: str
    total_fee: int
    fee_type: str
    trade_type: str
    time_end: datetime
    openid: str
    cash_fee: int | None
    attach: str
    bank_type: str
    sign_type: str
    fields: Mapping[str, str] = field(repr=False)
    # As OrderStatus: the coupons' total and 应结订单金额, None when the notice has none.
    coupon_fee: int | None = None
    settlement_total_fee: int | None = None


def notice_sign_type(fields: Mapping[str, str], order_sign_type: str) -> str:
    """The algorithm to verify with: always the order's. A notice that names another ``sign_type``
    raises :class:`SignTypeMismatch` (a :class:`~pos.wechatpay.errors.SignatureError`): were the
    notice to choose, an HMAC-SHA256 merchant's payments could be forged with MD5, and the reverse.
    Naming the order's own type (or none, as WeChat usually does) is fine."""
    named = fields.get("sign_type")
    if named is not None and named != order_sign_type:
        raise SignTypeMismatch(
            f"the message names sign_type {named!r}, its order was signed {order_sign_type}"
        )
    return order_sign_type


def verify_payment_notice(
    fields: Mapping[str, str],
    *,
    api_key: str,
    appid: str,
    mch_id: str,
    order_sign_type: str = signing.MD5,
) -> PaymentNotice:
    """Step two: check a decoded notice and type its fields.

    Order of checks: ``return_code`` (:class:`ProtocolFail`), our appid/mch_id
    (:class:`WrongMerchant`), the signature over all fields with the order's sign type
    (:class:`~pos.wechatpay.errors.SignatureError`; :class:`SignTypeMismatch` when the notice names
    another), ``result_code``
    (:class:`BusinessError`), then the typed fields (:class:`InvalidField`).
    """
    _check_return(fields)
    check_merchant(fields, appid=appid, mch_id=mch_id)
    sign_type = notice_sign_type(fields, order_sign_type)
    signing.verify(fields, api_key, sign_type)
    _check_result(fields)
    time_end = optional_time(fields, "time_end")
    if time_end is None:
        raise InvalidField("field time_end is missing")
    return PaymentNotice(
        out_trade_no=required(fields, "out_trade_no"),
        transaction_id=required(fields, "transaction_id"),
        total_fee=fen(fields, "total_fee"),
        fee_type=fields.get("fee_type") or "CNY",
        trade_type=fields.get("trade_type", ""),
        time_end=time_end,
        openid=fields.get("openid", ""),
        cash_fee=optional_fen(fields, "cash_fee"),
        attach=fields.get("attach", ""),
        bank_type=fields.get("bank_type", ""),
        sign_type=sign_type,
        fields=_frozen(fields),
        coupon_fee=optional_fen(fields, "coupon_fee"),
        settlement_total_fee=optional_fen(fields, "settlement_total_fee"),
    )


def parse_payment_notice(
    body: bytes,
    *,
    api_key: str,
    appid: str,
    mch_id: str,
    order_sign_type: str = signing.MD5,
) -> PaymentNotice:
    """Both steps at once, for callers that know the sign type up front (all orders MD5)."""
    return verify_payment_notice(
        read_notice(body), api_key=api_key, appid=appid, mch_id=mch_id, order_sign_type=order_sign_type
    )


def success_reply() -> bytes:
    """The exact acknowledgement WeChat expects; anything else makes it send the notice again."""
    return _SUCCESS_REPLY


def fail_reply(message: str) -> bytes:
    """A FAIL acknowledgement: WeChat will send the notice again later (e.g. the database is down)."""
    return xmlcodec.encode_as_wechat({"return_code": "FAIL", "return_msg": message})


# -- mode-one scan callbacks ----------------------------------------------------------------------


@dataclass(frozen=True)
class ScanCallback:
    """A verified mode-one callback: customer ``openid`` scanned the label for ``product_id``."""

    appid: str
    mch_id: str
    openid: str
    product_id: str
    is_subscribe: str
    nonce_str: str
    fields: Mapping[str, str] = field(repr=False)


def verify_scan_callback(
    fields: Mapping[str, str],
    *,
    api_key: str,
    appid: str,
    mch_id: str,
    sign_type: str = signing.MD5,
) -> ScanCallback:
    """Check a decoded mode-one callback (our merchant, a valid sign over every field)."""
    check_merchant(fields, appid=appid, mch_id=mch_id)
    signing.verify(fields, api_key, notice_sign_type(fields, sign_type))
    return ScanCallback(
        appid=appid,
        mch_id=mch_id,
        openid=required(fields, "openid"),
        product_id=required(fields, "product_id"),
        is_subscribe=fields.get("is_subscribe", ""),
        nonce_str=fields.get("nonce_str", ""),
        fields=_frozen(fields),
    )


def scan_reply(
    prepay_id: str,
    *,
    appid: str,
    mch_id: str,
    api_key: str,
    sign_type: str = signing.MD5,
    nonce_str: str | None = None,
) -> bytes:
    """The signed answer that lets WeChat show the customer the payment sheet."""
    outcome = {"prepay_id": prepay_id, "result_code": SUCCESS}
    return _scan_answer(outcome, appid=appid, mch_id=mch_id, api_key=api_key, sign_type=sign_type,
                        nonce_str=nonce_str)  # fmt: skip


def scan_fail_reply(
    err_code_des: str,
    *,
    appid: str,
    mch_id: str,
    api_key: str,
    sign_type: str = signing.MD5,
    nonce_str: str | None = None,
) -> bytes:
    """The signed refusal; WeChat shows ``err_code_des`` to the customer, so write it for them."""
    outcome = {"result_code": "FAIL", "err_code_des": err_code_des}
    return _scan_answer(outcome, appid=appid, mch_id=mch_id, api_key=api_key, sign_type=sign_type,
                        nonce_str=nonce_str)  # fmt: skip


def _scan_answer(
    outcome: dict[str, str], *, appid: str, mch_id: str, api_key: str, sign_type: str, nonce_str: str | None
) -> bytes:
    """A mode-one reply (§9.4): return_code SUCCESS, our identity, the outcome, signed over all of it."""
    reply = {
        "return_code": SUCCESS,
        "appid": appid,
        "mch_id": mch_id,
        "nonce_str": nonce_str or signing.new_nonce(),
        **outcome,
    }
    if sign_type != signing.MD5:
        reply["sign_type"] = sign_type
    return xmlcodec.encode_as_wechat(signing.signed(reply, api_key, sign_type))


# -- refund notices -------------------------------------------------------------------------------


def _refund_key(api_key: str) -> bytes:
    # The lowercase hex MD5 of the API key, used as 32 ASCII bytes: an AES-256 key.
    return hashlib.md5(api_key.encode("utf-8")).hexdigest().encode("ascii")


def encrypt_req_info(fields: Mapping[str, str], api_key: str) -> str:
    """What WeChat puts in ``req_info``: base64(AES-256-ECB(PKCS#7(<root>…</root>)))."""
    plaintext = xmlcodec.encode_as_wechat(fields, root="root")
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(
        algorithms.AES(_refund_key(api_key)), modes.ECB()
    ).encryptor()  # WeChat's scheme, not our choice
    return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode("ascii")


def decrypt_req_info(req_info: str, api_key: str) -> dict[str, str]:
    """The fields inside ``req_info``; :class:`DecryptError` if it is not ours or not intact."""
    try:
        ciphertext = base64.b64decode(req_info.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise DecryptError("req_info is not base64") from None
    if not ciphertext or len(ciphertext) % 16:
        raise DecryptError("req_info is not a whole number of AES blocks")
    decryptor = Cipher(algorithms.AES(_refund_key(api_key)), modes.ECB()).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        plaintext = unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise DecryptError("req_info does not decrypt with our API key (bad padding)") from None
    try:
        return xmlcodec.decode(plaintext, root="root")
    except XmlError as exc:
        raise DecryptError(f"req_info decrypts to something that is not <root> XML: {exc}") from None


@dataclass(frozen=True)
class RefundNotice:
    """A decrypted 退款结果通知. ``refund_status`` is SUCCESS, CHANGE or REFUNDCLOSE."""

    out_trade_no: str
    transaction_id: str
    out_refund_no: str
    refund_id: str
    total_fee: int
    refund_fee: int
    settlement_refund_fee: int | None
    refund_status: str
    success_time: datetime | None
    refund_recv_accout: str
    fields: Mapping[str, str] = field(repr=False)
    outer: Mapping[str, str] = field(repr=False)


def verify_refund_notice(fields: Mapping[str, str], *, api_key: str, appid: str, mch_id: str) -> RefundNotice:
    """Check the outer fields, decrypt ``req_info`` and type what is inside."""
    _check_return(fields)
    check_merchant(fields, appid=appid, mch_id=mch_id)
    inner = decrypt_req_info(required(fields, "req_info"), api_key)
    success_time = inner.get("success_time", "")
    return RefundNotice(
        out_trade_no=inner.get("out_trade_no", ""),
        transaction_id=inner.get("transaction_id", ""),
        out_refund_no=required(inner, "out_refund_no"),
        refund_id=inner.get("refund_id", ""),
        total_fee=fen(inner, "total_fee"),
        refund_fee=fen(inner, "refund_fee"),
        settlement_refund_fee=optional_fen(inner, "settlement_refund_fee"),
        refund_status=required(inner, "refund_status"),
        success_time=parse_spaced(success_time, "success_time") if success_time else None,
        refund_recv_accout=inner.get("refund_recv_accout", ""),
        fields=_frozen(inner),
        outer=_frozen(fields),
    )


def parse_refund_notice(body: bytes, *, api_key: str, appid: str, mch_id: str) -> RefundNotice:
    """Read and verify a refund notice body in one step."""
    return verify_refund_notice(read_notice(body), api_key=api_key, appid=appid, mch_id=mch_id)
