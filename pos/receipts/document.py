"""What goes on paper, as plain data: a Document is a list of blocks.

Nothing here knows ESC/POS. A template builds a Document from values; the
printing layer (``pos.printing.encoder``) turns it into bytes for one printer
profile, and a preview can draw the same Document or its bytes. Keeping the
receipt as data means the same slip can be tested for content without bytes,
stored in the print queue, and printed on a 58 mm or an 80 mm printer.

Widths are counted in printer cells (``pos.receipts.layout``): an ASCII
character is one cell, any other character two (its GB18030 two-byte code).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Align(StrEnum):
    LEFT = "left"
    CENTER = "center"
    RIGHT = "right"


@dataclass(frozen=True)
class Text:
    """A paragraph. The encoder wraps it to the printer's columns divided by ``width``.

    ``width``/``height`` are character magnifications 1..8 (``GS !``): a title at
    width 2 has half the columns.
    """

    text: str
    align: Align = Align.LEFT
    bold: bool = False
    width: int = 1
    height: int = 1

    def __post_init__(self) -> None:
        if not (1 <= self.width <= 8 and 1 <= self.height <= 8):
            raise ValueError(f"text size must be 1..8, got width={self.width} height={self.height}")
        if "\n" in self.text or "\r" in self.text:
            raise ValueError("a Text block is one paragraph; use one block per line")


@dataclass(frozen=True)
class Row:
    """Two columns: ``left`` flush left, ``right`` flush right, padded to the printer's columns.

    A left part too long for the line wraps; the right part goes on its last line.
    """

    left: str
    right: str
    bold: bool = False


@dataclass(frozen=True)
class Rule:
    """A full-width line of one ASCII character."""

    char: str = "-"

    def __post_init__(self) -> None:
        if len(self.char) != 1 or not (0x20 < ord(self.char) < 0x7F):
            raise ValueError(f"a rule is drawn with one printable ASCII character, not {self.char!r}")


@dataclass(frozen=True)
class QR:
    """A QR code holding exactly ``data`` (EC level M, at least 25 mm wide), centred.

    ``mode`` is "auto" (the profile decides: native ``GS ( k`` or a raster image);
    "native" or "raster" force one, for the calibration slip only.
    """

    data: str
    mode: str = "auto"

    def __post_init__(self) -> None:
        if not self.data:
            raise ValueError("a QR block needs data")
        if self.mode not in ("auto", "native", "raster"):
            raise ValueError(f"QR mode must be auto, native or raster, not {self.mode!r}")


@dataclass(frozen=True)
class Feed:
    """Blank lines."""

    lines: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.lines <= 255:
            raise ValueError("feed must be 1..255 lines")


@dataclass(frozen=True)
class Cut:
    """End of the slip: feed past the tear bar and cut, as the printer profile allows."""


Block = Text | Row | Rule | QR | Feed | Cut

KINDS = ("sale", "paid", "void", "expired", "refund", "z_report", "label", "test")


@dataclass(frozen=True)
class Document:
    """One print job: its blocks, what kind of slip it is, and the sale it belongs to (if any)."""

    blocks: tuple[Block, ...]
    kind: str
    out_trade_no: str = ""
    meta: dict[str, str] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"document kind must be one of {', '.join(KINDS)}, not {self.kind!r}")
        object.__setattr__(self, "blocks", tuple(self.blocks))

    def qr_data(self) -> list[str]:
        """The contents of every QR block, in order (what a scan of the slip must give)."""
        return [b.data for b in self.blocks if isinstance(b, QR)]

    def text_lines(self) -> list[str]:
        """Text of Text and Row blocks, unwrapped: for tests and logs, not for printing."""
        lines: list[str] = []
        for block in self.blocks:
            if isinstance(block, Text):
                lines.append(block.text)
            elif isinstance(block, Row):
                lines.append(f"{block.left} {block.right}")
        return lines
