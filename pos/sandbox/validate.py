"""Field rules of the v2 APIs (§3.1 of the reference), checked the way WeChat checks them.

Each API has a table: field -> (required, max length in UTF-8 bytes, kind). A
missing field is ``LACK_PARAMS``; a field too long or of the wrong shape is
``INVALID_REQUEST`` with WeChat's "<name>参数长度有误" / "<name>参数格式错误" wording.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from pos.sandbox.clock import parse_wechat_time
from pos.sandbox.errors import Rejected

OUT_TRADE_NO = re.compile(r"^[0-9A-Za-z_\-|*@]{6,32}$")
OUT_REFUND_NO = re.compile(r"^[0-9A-Za-z_\-|*@]{1,64}$")
DIGITS = re.compile(r"^[1-9][0-9]{0,9}$")
BILL_DATE = re.compile(r"^[0-9]{8}$")

# kinds: "str", "int" (positive integer), "trade_no", "url", "time", "refund_no"
Spec = dict[str, tuple[bool, int, str]]

COMMON: Spec = {
    "appid": (True, 32, "str"),
    "mch_id": (True, 32, "str"),
    "nonce_str": (True, 32, "str"),
    "sign": (True, 64, "str"),
    "sign_type": (False, 32, "str"),
}

UNIFIED_ORDER: Spec = {
    **COMMON,
    "device_info": (False, 32, "str"),
    "body": (True, 127, "str"),
    "detail": (False, 6144, "str"),
    "attach": (False, 127, "str"),
    "out_trade_no": (True, 32, "trade_no"),
    "fee_type": (False, 16, "str"),
    "total_fee": (True, 10, "int"),
    "spbill_create_ip": (True, 64, "str"),
    "time_start": (False, 14, "time"),
    "time_expire": (False, 14, "time"),
    "goods_tag": (False, 32, "str"),
    "notify_url": (True, 256, "url"),
    "trade_type": (True, 16, "str"),
    "product_id": (False, 32, "str"),
    "limit_pay": (False, 32, "str"),
    "openid": (False, 128, "str"),
    "receipt": (False, 8, "str"),
    "profit_sharing": (False, 16, "str"),
    "scene_info": (False, 256, "str"),
}

ORDER_REF: Spec = {**COMMON, "transaction_id": (False, 32, "str"), "out_trade_no": (False, 32, "trade_no")}

REFUND: Spec = {
    **ORDER_REF,
    "out_refund_no": (True, 64, "refund_no"),
    "total_fee": (True, 10, "int"),
    "refund_fee": (True, 10, "int"),
    "refund_fee_type": (False, 8, "str"),
    "refund_desc": (False, 80, "str"),
    "refund_account": (False, 30, "str"),
    "notify_url": (False, 256, "url"),
}

REFUND_QUERY: Spec = {
    **ORDER_REF,
    "out_refund_no": (False, 64, "refund_no"),
    "refund_id": (False, 32, "str"),
    "offset": (False, 10, "str"),
}

SHORT_URL: Spec = {**COMMON, "long_url": (True, 512, "str")}


def check(fields: Mapping[str, str], spec: Spec) -> None:
    """Raise :class:`Rejected` for the first field that breaks ``spec`` (required fields first)."""
    for name, (required, _, _) in spec.items():
        if required and not fields.get(name):
            raise Rejected("LACK_PARAMS", f"缺少参数{name}")
    for name, (_, max_len, kind) in spec.items():
        value = fields.get(name, "")
        if value == "":
            continue
        if len(value.encode("utf-8")) > max_len:
            raise Rejected("INVALID_REQUEST", f"{name}参数长度有误")
        if not _shape_ok(kind, value):
            raise Rejected("INVALID_REQUEST", f"{name}参数格式错误")


def _shape_ok(kind: str, value: str) -> bool:
    if kind == "int":
        return bool(DIGITS.match(value))
    if kind == "trade_no":
        return bool(OUT_TRADE_NO.match(value))
    if kind == "refund_no":
        return bool(OUT_REFUND_NO.match(value))
    if kind == "url":
        return notify_url_ok(value)
    if kind == "time":
        try:
            parse_wechat_time(value)
        except ValueError:
            return False
        return True
    return True


def notify_url_ok(url: str) -> bool:
    """Absolute URL with a host and no query string or fragment (WeChat drops parameters); https, as
    the gateway asks of a merchant's notify_url, except on loopback (the demo and tests listen there)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return False
    if not parts.netloc or parts.query or parts.fragment:
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and _loopback(host))


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
