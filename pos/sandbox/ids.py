"""Identifiers shaped like WeChat's own, so clients meet realistic lengths and alphabets."""

from __future__ import annotations

import secrets
import string

from pos.sandbox.clock import BEIJING

BASE62 = string.digits + string.ascii_letters
CODE_URL_PREFIX = "weixin://wxpay/bizpayurl?pr="
SHORT_URL_PREFIX = "weixin://wxpay/s/"


def _digits(n: int) -> str:
    return "".join(secrets.choice(string.digits) for _ in range(n))


def _base62(n: int) -> str:
    return "".join(secrets.choice(BASE62) for _ in range(n))


def code_url() -> str:
    """``weixin://wxpay/bizpayurl?pr=GkbUkg4``: 7-9 base62 chars, 35-37 chars in all (<= 64)."""
    return CODE_URL_PREFIX + _base62(secrets.choice((7, 8, 9)))


def short_url() -> str:
    return SHORT_URL_PREFIX + _base62(7)


def prepay_id(at: float) -> str:
    """36 chars like ``wx0311543778510878f3e2a5913212262979``: wx, ddHHmmss, 26 hex."""
    from datetime import datetime

    stamp = datetime.fromtimestamp(at, BEIJING).strftime("%d%H%M%S")
    return "wx" + stamp + secrets.token_hex(13)


def transaction_id(at: float) -> str:
    """28 digits like ``4200000540202005267407409907``: 4200000, 3 digits, yyyyMMdd, 10 digits."""
    from datetime import datetime

    day = datetime.fromtimestamp(at, BEIJING).strftime("%Y%m%d")
    return "4200000" + _digits(3) + day + _digits(10)


def refund_id(at: float) -> str:
    """29 digits like WeChat's refund ids: 50000, 4 digits, yyyyMMdd, 12 digits."""
    from datetime import datetime

    day = datetime.fromtimestamp(at, BEIJING).strftime("%Y%m%d")
    return "50000" + _digits(4) + day + _digits(12)


def openid() -> str:
    """28 chars like ``oUpF8uMEb4qRXf22hE3X68TekukE``."""
    return "o" + "".join(secrets.choice(BASE62 + "_-") for _ in range(27))


def nonce() -> str:
    return secrets.token_hex(16)
