"""Money as integer fen, with yuan strings only at the edges.

WeChat Pay counts in fen (`total_fee` is an integer) and so do we, everywhere.
Floats are never used: ``9.8 * 100`` is ``980.0000000000001``, and a till that
rounds a customer's money by accident is a till nobody trusts.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

YUAN_SIGN = "\uffe5"  # ￥ FULLWIDTH YEN SIGN: two bytes (A3 A4) in GB18030, unlike ¥ U+00A5
MAX_FEN = 10_000_000_00  # ten million yuan: far above any till sale, far below int overflow

_YUAN_PATTERN = re.compile(r"^\d{1,9}(\.\d{1,2})?$")
# Digits and at most two decimals, however many digits: a well-formed number that may be too large.
_LONG_YUAN_PATTERN = re.compile(r"^\d+(\.\d{1,2})?$")


class MoneyError(ValueError):
    """A yuan amount that is not a plain positive number with at most two decimals."""


class AmountTooLarge(MoneyError):
    """A well-formed amount above :data:`MAX_FEN`: told apart so a person hears the maximum,
    not "not like 12.50" (``100000000`` is a fine number, only too much for one sale)."""


def max_price() -> str:
    """The largest amount one sale may have, as printed: "￥10000000.00"."""
    return format_price(MAX_FEN)


def parse_yuan(text: str | int | Decimal, *, allow_zero: bool = False) -> int:
    """Turn "12.50" (or 12 or Decimal("12.5")) into 1250 fen.

    Refuses negatives, more than two decimals, exponents, thousands separators and
    anything that is not a number, each with a message a cashier can act on.
    """
    if isinstance(text, bool):
        raise MoneyError("amount must be a number like 12.50")
    if isinstance(text, int):
        value = Decimal(text)
    elif isinstance(text, Decimal):
        value = text
    elif isinstance(text, str):
        cleaned = text.strip().lstrip(YUAN_SIGN).lstrip("¥").strip()
        if not _YUAN_PATTERN.match(cleaned):
            if _LONG_YUAN_PATTERN.match(cleaned):
                raise AmountTooLarge(f"amount is too large for one sale (at most {max_price()})")
            raise MoneyError(f"amount {text!r} is not like 12.50 (digits, at most two decimals)")
        try:
            value = Decimal(cleaned)
        except InvalidOperation as exc:  # pragma: no cover - the pattern already guards this
            raise MoneyError(f"amount {text!r} is not a number") from exc
    else:
        raise MoneyError("amount must be a number like 12.50")
    if not value.is_finite():
        raise MoneyError("amount must be a finite number")
    fen = value * 100
    if fen != fen.to_integral_value():
        raise MoneyError(f"amount {text!r} has more than two decimals")
    fen_int = int(fen)
    if fen_int < 0:
        raise MoneyError("amount must not be negative")
    if fen_int == 0 and not allow_zero:
        raise MoneyError("amount must be more than 0.00")
    if fen_int > MAX_FEN:
        raise AmountTooLarge(f"amount is too large for one sale (at most {max_price()})")
    return fen_int


def format_yuan(fen: int) -> str:
    """1250 -> "12.50"; -5 -> "-0.05". Plain digits, for files and APIs."""
    if isinstance(fen, bool) or not isinstance(fen, int):
        raise TypeError(f"fen must be an int, got {type(fen).__name__}")
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole}.{cents:02d}"


def format_price(fen: int) -> str:
    """1250 -> "￥12.50", with the full-width sign that Chinese printers print."""
    text = format_yuan(fen)
    if text.startswith("-"):
        return f"-{YUAN_SIGN}{text[1:]}"
    return f"{YUAN_SIGN}{text}"


def parse_bill_yuan(text: str) -> int:
    """WeChat bill amounts ("6.00", "0.0", "-0.02", "0") to fen, exactly."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation as exc:
        raise MoneyError(f"bill amount {text!r} is not a number") from exc
    fen = value * 100
    if fen != fen.to_integral_value():
        raise MoneyError(f"bill amount {text!r} has more than two decimals")
    return int(fen)
