"""A receipt Document to ESC/POS bytes for one printer profile.

``encode(document, profile)`` is a pure function: the same document and
profile always give the same bytes, which the tests keep as golden files and
the spooler sends as one job.

What it sends, and why (escpos.md §0):

- ``ESC @`` first, so a job never inherits a previous job's modes.
- ``ESC a`` / ``ESC E`` / ``GS !`` only when alignment, bold or size change.
- Chinese: ``FS &`` once before the first non-ASCII line, then GB18030 two-byte
  codes; ``FS .`` at the end of the job so the next sender finds the printer in
  ASCII mode. Characters with no two-byte GB18030 code (and control
  characters) are replaced by a visible "？", never sent as junk; ``¥`` (U+00A5)
  is printed as ``￥`` (U+FFE5, ``A3 A4``). python-escpos's ``text()`` is not
  used: it guesses encodings per string and never sends ``FS &``.
- Printers without a Chinese font (``chinese_mode = "none"``): text goes out in
  code page 437; a line with characters that page lacks is drawn as an image
  with ``raster_font`` (a character that font lacks becomes "？" as above), or
  refused with :class:`RasterFontRequired` when no font is given. Full-width
  forms that CP437 has a half-width twin for (``￥``, ``：``) are sent as the
  twin plus a space, keeping the column count.
- QR: see ``pos.printing.qr``; native ``GS ( k`` only where the profile says so,
  otherwise a bare raster image centred with ``ESC a 1``; a 4-module quiet zone
  above and below is fed with ``ESC J`` rather than sent as white rows.
- Cut: ``GS V 0`` (full) or ``GS V 1`` (partial) after feeding past the cutter,
  or a feed to the tear bar on printers without one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import qrcode
import qrcode.constants
import qrcode.exceptions

from pos.printing import fonts, raster, raster_text
from pos.printing import qr as qrmod
from pos.printing.errors import PrintingError
from pos.printing.profiles import PrinterProfile
from pos.receipts.document import QR, Align, Cut, Document, Feed, Row, Rule, Text
from pos.receipts.layout import char_cells, pad_row, wrap

ESC = b"\x1b"
GS = b"\x1d"
FS = b"\x1c"
LF = b"\n"

INIT = ESC + b"@"
CODE_PAGE_437 = ESC + b"t\x00"
CHINESE_ON = FS + b"&"
CHINESE_OFF = FS + b"."
CUT_FULL = GS + b"V\x00"
CUT_PARTIAL = GS + b"V\x01"
FEED_BEFORE_CUT = 4  # lines from the print head to the cutter or tear bar on common printers
RASTER_LINE_GAP = 6  # dots under a raster text line, so it spaces like a text line (30 dots)

REPLACEMENT = "？"  # U+FF1F, A3 BF: visible, and two cells like the character it replaces
_ALIGN = {Align.LEFT: 0, Align.CENTER: 1, Align.RIGHT: 2}
# Full-width forms with a CP437 twin: (twin, padding) keeps the two-cell width.
_CP437_TWINS = {"￥": " \u00a5", "：": ": ", "，": ", ", "（": " (", "）": ") ", "　": "  "}


class EncodeError(PrintingError, ValueError):
    """The document cannot be printed on this profile as it stands; the message says what to change."""


class RasterFontRequired(EncodeError):
    """Chinese text for a printer with no Chinese font, and no ``[printer] raster_font`` configured."""


@dataclass
class _State:
    align: int = 0
    bold: bool = False
    size: int = 0
    chinese: bool = False


def encode(
    document: Document, profile: PrinterProfile, *, raster_font: str | fonts.Font | None = None
) -> bytes:
    """The complete job for ``document`` on a ``profile`` printer.

    ``raster_font`` is a CJK font (a path, or a :class:`pos.printing.fonts.Font` as
    :func:`pos.printing.fonts.for_config` chooses it), used only when the profile has no
    Chinese font and a line needs one. Callers pass the resolved font; ``None`` means
    none was given, and such a line is refused.
    """
    return _Encoder(profile, raster_font or None).run(document)


def _drawable(ch: str, have: frozenset[int]) -> str:
    """``ch`` if the raster font has it, else a visible "？" or "?" of the same width (a font's
    empty box would look like a printing fault); :func:`pos.printing.fonts.font_problem`
    refuses at start-up a font that lacks what the store's own slips need."""
    if ord(ch) in have or ch.isspace():
        return ch
    return REPLACEMENT if char_cells(ch) == 2 else "?"


class _Encoder:
    def __init__(self, profile: PrinterProfile, raster_font: str | fonts.Font | None) -> None:
        self.profile = profile
        self.raster_font = raster_font
        self.out = bytearray()
        self.state = _State()

    def run(self, document: Document) -> bytes:
        self.out += INIT
        if self.profile.text_encoding == "cp437":
            self.out += CODE_PAGE_437
        for block in document.blocks:
            if isinstance(block, Text):
                self._text(block)
            elif isinstance(block, Row):
                self._set(align=0, bold=block.bold, width=1, height=1)
                self._lines(pad_row(block.left, block.right, self.profile.columns), 1, 1, block.bold)
            elif isinstance(block, Rule):
                self._set(align=0, bold=False, width=1, height=1)
                self.out += block.char.encode("ascii") * self.profile.columns + LF
            elif isinstance(block, Feed):
                self.out += ESC + b"d" + bytes([block.lines])
            elif isinstance(block, QR):
                self._qr(block)
            elif isinstance(block, Cut):
                self._cut()
            else:  # pragma: no cover - the Block union is closed
                raise EncodeError(f"unknown block {block!r}")
        if self.state.chinese:
            self.out += CHINESE_OFF
        return bytes(self.out)

    # -- state -----------------------------------------------------------------------------------

    def _set(self, *, align: int, bold: bool, width: int, height: int) -> None:
        if align != self.state.align:
            self.out += ESC + b"a" + bytes([align])
            self.state.align = align
        if bold != self.state.bold:
            self.out += ESC + b"E" + bytes([int(bold)])
            self.state.bold = bold
        size = ((width - 1) << 4) | (height - 1)
        if size != self.state.size:
            self.out += GS + b"!" + bytes([size])
            self.state.size = size

    # -- text ------------------------------------------------------------------------------------

    def _text(self, block: Text) -> None:
        self._set(align=_ALIGN[block.align], bold=block.bold, width=block.width, height=block.height)
        columns = max(2, self.profile.columns // block.width)
        self._lines(wrap(block.text, columns), block.width, block.height, block.bold)

    def _lines(self, lines: Iterable[str], width: int, height: int, bold: bool) -> None:
        for line in lines:
            if self.profile.has_chinese_font:
                self._gb_line(line)
            else:
                self._single_byte_line(line, width, height, bold)

    def _gb_line(self, line: str) -> None:
        data = gb18030_two_byte(line)
        if any(b >= 0x80 for b in data) and not self.state.chinese:
            self.out += CHINESE_ON
            self.state.chinese = True
        self.out += data + LF

    def _single_byte_line(self, line: str, width: int, height: int, bold: bool) -> None:
        text = "".join(_CP437_TWINS.get(ch, ch) for ch in line.replace("\u00a5", "￥"))
        try:
            data = text.encode("cp437")
        except UnicodeEncodeError:
            data = b""
        if not line or (data and all(b >= 0x20 for b in data)):
            self.out += data + LF
            return
        self._raster_line(line, width, height, bold)

    def _raster_line(self, line: str, width: int, height: int, bold: bool) -> None:
        if not self.raster_font:
            raise RasterFontRequired(
                f"printer profile {self.profile.name!r} has no Chinese font, and the line {line!r} "
                "needs one: set [printer] raster_font to a CJK TrueType font "
                "(or leave it empty for the bundled one) "
                'or use a profile with chinese_mode = "fs-and"'
            )
        font = self.raster_font if isinstance(self.raster_font, fonts.Font) else fonts.Font(self.raster_font)
        try:
            have = fonts.characters(font)
            line = "".join(_drawable(ch, have) for ch in line)
            image = raster_text.render_line(line, font, cell_dots=self.profile.cell_dots, bold=bold)
        except (raster_text.FontError, fonts.FontUnreadable) as exc:
            raise EncodeError(f"cannot open the raster font {font.path!r} ({fonts.SETTING}): {exc}") from exc
        image = raster_text.scale(image, width, height)
        if image.width > self.profile.printable_dots:
            image = image.crop((0, 0, self.profile.printable_dots, image.height))
        self.out += raster.image_bytes(image)
        self.out += ESC + b"J" + bytes([RASTER_LINE_GAP * height])

    # -- QR and cut ------------------------------------------------------------------------------

    def _qr(self, block: QR) -> None:
        native = self.profile.native_qr if block.mode == "auto" else block.mode == "native"
        scale = 1 if native else self.profile.raster_scale
        try:
            plan = qr_plan(
                block.data,
                dpi=self.profile.dpi,
                printable_dots=self.profile.printable_dots,
                max_module=qrmod.NATIVE_MAX_MODULE if native else None,
                even=scale == 2,
                wanted_mm=qrmod.target_mm(native=native, paper_width_mm=self.profile.paper_width_mm),
            )
        except qrmod.QRSizeError as exc:
            raise EncodeError(f"printer profile {self.profile.name!r}: {exc}") from exc
        self._set(align=1, bold=False, width=1, height=1)
        quiet = min(255, 4 * plan.module_dots)
        self.out += ESC + b"J" + bytes([quiet])
        if native:
            self.out += qrmod.native_bytes(block.data, plan.module_dots)
        else:
            self.out += qrmod.raster_bytes(block.data, plan.module_dots, scale=scale)
        self.out += ESC + b"J" + bytes([quiet])

    def _cut(self) -> None:
        self.out += ESC + b"d" + bytes([FEED_BEFORE_CUT])
        if self.profile.cut == "full":
            self.out += CUT_FULL
        elif self.profile.cut == "partial":
            self.out += CUT_PARTIAL


_PLANS: dict[tuple[int, int, int, int | None, bool, float], qrmod.QRPlan] = {}


def qr_version(data: str) -> int | None:
    """The QR version (1-40) the qrcode library picks for ``data`` at level M, or None if none holds it.

    This is the first step of ``QRCode.make(fit=True)`` alone (a bit count, about 0.1 ms); the
    symbol itself (eight trial masks in pure Python, about 5 ms) is not built.
    """
    code = qrcode.QRCode(version=None, error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
    try:
        code.add_data(data)
        return code.best_fit()
    except (qrcode.exceptions.DataOverflowError, ValueError):
        return None


def qr_plan(
    data: str,
    *,
    dpi: int,
    printable_dots: int,
    max_module: int | None,
    even: bool,
    wanted_mm: float = qrmod.MIN_QR_MM,
) -> qrmod.QRPlan:
    """:func:`pos.printing.qr.plan`, computed once per QR version and paper.

    A plan depends on the data only through the symbol's module count (``4 x version + 17``),
    and every sale slip's code_url is new, so a cache keyed by the data itself would never hit.
    Keyed by the version instead, the first slip of each version pays for ``qr.plan`` (which
    builds the whole symbol) and every later one costs a bit count. Data no version holds goes
    straight to ``qr.plan``, which raises its QRSizeError.
    """
    version = qr_version(data)
    kwargs = {"dpi": dpi, "printable_dots": printable_dots, "max_module": max_module, "even": even}
    if version is None:
        return qrmod.plan(data, **kwargs, wanted_mm=wanted_mm)
    key = (version, dpi, printable_dots, max_module, even, wanted_mm)
    cached = _PLANS.get(key)
    if cached is None:
        cached = qrmod.plan(data, **kwargs, wanted_mm=wanted_mm)
        _PLANS[key] = cached  # one dict store: two threads racing here only compute it twice
    return cached


def gb18030_two_byte(line: str) -> bytes:
    """``line`` in GB18030 with every character one or two bytes; others become a visible "？"."""
    out = bytearray()
    for ch in line.replace("\u00a5", "￥"):
        if ch < " " or ch == "\x7f":
            out += REPLACEMENT.encode("gb18030") if ch != "\t" else b" "
            continue
        try:
            data = ch.encode("gb18030")
        except UnicodeEncodeError:  # lone surrogates
            data = b""
        out += data if 1 <= len(data) <= 2 else REPLACEMENT.encode("gb18030")
    return bytes(out)
