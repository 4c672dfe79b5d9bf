"""Reading typed values out of a decoded message, with errors that name the field.

WeChat sends every value as text. Amounts are integer fen (``"1"``); a
``"1.00"`` or ``"0.01"`` is a different, wrong thing and is refused rather than
rounded. Each helper raises :class:`~pos.wechatpay.errors.InvalidField`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime

from pos.wechatpay.errors import InvalidField
from pos.wechatpay.times import parse_compact

_FEN = re.compile(r"^[0-9]{1,12}$")


def check_total_fee(total_fee: object) -> int:
    """An order's amount as every call takes it: a positive int in fen (never a bool, a float or
    yuan); a ValueError (a bug in the caller, not WeChat's answer) otherwise."""
    if isinstance(total_fee, bool) or not isinstance(total_fee, int) or total_fee <= 0:
        raise ValueError(f"total_fee must be a positive int in fen, not {total_fee!r}")
    return total_fee


def required(fields: Mapping[str, str], name: str) -> str:
    """The non-empty value of ``name``."""
    value = fields.get(name, "")
    if not value:
        raise InvalidField(f"field {name} is missing")
    return value


def fen(fields: Mapping[str, str], name: str) -> int:
    """A required integer amount in fen."""
    value = required(fields, name)
    if not _FEN.match(value):
        raise InvalidField(f"field {name}={value!r} is not an integer amount in fen")
    return int(value)


def optional_fen(fields: Mapping[str, str], name: str) -> int | None:
    """An integer amount in fen, or None when absent or empty."""
    return fen(fields, name) if fields.get(name) else None


def optional_time(fields: Mapping[str, str], name: str) -> datetime | None:
    """A ``yyyyMMddHHmmss`` Beijing time as an aware datetime, or None when absent or empty."""
    value = fields.get(name, "")
    return parse_compact(value, name) if value else None
