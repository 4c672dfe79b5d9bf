"""Layout in printer cells: Chinese counts two, ASCII one; no line too wide, no character split."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pos.receipts.layout import cells, center, pad_left, pad_row, table_row, truncate, wrap

# Mixed text: ASCII letters, digits, spaces, Chinese, full-width punctuation and ￥.
mixed = st.text(alphabet=st.sampled_from(list("ab cd12.-可口乐牛奶面包，：￥×")), max_size=80)


def test_cells_count_gb18030_two_byte_characters_as_two():
    assert cells("abc") == 3
    assert cells("可口可乐") == 8
    assert cells("￥12.50") == 7
    assert cells("可乐 330ml") == 10
    assert cells("可乐 330ml") == len("可乐 330ml".encode("gb18030"))


def test_truncate_never_cuts_a_character_in_half():
    assert truncate("可口可乐", 5) == "可口"
    assert truncate("a可", 2) == "a"
    assert truncate("abc", 10) == "abc"


def test_wrap_keeps_ascii_words_and_breaks_chinese_anywhere():
    assert wrap("Oreo 奥利奥原味夹心饼干 116g", 16) == ["Oreo 奥利奥原味", "夹心饼干 116g"]
    assert wrap("hello world again", 11) == ["hello world", "again"]
    assert wrap("", 10) == [""]
    assert wrap("  indented", 20) == ["  indented"]


@given(mixed, st.integers(min_value=2, max_value=48))
def test_wrap_never_exceeds_the_width_and_loses_no_character(text, width):
    lines = wrap(text, width)
    assert all(cells(line) <= width for line in lines)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")


@given(mixed, mixed, st.sampled_from([32, 42, 48]))
def test_pad_row_fills_the_columns_exactly_when_both_fit(left, right, width):
    lines = pad_row(left, right, width)
    assert all(cells(line) <= width for line in lines)
    if right.strip() and cells(right) <= width:
        assert lines[-1].endswith(right.strip()) and cells(lines[-1]) == width


def test_pad_row_a_right_value_with_a_trailing_space_that_just_fits_makes_one_line():
    # Found by the property above: the space wrapped into a blank line of its own.
    right = "1" * 15 + "×" * 13 + " "
    assert pad_row("", right, 42) == [" " + right.strip()]


def test_pad_row_mixed_chinese_and_ascii():
    assert pad_row("合计", "￥147.30", 32) == ["合计" + " " * 20 + "￥147.30"]
    long = "蒙牛纯牛奶 250ml×12 特价装 买一送一"
    lines = pad_row(long, "￥45.00", 24)
    assert all(cells(line) <= 24 for line in lines)
    assert lines[-1].endswith("￥45.00") and cells(lines[-1]) == 24


def test_table_row_aligns_columns_and_wraps_the_name():
    lines = table_row(["Oreo 奥利奥原味夹心饼干 116g", "1", "￥8.90", "￥8.90"], (24, 4, 10, 10), "lrrr")
    assert lines[0] == "Oreo 奥利奥原味夹心饼干" + "    1" + " " * 4 + "￥8.90" + " " * 4 + "￥8.90"
    assert cells(lines[0]) == 48
    assert lines[1] == "116g"


def test_padding_helpers():
    assert pad_left("￥7", 6) == "   ￥7"
    assert center("合计", 10) == "   合计"
    with pytest.raises(ValueError):
        table_row(["a"], (1, 2), "l")


@given(st.text(max_size=80))
def test_cells_is_one_per_ascii_character_and_two_per_other(text):
    """cells() takes a shortcut for ASCII text; it must count exactly as character by character."""
    assert cells(text) == sum(1 if ord(ch) < 0x80 else 2 for ch in text)
