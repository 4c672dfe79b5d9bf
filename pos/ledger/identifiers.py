"""out_trade_no: readable on paper, unique per merchant, within WeChat's rules.

WeChat accepts 6–32 characters of ``[0-9A-Za-z_-|*]`` and needs the number to be
unique per merchant account. Ours reads like ``S01-01-20261127-0042``: store,
lane, business date (in the store's time zone), and the lane's sequence for
that day, allocated by the database so two processes never hand out one number.

With a store id of at most 8 and a lane id of at most 4 letters or digits and a
sequence of at most 6 digits, the longest number is 29 characters.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

from pos.ledger.errors import InvalidInput

DEFAULT_ZONE = "Asia/Shanghai"
MAX_SEQUENCE = 999_999
OUT_TRADE_NO_PATTERN = re.compile(r"^[0-9A-Za-z_\-|*]{6,32}$")
STORE_ID_PATTERN = re.compile(r"^[0-9A-Za-z]{1,8}$")
LANE_ID_PATTERN = re.compile(r"^[0-9A-Za-z]{1,4}$")


def check_store_id(store: str) -> str:
    """Return ``store`` if it can sit in an out_trade_no, else raise :class:`InvalidInput`."""
    if not isinstance(store, str) or not STORE_ID_PATTERN.fullmatch(store):
        raise InvalidInput(f"store id must be 1-8 letters or digits (e.g. S01), not {store!r}")
    return store


def check_lane_id(lane: str) -> str:
    """Return ``lane`` if it can sit in an out_trade_no, else raise :class:`InvalidInput`."""
    if not isinstance(lane, str) or not LANE_ID_PATTERN.fullmatch(lane):
        raise InvalidInput(f"lane id must be 1-4 letters or digits (e.g. 01), not {lane!r}")
    return lane


def check_aware(moment: datetime, name: str = "time") -> datetime:
    """Refuse naive datetimes: a time without a zone is a bug waiting for the day it is 8 hours off."""
    if not isinstance(moment, datetime) or moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidInput(f"{name} must be a timezone-aware datetime, not {moment!r}")
    return moment


def business_date(moment: datetime, zone: ZoneInfo | str = DEFAULT_ZONE) -> date:
    """The shop's calendar day at ``moment``: 23:30 UTC on the 26th is the 27th in Shanghai."""
    tz = ZoneInfo(zone) if isinstance(zone, str) else zone
    return check_aware(moment).astimezone(tz).date()


def format_out_trade_no(store: str, lane: str, day: date, sequence: int) -> str:
    """``S01-01-20261127-0042``; the sequence is padded to four digits and grows to six."""
    check_store_id(store)
    check_lane_id(lane)
    if not 1 <= sequence <= MAX_SEQUENCE:
        raise InvalidInput(f"lane {lane} of store {store} has used all {MAX_SEQUENCE} numbers of {day}")
    text = f"{store}-{lane}-{day:%Y%m%d}-{sequence:04d}"
    assert is_valid_out_trade_no(text), text
    return text


def is_valid_out_trade_no(text: str) -> bool:
    """True when WeChat would accept ``text`` as an out_trade_no."""
    return isinstance(text, str) and bool(OUT_TRADE_NO_PATTERN.fullmatch(text))


def store_of(out_trade_no: str) -> str:
    """The store part of one of our numbers (``S01`` of ``S01-01-20261127-0042``: the chain's
    reconciliation names the store of each difference with it); "" for a number of another form."""
    parts = out_trade_no.split("-") if isinstance(out_trade_no, str) else []
    if (
        len(parts) == 4
        and STORE_ID_PATTERN.fullmatch(parts[0])
        and LANE_ID_PATTERN.fullmatch(parts[1])
        and len(parts[2]) == 8
        and parts[2].isdigit()
        and parts[3].isdigit()
    ):
        return parts[0]
    return ""
