"""v3 JSON answers and errors turned into the value types and exceptions v2 already uses.

The till reads an :class:`~pos.wechatpay.answers.OrderStatus` or a
:class:`~pos.wechatpay.errors.BusinessError` the same way whichever API produced it:

- amounts: ``amount.total`` → ``total_fee``, ``amount.payer_total`` → ``cash_fee`` (fen);
- times: RFC 3339 ``success_time`` → ``time_end`` (aware datetime);
- refund statuses: v3 ``CLOSED``/``ABNORMAL`` are v2's ``REFUNDCLOSE``/``CHANGE``;
- error codes: ``err_code`` is v2's name of the condition (``ORDER_PAID`` → ``ORDERPAID``),
  v3's own is on ``.code``;
- ``fields``: the JSON flattened to text (``{"amount": {"total": 1}}`` → ``{"amount.total": "1"}``),
  so it stays a ``Mapping[str, str]`` as in v2.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from pos.wechatpay.answers import (
    Closed,
    OrderStatus,
    RefundAccepted,
    RefundItem,
    RefundStatus,
    UnifiedOrder,
)
from pos.wechatpay.errors import (
    InvalidField,
    MalformedJson,
    V3BusinessError,
    V3Refusal,
    WeChatPayError,
)
from pos.wechatpay.times import parse_rfc3339

# Refusals of the request itself (v2's return_code=FAIL family).
REFUSALS = frozenset({"PARAM_ERROR", "SIGN_ERROR"})
# v3 code -> v2 err_code, where v2 names the same condition differently.
V2_NAMES: dict[str, str] = {
    "ORDER_PAID": "ORDERPAID",
    "ORDER_CLOSED": "ORDERCLOSED",
    "ORDER_NOT_EXIST": "ORDERNOTEXIST",
    "SYSTEM_ERROR": "SYSTEMERROR",
    "NOT_ENOUGH": "NOTENOUGH",
    "NO_AUTH": "NOAUTH",
    "BANK_ERROR": "BANKERROR",
}
REFUND_STATUS_V2 = {"CLOSED": "REFUNDCLOSE", "ABNORMAL": "CHANGE"}


def load_json(body: bytes, what: str) -> dict[str, Any]:
    """A JSON object from ``body``; :class:`MalformedJson` names ``what`` otherwise."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise MalformedJson(f"{what}: the body is not UTF-8 JSON") from None
    if not isinstance(data, dict):
        raise MalformedJson(f"{what}: the body is not a JSON object")
    return data


def flatten(data: Mapping[str, Any], prefix: str = "") -> Mapping[str, str]:
    """Nested JSON as dotted text fields; lists get their index (``promotion_detail.0.amount``)."""
    out: dict[str, str] = {}

    def walk(value: Any, name: str) -> None:
        if isinstance(value, Mapping):
            for key, inner in value.items():
                walk(inner, f"{name}.{key}" if name else str(key))
        elif isinstance(value, list):
            for index, inner in enumerate(value):
                walk(inner, f"{name}.{index}")
        elif isinstance(value, bool):
            out[name] = "true" if value else "false"
        elif value is not None:
            out[name] = str(value)

    walk(data, prefix)
    return MappingProxyType(out)


def text_at(data: Mapping[str, Any], *path: str) -> str:
    value: Any = data
    for name in path:
        value = value.get(name) if isinstance(value, Mapping) else None
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidField(f"field {'.'.join(path)} is not a string")
    return value


def fen_at(data: Mapping[str, Any], *path: str, required: bool = False) -> int | None:
    value: Any = data
    for name in path:
        value = value.get(name) if isinstance(value, Mapping) else None
    if value is None:
        if required:
            raise InvalidField(f"field {'.'.join(path)} is missing")
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidField(f"field {'.'.join(path)}={value!r} is not an integer amount in fen")
    return value


def required_at(data: Mapping[str, Any], *path: str) -> str:
    value = text_at(data, *path)
    if not value:
        raise InvalidField(f"field {'.'.join(path)} is missing")
    return value


def _time(data: Mapping[str, Any], name: str):
    text = text_at(data, name)
    return parse_rfc3339(text, name) if text else None


def unified_order(data: Mapping[str, Any]) -> UnifiedOrder:
    """``{"code_url": …}``; v3 Native has no prepay_id, so it is empty."""
    return UnifiedOrder(prepay_id="", code_url=required_at(data, "code_url"), trade_type="NATIVE",
                        fields=flatten(data))  # fmt: skip


def coupons(data: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """``(coupon_fee, settlement_total_fee)`` of a v3 payment, as v2 names them; None where absent.

    v3 has no such fields: each coupon is an entry of ``promotion_detail`` with its ``amount`` and
    ``type`` (``CASH``: 充值型, paid for out of a fund; ``NOCASH``: 免充值型, the merchant's own
    discount). The coupons' total is the sum of the amounts; what the merchant settles is the order's
    ``amount.total`` less the NOCASH amounts (reference/wechatpay-micropay.md §5). Entries that are
    not objects with a whole ``amount`` are refused like any other unreadable amount.
    """
    detail = data.get("promotion_detail")
    if not detail:
        return None, None
    if not isinstance(detail, list):
        raise InvalidField("field promotion_detail is not a list")
    coupon = nocash = 0
    for index, entry in enumerate(detail):
        if not isinstance(entry, Mapping):
            raise InvalidField(f"field promotion_detail[{index}] is not an object")
        amount = fen_at(entry, "amount", required=True) or 0
        coupon += amount
        if text_at(entry, "type").upper() == "NOCASH":
            nocash += amount
    total = fen_at(data, "amount", "total")
    settlement = total - nocash if nocash and total is not None else None
    return coupon, settlement


def order_status(data: Mapping[str, Any], asked: str = "") -> OrderStatus:
    coupon_fee, settlement_total_fee = coupons(data)
    return OrderStatus(
        out_trade_no=text_at(data, "out_trade_no") or asked,
        trade_state=required_at(data, "trade_state"),
        trade_state_desc=text_at(data, "trade_state_desc"),
        transaction_id=text_at(data, "transaction_id"),
        total_fee=fen_at(data, "amount", "total"),
        cash_fee=fen_at(data, "amount", "payer_total"),
        time_end=_time(data, "success_time"),
        openid=text_at(data, "payer", "openid"),
        attach=text_at(data, "attach"),
        fields=flatten(data),
        coupon_fee=coupon_fee,
        settlement_total_fee=settlement_total_fee,
    )


def closed(out_trade_no: str) -> Closed:
    return Closed(out_trade_no=out_trade_no, fields=MappingProxyType({}))


def refund_status_v2(status: str) -> str:
    return REFUND_STATUS_V2.get(status, status)


def refund_accepted(data: Mapping[str, Any]) -> RefundAccepted:
    return RefundAccepted(
        out_trade_no=text_at(data, "out_trade_no"),
        transaction_id=text_at(data, "transaction_id"),
        out_refund_no=required_at(data, "out_refund_no"),
        refund_id=text_at(data, "refund_id"),
        refund_fee=fen_at(data, "amount", "refund", required=True) or 0,
        total_fee=fen_at(data, "amount", "total"),
        cash_refund_fee=fen_at(data, "amount", "payer_refund"),
        fields=flatten(data),
        settlement_refund_fee=fen_at(data, "amount", "settlement_refund"),
        coupon_refund_fee=fen_at(data, "amount", "discount_refund"),
    )


def refund_status(data: Mapping[str, Any]) -> RefundStatus:
    """One v3 refund (queried by out_refund_no) as v2's per-order answer holding that one refund."""
    item = RefundItem(
        out_refund_no=required_at(data, "out_refund_no"),
        refund_id=text_at(data, "refund_id"),
        refund_fee=fen_at(data, "amount", "refund"),
        refund_status=refund_status_v2(required_at(data, "status")),
        refund_channel=text_at(data, "channel"),
        refund_recv_accout=text_at(data, "user_received_account"),
        success_time=_time(data, "success_time"),
        fields=flatten(data),
        settlement_refund_fee=fen_at(data, "amount", "settlement_refund"),
        coupon_refund_fee=fen_at(data, "amount", "discount_refund"),
    )
    return RefundStatus(
        out_trade_no=text_at(data, "out_trade_no"),
        transaction_id=text_at(data, "transaction_id"),
        total_fee=fen_at(data, "amount", "total"),
        refund_count=1,
        refunds=(item,),
        fields=flatten(data),
    )


def error(
    status: int, body: bytes, *, verified: bool, names: Mapping[str, str] | None = None
) -> WeChatPayError:
    """The exception for a v3 error answer ``{"code", "message", "detail"}`` (HTTP 4xx)."""
    data = load_json(body, f"HTTP {status}")
    code = data.get("code")
    message = data.get("message", "")
    if not isinstance(code, str) or not code or not isinstance(message, str):
        raise MalformedJson(f"HTTP {status}: an error answer without a code and a message")
    detail = data.get("detail")
    if code in REFUSALS:
        return V3Refusal(status, code, message, detail, verified)
    err_code = {**V2_NAMES, **(names or {})}.get(code, code)
    return V3BusinessError(status, code, message, err_code, detail, verified)
