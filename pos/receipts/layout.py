"""Line layout in printer cells, for Chinese and ASCII mixed.

A receipt printer lays text out in fixed cells: an ASCII character takes one
cell (12 dots in Font A), a Chinese character two (its GB18030 two-byte code,
a 24-dot glyph). ``len()`` counts both as one and misaligns every column with
Chinese in it, so all widths here are in cells. Lines are only ever broken
between characters, never inside one, and no line is wider than asked.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_TOKENS = re.compile(r"[\x21-\x7e]+| +|.", re.DOTALL)


def char_cells(ch: str) -> int:
    """Cells one character takes: 1 for ASCII, 2 for anything else (a GB18030 two-byte glyph)."""
    return 1 if ord(ch) < 0x80 else 2


def cells(text: str) -> int:
    """Printed width of ``text`` in cells (GB18030 bytes for the two-byte repertoire)."""
    if text.isascii():  # most tokens on a slip; the same count as below, without a loop in Python
        return len(text)
    return len(text) + sum(1 for ch in text if ord(ch) >= 0x80)


def truncate(text: str, width: int) -> str:
    """The longest prefix of ``text`` that fits in ``width`` cells (never half a character)."""
    used = 0
    for i, ch in enumerate(text):
        used += char_cells(ch)
        if used > width:
            return text[:i]
    return text


def _split_to_width(word: str, width: int) -> list[str]:
    pieces = []
    while word:
        head = truncate(word, width)
        if not head:  # a two-cell character in a one-cell column: give it its own line
            head = word[0]
        pieces.append(head)
        word = word[len(head) :]
    return pieces


def wrap(text: str, width: int) -> list[str]:
    """Break ``text`` into lines of at most ``width`` cells.

    ASCII words stay whole when they fit on a line; Chinese may break between any
    two characters. Spaces at line breaks are dropped; leading spaces (an indent)
    are kept. Always at least one line.
    """
    if width < 2:
        raise ValueError(f"cannot lay out text in {width} cells")
    lines: list[str] = []
    line = ""
    for token in _TOKENS.findall(text):
        if token.startswith(" "):
            if not line and not lines:  # leading spaces are an indent: keep them
                line = token if cells(token) < width else ""
            elif line and cells(line) + cells(token) < width:
                line += token
            elif line:
                lines.append(line)
                line = ""
            continue
        if cells(line) + cells(token) <= width:
            line += token
            continue
        if line.strip():
            lines.append(line.rstrip())
        line = ""
        pieces = _split_to_width(token, width)
        lines.extend(pieces[:-1])
        line = pieces[-1]
    lines.append(line.rstrip())
    return lines


def pad_right(text: str, width: int) -> str:
    """``text`` then spaces up to ``width`` cells (cut to fit if longer)."""
    text = truncate(text, width)
    return text + " " * (width - cells(text))


def pad_left(text: str, width: int) -> str:
    """Spaces then ``text``, ending at ``width`` cells (cut to fit if longer)."""
    text = truncate(text, width)
    return " " * (width - cells(text)) + text


def center(text: str, width: int) -> str:
    """``text`` centred in ``width`` cells (left spaces only: trailing spaces cost bytes, print nothing)."""
    text = truncate(text, width)
    return " " * ((width - cells(text)) // 2) + text


def pad_row(left: str, right: str, width: int, gap: int = 1) -> list[str]:
    """Lines with ``left`` flush left and ``right`` flush right in ``width`` cells.

    When both fit, one line. Otherwise ``left`` wraps and ``right`` ends the last
    line if there is room, or gets a line of its own.
    """
    right = right.strip()  # spaces around a flush-right value would wrap into a blank line of their own
    right_lines = wrap(right, width) if right else [""]
    right_last = right_lines[-1]
    left_lines = wrap(left, width) if left else [""]
    if len(right_lines) > 1:
        return left_lines + [pad_left(r, width) for r in right_lines]
    last = left_lines[-1]
    if not right_last:
        return left_lines
    if cells(last) + gap + cells(right_last) <= width or not last:
        room = width - cells(last) - cells(right_last)
        return [*left_lines[:-1], last + " " * room + right_last]
    return [*left_lines, pad_left(right_last, width)]


def table_row(values: Sequence[str], widths: Sequence[int], aligns: str) -> list[str]:
    """A fixed-column table row: each value wrapped in its column; ``aligns`` is one of l/r/c per column.

    Trailing spaces are dropped from each line; the result is never wider than ``sum(widths)``.
    """
    if not (len(values) == len(widths) == len(aligns)):
        raise ValueError("table_row needs one width and one alignment per value")
    columns = [wrap(v, w) if v else [""] for v, w in zip(values, widths, strict=True)]
    height = max(len(c) for c in columns)
    lines = []
    for i in range(height):
        parts = []
        for col, w, a in zip(columns, widths, aligns, strict=True):
            piece = col[i] if i < len(col) else ""
            if a == "r":
                parts.append(pad_left(piece, w))
            elif a == "c":
                parts.append(pad_right(center(piece, w), w))
            else:
                parts.append(pad_right(piece, w))
        lines.append("".join(parts).rstrip())
    return lines
