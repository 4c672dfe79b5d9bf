"""付款码支付 (v2 micropay): the customer's payment code, charged at the counter, and its reverse.

The till scans the customer's code and calls ``/pay/micropay`` itself; no notice follows, so
the answer (or, when it is lost, orderquery) is the only word on the payment. Three outcomes:

- :class:`MicropayPaid` — WeChat took the money;
- :class:`~pos.wechatpay.errors.PaymentDeclined` — a definite failure (expired or used code,
  no balance...): nothing moved, the sale can be tried again with a new code and a new number;
- :class:`~pos.wechatpay.errors.OutcomeUnknown` — USERPAYING (the customer is typing the
  password), SYSTEMERROR/BANKERROR, a timeout, an unreadable or unsigned answer: the customer
  may be charged. Query; if it has not settled by the deadline, :func:`reverse` it.

Micropay is never re-sent (``retries=0``): a code works once, and WeChat's own guidance is to
query and reverse, not to resubmit. The reverse (``/secapi/pay/reverse``) needs the client
certificate and answers ``recall=Y`` when it must be called again. Knows nothing of sales.
See ../shared/reference/wechatpay-micropay.md for the sources.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from pos.wechatpay import xmlcodec
from pos.wechatpay.client import WeChatPayClient
from pos.wechatpay.errors import (
    BusinessError,
    MessageError,
    OutcomeUnknown,
    PaymentDeclined,
    ProtocolFail,
    TransportError,
    TransportTimeout,
    WeChatPayError,
)
from pos.wechatpay.fields import check_total_fee, fen, optional_fen, optional_time, required

# 18 digits starting 10-15 (WeChat's 付款码规则); product barcodes are 8, 12 or 13 digits.
PAYMENT_CODE = re.compile(r"1[0-5]\d{16}")
# err_code values that leave the payment undetermined (the official 支付状态 column: 未知).
UNKNOWN_CODES = frozenset({"SYSTEMERROR", "BANKERROR", "USERPAYING"})


class NotAPaymentCode(WeChatPayError, ValueError):
    """The scanned or keyed text is not a WeChat payment code (18 digits starting 10-15)."""


def is_payment_code(text: str) -> bool:
    """True for a WeChat payment code, after stripping the scanner's trailing Enter."""
    return isinstance(text, str) and PAYMENT_CODE.fullmatch(text.strip()) is not None


def check_payment_code(text: object) -> str:
    """The code, stripped; :class:`NotAPaymentCode` for anything else (a barcode, an Alipay code)."""
    if not isinstance(text, str) or not is_payment_code(text):
        raise NotAPaymentCode("not a WeChat payment code (18 digits starting 10-15)")
    return text.strip()


@dataclass(frozen=True)
class MicropayPaid:
    """micropay (or a later orderquery) said SUCCESS: the money is taken."""

    out_trade_no: str
    transaction_id: str
    total_fee: int
    cash_fee: int | None
    time_end: datetime | None
    openid: str
    fields: Mapping[str, str] = field(repr=False)
    # The micropay answer carries the coupons' total and 应结订单金额 too (no per-coupon list).
    coupon_fee: int | None = None
    settlement_total_fee: int | None = None


@dataclass(frozen=True)
class ReverseAnswer:
    """What ``/secapi/pay/reverse`` said. ``recall``: call it again (WeChat's ``recall=Y``)."""

    out_trade_no: str
    done: bool
    recall: bool
    err_code: str
    err_code_des: str
    fields: Mapping[str, str] = field(repr=False)


def micropay(
    client: WeChatPayClient,
    *,
    out_trade_no: str,
    total_fee: int,
    body: str,
    auth_code: str,
    spbill_create_ip: str,
    device_info: str | None = None,
    attach: str | None = None,
) -> MicropayPaid:
    """Charge ``auth_code`` once under ``out_trade_no`` (a new number for every code).

    Raises :class:`PaymentDeclined` for a definite failure and :class:`OutcomeUnknown` for
    everything that leaves the customer possibly charged.
    """
    check_total_fee(total_fee)
    code = check_payment_code(auth_code)
    request = client._request_body(
        {
            "out_trade_no": out_trade_no,
            "total_fee": str(total_fee),
            "body": body,
            "auth_code": code,
            "spbill_create_ip": spbill_create_ip,
            "device_info": device_info,
            "attach": attach,
        }
    )
    try:
        response = client._post("/pay/micropay", request, retries=0)
        fields = client._check(xmlcodec.decode(response.content))
    except TransportTimeout as exc:
        raise OutcomeUnknown("TIMEOUT", str(exc)) from None
    except BusinessError as exc:
        if exc.err_code in UNKNOWN_CODES:
            raise OutcomeUnknown(exc.err_code, exc.err_code_des, exc.fields) from None
        raise PaymentDeclined(exc.err_code, exc.err_code_des, exc.fields) from None
    except (TransportError, ProtocolFail, MessageError) as exc:
        # No signed answer we can believe: WeChat may have charged the code. Query settles it.
        raise OutcomeUnknown("TRANSPORT", f"{type(exc).__name__}: {exc}") from None
    return paid_from(fields, out_trade_no, total_fee)


def paid_from(fields: Mapping[str, str], out_trade_no: str, total_fee: int | None = None) -> MicropayPaid:
    """A :class:`MicropayPaid` from a SUCCESS micropay answer or a SUCCESS orderquery's fields."""
    return MicropayPaid(
        out_trade_no=fields.get("out_trade_no") or out_trade_no,
        transaction_id=required(fields, "transaction_id"),
        total_fee=fen(fields, "total_fee") if fields.get("total_fee") else int(total_fee or 0),
        cash_fee=optional_fen(fields, "cash_fee"),
        time_end=optional_time(fields, "time_end"),
        openid=fields.get("openid", ""),
        fields=MappingProxyType(dict(fields)),
        coupon_fee=optional_fen(fields, "coupon_fee"),
        settlement_total_fee=optional_fen(fields, "settlement_total_fee"),
    )


def reverse(
    client: WeChatPayClient, *, out_trade_no: str | None = None, transaction_id: str | None = None
) -> ReverseAnswer:
    """``/secapi/pay/reverse`` (client certificate): close an unpaid order for good, or refund a paid one.

    A FAIL answer that asks ``recall=Y`` (SYSTEMERROR, USERPAYING) comes back as an answer with
    ``recall=True`` for the caller to retry; one with ``recall=N`` (REVERSE_EXPIRE...) raises
    :class:`BusinessError`. A transport failure raises :class:`TransportError`: call again.
    """
    if not out_trade_no and not transaction_id:
        raise ValueError("reverse needs out_trade_no or transaction_id")
    params = {"out_trade_no": out_trade_no, "transaction_id": transaction_id}
    try:
        fields = client._call("/secapi/pay/reverse", params, use_cert=True)
    except BusinessError as exc:
        if exc.fields.get("recall") == "Y":
            return ReverseAnswer(
                out_trade_no or "", False, True, exc.err_code, exc.err_code_des, MappingProxyType(exc.fields)
            )
        raise
    return ReverseAnswer(
        out_trade_no=out_trade_no or "",
        done=True,
        recall=fields.get("recall") == "Y",
        err_code="",
        err_code_des="",
        fields=MappingProxyType(dict(fields)),
    )
