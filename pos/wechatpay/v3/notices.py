"""v3 notices: payment (``TRANSACTION.SUCCESS``) and refund (``REFUND.*``) results.

A notice is a JSON POST whose facts sit in an AES-256-GCM encrypted ``resource``; its
``Wechatpay-*`` headers sign the raw body. The order of checks is the point::

    notice = parse_notice(headers, body, verifier=..., apiv3_key=..., mchid=..., appid=...)

1. the headers' signature, before the body is even parsed (:class:`NoticeNotVerified`:
   missing headers, unknown serial, a timestamp 5 minutes off — a replay —, a
   ``WECHATPAY/SIGNTEST/`` probe, a wrong signature);
2. the envelope: JSON, ``resource_type`` ``encrypt-resource``, AEAD_AES_256_GCM
   (:class:`MalformedJson`, :class:`InvalidField`);
3. decryption with the APIv3 key (:class:`DecryptError`);
4. our mchid / appid inside (:class:`WrongMerchant`), then typed fields (:class:`InvalidField`).

The result is v2's :class:`~pos.wechatpay.notices.PaymentNotice` or
:class:`~pos.wechatpay.notices.RefundNotice`, so the listener's path after parsing is
the same for both APIs. Answer success with an empty 2xx (:data:`SUCCESS_STATUS`) and
failure with 4xx/5xx and :func:`fail_reply` — WeChat looks at the status code.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pos.wechatpay.errors import InvalidField, NoticeNotVerified, WrongMerchant
from pos.wechatpay.notices import PaymentNotice, RefundNotice
from pos.wechatpay.times import parse_rfc3339
from pos.wechatpay.v3 import crypto, results
from pos.wechatpay.v3.verify import Signed, Verifier

SUCCESS_STATUS = 204
PAYMENT_EVENT = "TRANSACTION.SUCCESS"
REFUND_EVENTS = ("REFUND.SUCCESS", "REFUND.ABNORMAL", "REFUND.CLOSED")
MAX_BODY = 64 * 1024


@dataclass(frozen=True)
class Envelope:
    """A verified, decrypted notice before its facts are typed."""

    id: str
    event_type: str
    summary: str
    create_time: str
    resource: Mapping[str, Any]
    signed: Signed


def fail_reply(message: str) -> bytes:
    """The body of a failure answer (send it with a 4xx/5xx status): WeChat will try again."""
    return json.dumps({"code": "FAIL", "message": message}, ensure_ascii=False).encode()


def open_notice(
    headers: Mapping[str, str], body: bytes, *, verifier: Verifier, apiv3_key: str, max_bytes: int = MAX_BODY
) -> Envelope:
    """Steps 1-3: verify the headers' signature, read the envelope, decrypt the resource."""
    if len(body) > max_bytes:
        raise NoticeNotVerified(f"the notice is over {max_bytes} bytes")
    signed = verifier.verify(headers, body, NoticeNotVerified)
    data = results.load_json(body, "notice")
    if data.get("resource_type") != "encrypt-resource":
        raise InvalidField(f"resource_type {data.get('resource_type')!r} is not encrypt-resource")
    resource = data.get("resource")
    if not isinstance(resource, Mapping):
        raise InvalidField("the notice has no resource object")
    if resource.get("algorithm") != crypto.AES_GCM:
        raise InvalidField(f"resource.algorithm {resource.get('algorithm')!r} is not {crypto.AES_GCM}")
    values = {}
    for name in ("nonce", "ciphertext", "associated_data"):
        value = resource.get(name, "")
        if not isinstance(value, str):
            raise InvalidField(f"resource.{name} is not a string")
        values[name] = value
    nonce, sealed, aad = values["nonce"], values["ciphertext"], values["associated_data"]
    plaintext = crypto.aes_decrypt(apiv3_key, nonce, aad, sealed)
    inner = results.load_json(plaintext, "notice resource")
    return Envelope(
        id=str(data.get("id", "")),
        event_type=str(data.get("event_type", "")),
        summary=str(data.get("summary", "")),
        create_time=str(data.get("create_time", "")),
        resource=inner,
        signed=signed,
    )


def _check_merchant(inner: Mapping[str, Any], mchid: str, appid: str | None) -> None:
    if inner.get("mchid") != mchid:
        raise WrongMerchant(f"mchid {inner.get('mchid')!r} is not ours ({mchid})")
    if appid is not None and "appid" in inner and inner.get("appid") != appid:
        raise WrongMerchant(f"appid {inner.get('appid')!r} is not ours ({appid})")


def payment_notice(envelope: Envelope, *, mchid: str, appid: str | None = None) -> PaymentNotice:
    """A ``TRANSACTION.SUCCESS`` notice as v2's PaymentNotice (compare the amount with the order)."""
    inner = envelope.resource
    _check_merchant(inner, mchid, appid)
    status = results.order_status(inner)
    if status.trade_state != "SUCCESS":
        raise InvalidField(f"a payment notice with trade_state {status.trade_state!r}")
    if status.time_end is None or status.total_fee is None or not status.transaction_id:
        raise InvalidField("a payment notice needs success_time, amount.total and transaction_id")
    return PaymentNotice(
        out_trade_no=status.out_trade_no or results.required_at(inner, "out_trade_no"),
        transaction_id=status.transaction_id,
        total_fee=status.total_fee,
        fee_type=results.text_at(inner, "amount", "currency") or "CNY",
        trade_type=results.text_at(inner, "trade_type"),
        time_end=status.time_end,
        openid=status.openid,
        cash_fee=status.cash_fee,
        attach=status.attach,
        bank_type=results.text_at(inner, "bank_type"),
        sign_type=crypto.SIGNATURE_TYPE,
        fields=status.fields,
        coupon_fee=status.coupon_fee,
        settlement_total_fee=status.settlement_total_fee,
    )


def refund_notice(envelope: Envelope, *, mchid: str) -> RefundNotice:
    """A ``REFUND.*`` notice as v2's RefundNotice; ``refund_status`` in v2's words (CHANGE…)."""
    inner = envelope.resource
    _check_merchant(inner, mchid, None)
    success_time = results.text_at(inner, "success_time")
    return RefundNotice(
        out_trade_no=results.text_at(inner, "out_trade_no"),
        transaction_id=results.text_at(inner, "transaction_id"),
        out_refund_no=results.required_at(inner, "out_refund_no"),
        refund_id=results.text_at(inner, "refund_id"),
        total_fee=results.fen_at(inner, "amount", "total", required=True) or 0,
        refund_fee=results.fen_at(inner, "amount", "refund", required=True) or 0,
        # The documented notice has no settlement_refund (wechatpay-v3.md §8.3); payer_refund is what
        # the customer got back, not what the merchant gives back. Read it only if WeChat sends it.
        settlement_refund_fee=results.fen_at(inner, "amount", "settlement_refund"),
        refund_status=results.refund_status_v2(results.required_at(inner, "refund_status")),
        success_time=parse_rfc3339(success_time, "success_time") if success_time else None,
        refund_recv_accout=results.text_at(inner, "user_received_account"),
        fields=results.flatten(inner),
        outer=results.flatten(
            {"id": envelope.id, "event_type": envelope.event_type, "summary": envelope.summary,
             "create_time": envelope.create_time}
        ),
    )  # fmt: skip


def parse_notice(
    headers: Mapping[str, str],
    body: bytes,
    *,
    verifier: Verifier,
    apiv3_key: str,
    mchid: str,
    appid: str | None = None,
) -> PaymentNotice | RefundNotice:
    """All four steps; the event type decides which of the two comes back."""
    envelope = open_notice(headers, body, verifier=verifier, apiv3_key=apiv3_key)
    if envelope.event_type == PAYMENT_EVENT:
        return payment_notice(envelope, mchid=mchid, appid=appid)
    if envelope.event_type in REFUND_EVENTS:
        return refund_notice(envelope, mchid=mchid)
    raise InvalidField(f"unknown event_type {envelope.event_type!r}")
