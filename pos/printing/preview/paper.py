"""Typed commands -> a picture of the paper (fonts, line layout, images, QR, cuts)."""

from __future__ import annotations

import functools
import io
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field

from PIL import Image, ImageDraw, ImageFont

from pos.printing import fonts
from pos.printing.preview.commands import (
    Align,
    Barcode,
    Bold,
    CharSize,
    ChineseMode,
    CodePage,
    ColumnImage,
    Cut,
    DrawerKick,
    FeedDots,
    FeedLines,
    Init,
    LineFeed,
    LineSpacing,
    PrintMode,
    QRErrorCorrection,
    QRModuleSize,
    QRPrint,
    QRStore,
    Raster,
    SelectFont,
    Tab,
    Text,
    Truncated,
    Underline,
    Unknown,
)
from pos.printing.preview.parser import parse

# ---------------------------------------------------------------------------------------------
# Fonts
# ---------------------------------------------------------------------------------------------

# The font comes from pos.printing.fonts (one place for previews and raster text): an installed
# system CJK font, else the one bundled with the package, so Chinese is never boxes.


class PreviewFontWarning(UserWarning):
    """The font asked for could not be loaded; the preview is drawn with the bundled font."""


@functools.lru_cache(maxsize=8)
def _load_font(path: str | None, index: int, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    chosen = fonts.resolve() if path is None else fonts.Font(path, index)
    try:
        return fonts.load(chosen, size)
    except OSError as exc:
        fallback = fonts.bundled()
        warnings.warn(f"cannot load font {chosen.path}: {exc}; using {fallback.path}", PreviewFontWarning, 2)
        try:
            return fonts.load(fallback, size)
        except OSError:  # the package was installed without its font: draw something anyway
            return ImageFont.load_default(size=size)


# Cell sizes in dots (width of a half-width character, height) for Font A and Font B.
_FONT_A = (12, 24)
_FONT_B = (9, 17)


@functools.lru_cache(maxsize=4096)
def _glyph(
    char: str, full: bool, font_b: bool, bold: bool, underline: int, sx: int, sy: int, font: tuple
) -> Image.Image:
    cw, ch = _FONT_B if font_b else _FONT_A
    if full:
        cw *= 2
    if char == " ":
        img = Image.new("L", (cw, ch), 0)
    else:
        face = _load_font(font[0], font[1], max(8, ch - 2))
        try:
            img = fonts.cell_glyph(
                char, face, cw, ch, y=ch / 2, anchor="mm", offsets=(0, 1) if bold else (0,)
            )
        except (RuntimeError, OSError):  # a character the shaping engine refuses: a hollow box
            img = Image.new("L", (cw, ch), 0)
            ImageDraw.Draw(img).rectangle((2, 3, cw - 3, ch - 4), outline=255)
        img = img.point(lambda v: 255 if v >= 110 else 0)
    if underline:
        ImageDraw.Draw(img).rectangle((0, ch - underline, cw - 1, ch - 1), fill=255)
    if (sx, sy) != (1, 1):
        img = img.resize((cw * sx, ch * sy), Image.Resampling.NEAREST)
    return img


# ---------------------------------------------------------------------------------------------
# Renderer
# ---------------------------------------------------------------------------------------------

DEFAULT_LINE_SPACING = 30


@dataclass
class Preview:
    """A rendered stream: the picture, and notes on what was skipped or looks wrong."""

    image: Image.Image
    notes: list[str] = field(default_factory=list)
    qr_payloads: list[bytes] = field(default_factory=list)
    drawer_kicks: int = 0
    cuts: int = 0


@dataclass
class _State:
    align: int = 0
    bold: bool = False
    underline: int = 0
    font_b: bool = False
    width: int = 1
    height: int = 1
    chinese: bool = False
    code_page: int = 0
    line_spacing: int = DEFAULT_LINE_SPACING
    qr_size: int = 3
    qr_level: str = "L"
    qr_data: bytes | None = None


class _Paper:
    """Places glyphs into lines and lines, images and cuts onto a growing strip of paper."""

    def __init__(self, width: int, max_height: int, notes: list[str]):
        self.width = width
        self.max_height = max_height
        self.notes = notes
        self.y = 0
        self.items: list[tuple[int, int, Image.Image]] = []
        self.cuts: list[tuple[int, bool]] = []
        self.line: list[tuple[int, Image.Image]] = []
        self.line_x = 0
        self.line_align = 0
        self.full = False

    def advance(self, dots: int) -> None:
        self.y += max(0, dots)
        if self.y > self.max_height and not self.full:
            self.full = True
            self.notes.append(f"preview stops at {self.max_height} dots of paper")

    def add_to_line(self, img: Image.Image, align: int) -> None:
        if self.full:
            return
        if not self.line:
            self.line_align = align
        if self.line and self.line_x + img.width > self.width:
            self.flush(DEFAULT_LINE_SPACING)  # printers wrap a full line by themselves
            self.line_align = align
        self.line.append((self.line_x, img))
        self.line_x += img.width

    def tab(self, align: int) -> None:
        step = _FONT_A[0] * 8
        target = (self.line_x // step + 1) * step
        if target <= self.width:
            if not self.line:
                self.line_align = align
            self.line_x = target

    def flush(self, spacing: int) -> None:
        """Print the line buffer and advance: the line spacing, or the tallest glyph if taller."""
        if not self.line:
            self.advance(spacing)
            self.line_x = 0
            return
        height = max(img.height for _, img in self.line)
        used = self.line_x
        offset = {1: (self.width - used) // 2, 2: self.width - used}.get(self.line_align, 0)
        for x, img in self.line:
            self.items.append((offset + x, self.y + height - img.height, img))
        self.line = []
        self.line_x = 0
        self.advance(max(spacing, height))

    def discard_line(self) -> None:
        if self.line:
            self.notes.append("ESC @ cleared text that was never printed (no LF before it)")
        self.line = []
        self.line_x = 0

    def block(self, img: Image.Image, align: int) -> None:
        """An image or QR symbol: starts on a fresh line, aligned, and advances by its height."""
        if self.line:
            self.flush(DEFAULT_LINE_SPACING)
        if self.full:
            return
        if img.width > self.width:
            self.notes.append(f"an image {img.width} dots wide is cut to the paper's {self.width}")
            img = img.crop((0, 0, self.width, img.height))
        x = {1: (self.width - img.width) // 2, 2: self.width - img.width}.get(align, 0)
        self.items.append((x, self.y, img))
        self.advance(img.height)

    def cut(self, partial: bool, feed: int) -> None:
        if self.line:
            self.flush(DEFAULT_LINE_SPACING)
        self.advance(feed + 8)
        self.cuts.append((self.y, partial))
        self.advance(16)

    def picture(self, margin: int) -> Image.Image:
        height = min(self.y, self.max_height) + 2 * margin
        canvas = Image.new("L", (self.width + 2 * margin, max(height, 2 * margin + 1)), 255)
        for x, y, img in self.items:
            if y < self.max_height:
                canvas.paste(0, (margin + x, margin + y), img)
        draw = ImageDraw.Draw(canvas)
        for y, partial in self.cuts:
            if y >= self.max_height:
                continue
            yy = margin + y
            mid = canvas.width // 2
            for x in range(0, canvas.width, 12):
                if partial and abs(x + 3 - mid) < 24:
                    continue  # a partial cut leaves a bridge in the middle
                draw.line((x, yy, x + 6, yy), fill=0, width=2)
        return canvas


def render(
    data: bytes,
    *,
    width_dots: int = 576,
    margin: int = 16,
    font_path: str | None = None,
    font_index: int = 0,
    max_height: int = 40_000,
) -> Preview:
    """Lay out ``data`` on paper ``width_dots`` wide; see the module docstring for the model.

    :param font_path: a TrueType/OpenType file with CJK glyphs (default: what
        :func:`pos.printing.fonts.resolve` chooses: an installed CJK font, else the bundled one).
    :param max_height: stop drawing after this many dots of paper (a stream of endless feeds
        must not eat the memory).
    """
    if width_dots < 8:
        raise ValueError(f"width_dots must be at least 8, not {width_dots}")
    notes: list[str] = []
    paper = _Paper(width_dots, max_height, notes)
    st = _State()
    out = Preview(image=Image.new("L", (1, 1)), notes=notes)
    font = (font_path, font_index)
    seen_unknown = 0

    def note_once(message: str) -> None:
        if message not in notes:
            notes.append(message)

    for cmd in parse(data):
        if paper.full:
            break
        if isinstance(cmd, Text):
            _draw_text(cmd, st, paper, font, note_once)
        elif isinstance(cmd, LineFeed):
            paper.flush(st.line_spacing)
        elif isinstance(cmd, Tab):
            paper.tab(st.align)
        elif isinstance(cmd, Init):
            paper.discard_line()
            st = _State()
        elif isinstance(cmd, FeedLines):
            if paper.line:  # print the line (one line of feed), then the rest
                paper.flush(st.line_spacing)
                paper.advance(st.line_spacing * (cmd.lines - 1))
            else:
                paper.advance(st.line_spacing * cmd.lines)
        elif isinstance(cmd, FeedDots):
            paper.flush(cmd.dots)
        elif isinstance(cmd, LineSpacing):
            st.line_spacing = DEFAULT_LINE_SPACING if cmd.dots is None else cmd.dots
        elif isinstance(cmd, Align):
            st.align = cmd.align if cmd.align in (0, 1, 2) else st.align
            if not paper.line and paper.line_x == 0:
                paper.line_align = st.align
        elif isinstance(cmd, Bold):
            st.bold = cmd.on
        elif isinstance(cmd, Underline):
            st.underline = min(cmd.dots, 2)
        elif isinstance(cmd, SelectFont):
            st.font_b = cmd.font_b
        elif isinstance(cmd, CharSize):
            st.width, st.height = cmd.width, cmd.height
        elif isinstance(cmd, PrintMode):
            st.font_b, st.bold = cmd.font_b, cmd.bold
            st.width, st.height = (2 if cmd.double_width else 1), (2 if cmd.double_height else 1)
            st.underline = 1 if cmd.underline else 0
        elif isinstance(cmd, ChineseMode):
            st.chinese = cmd.on
        elif isinstance(cmd, CodePage):
            st.code_page = cmd.page
            if cmd.page != 0:
                note_once(f"code page {cmd.page} is drawn as cp437")
        elif isinstance(cmd, Raster):
            img = cmd.image()
            sx, sy = cmd.scale
            if (sx, sy) != (1, 1):
                img = img.resize((img.width * sx, img.height * sy), Image.Resampling.NEAREST)
            paper.block(img, st.align)
        elif isinstance(cmd, ColumnImage):
            paper.add_to_line(cmd.image(), st.align)
        elif isinstance(cmd, QRModuleSize):
            if 1 <= cmd.size <= 16:
                st.qr_size = cmd.size
            else:
                note_once(f"QR module size {cmd.size} is out of range 1..16; kept {st.qr_size}")
        elif isinstance(cmd, QRErrorCorrection):
            st.qr_level = cmd.level
        elif isinstance(cmd, QRStore):
            st.qr_data = cmd.data
        elif isinstance(cmd, QRPrint):
            _draw_qr(st, paper, out, note_once)
        elif isinstance(cmd, Barcode):
            note_once("hardware barcodes are drawn as their text only")
            label = "".join(c if c.isprintable() else "?" for c in cmd.data.decode("latin-1"))
            for ch in f"[{label}]":
                paper.add_to_line(_glyph(ch, False, st.font_b, False, 0, 1, 1, font), st.align)
            paper.flush(st.line_spacing)
        elif isinstance(cmd, Cut):
            paper.cut(cmd.partial, cmd.feed)
            out.cuts += 1
        elif isinstance(cmd, DrawerKick):
            out.drawer_kicks += 1
            note_once("cash drawer kick (not drawn)")
        elif isinstance(cmd, Unknown):
            seen_unknown += 1
            if seen_unknown <= 5:
                notes.append(f"skipped unknown bytes {cmd.raw.hex(' ')} at offset {cmd.offset}")
        elif isinstance(cmd, Truncated):
            notes.append(f"the stream ends inside a command at offset {cmd.offset} ({len(cmd.raw)} bytes)")
    if paper.line and not paper.full:
        note_once("text after the last LF is still in the printer's buffer (not printed yet)")
        paper.flush(st.line_spacing)
    if seen_unknown > 5:
        notes.append(f"... {seen_unknown - 5} more unknown commands skipped")
    out.image = paper.picture(margin)
    return out


def _draw_text(cmd: Text, st: _State, paper: _Paper, font: tuple, note_once) -> None:
    for char, full in _decode(cmd.data, st.chinese, note_once):
        img = _glyph(char, full, st.font_b, st.bold, st.underline, st.width, st.height, font)
        paper.add_to_line(img, st.align)


def _decode(data: bytes, chinese: bool, note_once) -> Iterable[tuple[str, bool]]:
    """(character, full width?) pairs as a printer in the given mode reads ``data``."""
    if not chinese:
        for char in data.decode("cp437"):
            yield char, False
        return
    i, n = 0, len(data)
    while i < n:
        b = data[i]
        if b < 0x80:
            yield chr(b), False
            i += 1
        elif 0x81 <= b <= 0xFE and i + 1 < n and 0x40 <= data[i + 1] <= 0xFE and data[i + 1] != 0x7F:
            yield data[i : i + 2].decode("gb18030", errors="replace"), True
            i += 2
        elif 0x81 <= b <= 0xFE and i + 3 < n and 0x30 <= data[i + 1] <= 0x39:
            seq = data[i : i + 4]
            char = seq.decode("gb18030", errors="replace")
            note_once(
                f"4-byte GB18030 sequence {seq.hex(' ')} (U+{ord(char[0]):04X}) drawn as '?': "
                "two-byte printers print junk for it"
            )
            yield "?", True
            i += 4
        else:
            note_once(f"byte {b:#04x} in Chinese mode starts no GB18030 character; drawn as '?'")
            yield "?", False
            i += 1


def _draw_qr(st: _State, paper: _Paper, out: Preview, note_once) -> None:
    import qrcode
    from qrcode.exceptions import DataOverflowError

    if not st.qr_data:
        note_once("GS ( k print with no stored QR data: nothing printed")
        return
    levels = {
        "L": qrcode.constants.ERROR_CORRECT_L,
        "M": qrcode.constants.ERROR_CORRECT_M,
        "Q": qrcode.constants.ERROR_CORRECT_Q,
        "H": qrcode.constants.ERROR_CORRECT_H,
    }
    try:
        qr = qrcode.QRCode(version=None, error_correction=levels[st.qr_level], box_size=1, border=0)
        qr.add_data(st.qr_data)
        qr.make(fit=True)
        matrix = qr.get_matrix()
    except (DataOverflowError, ValueError) as exc:
        note_once(f"QR data of {len(st.qr_data)} bytes does not fit a QR symbol ({exc}); nothing printed")
        return
    modules = len(matrix)
    img = Image.new("L", (modules, modules), 0)
    img.putdata([255 if cell else 0 for row in matrix for cell in row])
    img = img.resize((modules * st.qr_size, modules * st.qr_size), Image.Resampling.NEAREST)
    if img.width > paper.width:
        note_once(
            f"QR symbol {img.width} dots wide does not fit the paper ({paper.width}); a printer skips it"
        )
        return
    out.qr_payloads.append(st.qr_data)
    paper.block(img, st.align)


def render_image(data: bytes, *, width_dots: int = 576, **options) -> Image.Image:
    """The picture only (mode "L", black ink on white), see :func:`render`."""
    return render(data, width_dots=width_dots, **options).image


def render_png(data: bytes, *, width_dots: int = 576, **options) -> bytes:
    """The picture as PNG bytes (1-bit, small), see :func:`render`."""
    buf = io.BytesIO()
    render_image(data, width_dots=width_dots, **options).convert("1").save(buf, format="PNG", optimize=True)
    return buf.getvalue()
