"""The typed commands :func:`pos.printing.preview.parse` yields, one small frozen class each."""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

# ---------------------------------------------------------------------------------------------
# Typed commands
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """One command (or run of text) and the byte offset where it starts in the stream."""

    offset: int


@dataclass(frozen=True)
class Text(Command):
    """A run of printable bytes (>= 0x20); how they decode depends on the Chinese mode."""

    data: bytes


@dataclass(frozen=True)
class LineFeed(Command):
    """LF: print the line buffer and advance one line."""


@dataclass(frozen=True)
class Tab(Command):
    """HT: move to the next tab stop (every 8 half-width cells)."""


@dataclass(frozen=True)
class Init(Command):
    """ESC @: reset modes and clear the line buffer."""


@dataclass(frozen=True)
class FeedLines(Command):
    """ESC d n: print and feed n lines."""

    lines: int


@dataclass(frozen=True)
class FeedDots(Command):
    """ESC J n: print and feed n dots."""

    dots: int


@dataclass(frozen=True)
class LineSpacing(Command):
    """ESC 3 n (dots) or ESC 2 (None: the default, 30 dots)."""

    dots: int | None


@dataclass(frozen=True)
class Align(Command):
    """ESC a n: 0 left, 1 centre, 2 right."""

    align: int


@dataclass(frozen=True)
class Bold(Command):
    """ESC E n: emphasised on or off."""

    on: bool


@dataclass(frozen=True)
class Underline(Command):
    """ESC - n: 0 off, 1 one dot, 2 two dots."""

    dots: int


@dataclass(frozen=True)
class SelectFont(Command):
    """ESC M n: Font A (12x24) or Font B (9x17)."""

    font_b: bool


@dataclass(frozen=True)
class CharSize(Command):
    """GS ! n: width and height multipliers, 1..8 each."""

    width: int
    height: int


@dataclass(frozen=True)
class PrintMode(Command):
    """ESC ! n: font B, bold, double height, double width, underline in one byte."""

    font_b: bool
    bold: bool
    double_height: bool
    double_width: bool
    underline: bool


@dataclass(frozen=True)
class ChineseMode(Command):
    """FS & (on) / FS . (off): bytes >= 0x81 start a two-byte GB18030 character."""

    on: bool


@dataclass(frozen=True)
class CodePage(Command):
    """ESC t n: single-byte code page (the preview draws every page as cp437)."""

    page: int


@dataclass(frozen=True)
class Raster(Command):
    """GS v 0 m xL xH yL yH d...: a raster image, ``width_bytes*8`` by ``height`` dots.

    ``mode`` bit 0 doubles the width, bit 1 the height (m = 0..3 or '0'..'3').
    """

    mode: int
    width_bytes: int
    height: int
    data: bytes

    def image(self) -> Image.Image:
        """The image as sent (no scaling), mode "L", 255 where the printer puts a dot."""
        return Image.frombytes("1", (self.width_bytes * 8, self.height), self.data).convert("L")

    @property
    def scale(self) -> tuple[int, int]:
        """(x, y) multipliers from the mode byte."""
        m = self.mode & 0x03
        return (2 if m & 1 else 1, 2 if m & 2 else 1)


@dataclass(frozen=True)
class ColumnImage(Command):
    """ESC * m nL nH d...: a bit image band in the line buffer (8 or 24 dots tall)."""

    mode: int
    columns: int
    data: bytes

    def image(self) -> Image.Image:
        """The band as printed: 255 where a dot is, scaled for single density / 8-dot modes."""
        rows = 24 if self.mode in (32, 33) else 8
        per_col = rows // 8
        img = Image.new("L", (self.columns, rows), 0)
        px = img.load()
        for col in range(self.columns):
            for k in range(per_col):
                byte = self.data[col * per_col + k]
                for bit in range(8):
                    if byte & (0x80 >> bit):
                        px[col, k * 8 + bit] = 255
        sx = 2 if self.mode in (0, 32) else 1
        sy = 3 if rows == 8 else 1
        if sx != 1 or sy != 1:
            img = img.resize((self.columns * sx, rows * sy), Image.Resampling.NEAREST)
        return img


@dataclass(frozen=True)
class QRModel(Command):
    """GS ( k fn 65: QR model (1, 2 or micro = 3)."""

    model: int


@dataclass(frozen=True)
class QRModuleSize(Command):
    """GS ( k fn 67: dots per module."""

    size: int


@dataclass(frozen=True)
class QRErrorCorrection(Command):
    """GS ( k fn 69: error-correction level, one of "L", "M", "Q", "H"."""

    level: str


@dataclass(frozen=True)
class QRStore(Command):
    """GS ( k fn 80: store the symbol's data in the printer."""

    data: bytes


@dataclass(frozen=True)
class QRPrint(Command):
    """GS ( k fn 81: print the stored symbol."""


@dataclass(frozen=True)
class Barcode(Command):
    """GS k: a hardware 1-D barcode (drawn as its text only)."""

    system: int
    data: bytes


@dataclass(frozen=True)
class Cut(Command):
    """GS V / ESC i / ESC m: cut, after feeding ``feed`` dots."""

    partial: bool
    feed: int = 0


@dataclass(frozen=True)
class DrawerKick(Command):
    """ESC p m t1 t2 (or DLE DC4 1 m t): pulse a cash-drawer pin. Nothing is printed."""

    pin: int
    on_ms: int
    off_ms: int


@dataclass(frozen=True)
class StatusRequest(Command):
    """DLE EOT n: a real-time status request; the printer answers one byte, prints nothing."""

    n: int


@dataclass(frozen=True)
class Ignored(Command):
    """A known command whose effect the preview does not draw (parsed to its full length)."""

    name: str
    raw: bytes


@dataclass(frozen=True)
class Unknown(Command):
    """Bytes the parser does not understand; skipped (as the lead bytes only)."""

    raw: bytes


@dataclass(frozen=True)
class Truncated(Command):
    """The stream ended in the middle of a command."""

    raw: bytes
