"""out_trade_no format and business dates (no database needed)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pos.ledger import InvalidInput, business_date, format_out_trade_no, is_valid_out_trade_no
from pos.ledger.identifiers import MAX_SEQUENCE, check_aware, check_lane_id, check_store_id

WECHAT_CHARS = set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-|*")


def test_reads_like_store_lane_date_sequence():
    assert format_out_trade_no("S01", "01", date(2026, 11, 27), 42) == "S01-01-20261127-0042"
    assert format_out_trade_no("S01", "01", date(2026, 11, 27), 123456) == "S01-01-20261127-123456"


@given(
    store=st.from_regex(r"\A[0-9A-Za-z]{1,8}\Z"),
    lane=st.from_regex(r"\A[0-9A-Za-z]{1,4}\Z"),
    day=st.dates(min_value=date(2000, 1, 1), max_value=date(9999, 12, 31)),
    sequence=st.integers(min_value=1, max_value=MAX_SEQUENCE),
)
def test_every_number_is_within_wechat_rules(store, lane, day, sequence):
    text = format_out_trade_no(store, lane, day, sequence)
    assert 6 <= len(text) <= 32
    assert set(text) <= WECHAT_CHARS
    assert is_valid_out_trade_no(text)


@pytest.mark.parametrize("store", ["", "S 01", "S-01", "店01", "S01234567", "S01\n"])
def test_bad_store_ids_are_refused(store):
    with pytest.raises(InvalidInput, match="store id"):
        check_store_id(store)


@pytest.mark.parametrize("lane", ["", "01 ", "1_2", "01234", "①"])
def test_bad_lane_ids_are_refused(lane):
    with pytest.raises(InvalidInput, match="lane id"):
        check_lane_id(lane)


@pytest.mark.parametrize("sequence", [0, -1, MAX_SEQUENCE + 1])
def test_sequence_out_of_range_is_refused(sequence):
    with pytest.raises(InvalidInput):
        format_out_trade_no("S01", "01", date(2026, 11, 27), sequence)


@pytest.mark.parametrize(
    "text, valid",
    [
        ("S01-01-20261127-0042", True),
        ("abc_-|*", True),
        ("12345", False),  # too short
        ("x" * 33, False),  # too long
        ("S01 01", False),
        ("S01/01/2026", False),
        ("订单12345678", False),
    ],
)
def test_is_valid_out_trade_no(text, valid):
    assert is_valid_out_trade_no(text) is valid


def test_business_day_rolls_over_at_midnight_in_shanghai_not_utc():
    assert business_date(datetime(2026, 11, 27, 15, 59, 59, tzinfo=UTC)) == date(2026, 11, 27)
    assert business_date(datetime(2026, 11, 27, 16, 0, 0, tzinfo=UTC)) == date(2026, 11, 28)
    assert business_date(datetime(2026, 11, 27, 16, 0, tzinfo=UTC), "Europe/London") == date(2026, 11, 27)


def test_naive_datetimes_are_refused():
    with pytest.raises(InvalidInput, match="timezone-aware"):
        check_aware(datetime(2026, 11, 27, 10, 0))
    with pytest.raises(InvalidInput):
        business_date(datetime(2026, 11, 27, 10, 0))
