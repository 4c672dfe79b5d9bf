"""Yuan strings in, integer fen inside, ￥ strings out; never a float."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pos.money import (
    MAX_FEN,
    AmountTooLarge,
    MoneyError,
    format_price,
    format_yuan,
    parse_bill_yuan,
    parse_yuan,
)


@pytest.mark.parametrize(
    ("text", "fen"),
    [
        ("12.50", 1250),
        ("12.5", 1250),
        ("0.01", 1),
        ("9.80", 980),
        ("100", 10000),
        (" 3.3 ", 330),
        ("￥12.50", 1250),
        (7, 700),
        (Decimal("0.1"), 10),
    ],
)
def test_parse_yuan_exact(text, fen) -> None:
    assert parse_yuan(text) == fen


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-1", "not like 12.50"),
        ("0", "more than 0.00"),
        ("0.00", "more than 0.00"),
        ("1.234", "not like"),
        ("1e3", "not like"),
        ("1,000", "not like"),
        ("abc", "not like"),
        ("", "not like"),
        ("NaN", "not like"),
        (True, "must be a number"),
        (1.5, "must be a number"),
        ("99999999999", "too large for one sale"),
    ],
)
def test_parse_yuan_refuses(text, message) -> None:
    with pytest.raises(MoneyError, match=message):
        parse_yuan(text)


def test_zero_allowed_when_asked() -> None:
    assert parse_yuan("0.00", allow_zero=True) == 0


def test_too_large_refused() -> None:
    with pytest.raises(MoneyError, match="too large"):
        parse_yuan(Decimal(MAX_FEN) / 100 + 1)


@pytest.mark.parametrize("text", ["100000000", "10000000.01", "100000000.5", "1" + "0" * 40, "￥123456789"])
def test_well_formed_but_too_large_says_the_maximum(text: str) -> None:
    """A number that is only too big is told apart from one that is badly written."""
    with pytest.raises(AmountTooLarge, match=r"too large for one sale \(at most ￥10000000\.00\)"):
        parse_yuan(text)
    assert parse_yuan("10000000.00") == MAX_FEN
    for bad in ("1,000,000,000", "1e9", "100000000.123"):
        with pytest.raises(MoneyError) as refused:
            parse_yuan(bad)
        assert not isinstance(refused.value, AmountTooLarge)


def test_format() -> None:
    assert format_yuan(1250) == "12.50"
    assert format_yuan(5) == "0.05"
    assert format_yuan(-5) == "-0.05"
    assert format_price(1250) == "\uffe512.50"
    assert format_price(-1250) == "-\uffe512.50"
    with pytest.raises(TypeError):
        format_yuan(12.5)  # type: ignore[arg-type]


@given(st.integers(min_value=1, max_value=MAX_FEN))
def test_round_trip(fen: int) -> None:
    assert parse_yuan(format_yuan(fen)) == fen
    assert parse_bill_yuan(format_yuan(fen)) == fen


def test_bill_amounts() -> None:
    assert parse_bill_yuan("6.00") == 600
    assert parse_bill_yuan("0.0") == 0
    assert parse_bill_yuan("-0.02") == -2
    with pytest.raises(MoneyError):
        parse_bill_yuan("0.001")
    with pytest.raises(MoneyError):
        parse_bill_yuan("x")
