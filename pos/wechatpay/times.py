"""WeChat's clock: v2's ``yyyyMMddHHmmss``, ``yyyy-MM-dd HH:mm:ss`` (Beijing) and v3's RFC 3339.

Every time WeChat sends or expects (``time_start``, ``time_expire``, ``time_end``,
refund ``success_time``, bill rows) is a naive string meaning Asia/Shanghai. We
turn them into aware datetimes at the edge and refuse naive ones going out, so a
till whose own clock runs in UTC cannot send an order that expires eight hours
early.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from pos.wechatpay.errors import InvalidField

BEIJING = ZoneInfo("Asia/Shanghai")
COMPACT = "%Y%m%d%H%M%S"  # time_start, time_expire, time_end
SPACED = "%Y-%m-%d %H:%M:%S"  # refund success_time, bill rows


def to_compact(moment: datetime) -> str:
    """An aware datetime as WeChat's ``yyyyMMddHHmmss`` in Beijing time."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("times sent to WeChat must be timezone-aware datetimes")
    return moment.astimezone(BEIJING).strftime(COMPACT)


def to_spaced(moment: datetime) -> str:
    """An aware datetime as ``yyyy-MM-dd HH:mm:ss`` in Beijing time (bills, refund notices)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("times written for WeChat must be timezone-aware datetimes")
    return moment.astimezone(BEIJING).strftime(SPACED)


def parse_compact(text: str, name: str = "time") -> datetime:
    """``20240101120105`` -> 2024-01-01 12:01:05+08:00."""
    if len(text) != 14 or not text.isdigit():
        raise InvalidField(f"{name} {text!r} is not yyyyMMddHHmmss")
    try:
        return datetime.strptime(text, COMPACT).replace(tzinfo=BEIJING)
    except ValueError:
        raise InvalidField(f"{name} {text!r} is not a real date and time") from None


def parse_spaced(text: str, name: str = "time") -> datetime:
    """``2024-01-01 12:01:05`` -> aware Beijing time; the doc's full-width colons are accepted."""
    cleaned = text.strip().replace("：", ":")
    try:
        return datetime.strptime(cleaned, SPACED).replace(tzinfo=BEIJING)
    except ValueError:
        raise InvalidField(f"{name} {text!r} is not yyyy-MM-dd HH:mm:ss") from None


def to_rfc3339(moment: datetime) -> str:
    """An aware datetime as API v3 writes times: ``2018-06-08T10:34:56+08:00`` (Beijing, seconds)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("times sent to WeChat must be timezone-aware datetimes")
    return moment.astimezone(BEIJING).replace(microsecond=0).isoformat()


def parse_rfc3339(text: str, name: str = "time") -> datetime:
    """API v3's RFC 3339 times (``…T10:34:56+08:00``) as aware datetimes; no offset is refused."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except (ValueError, AttributeError):
        raise InvalidField(f"{name} {text!r} is not an RFC 3339 time") from None
    if moment.tzinfo is None or "T" not in text:
        raise InvalidField(f"{name} {text!r} is not an RFC 3339 time with an offset")
    return moment
