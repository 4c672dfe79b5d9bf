"""Text drawn as a picture, for printers without a Chinese font.

An Epson TM-T88V sold outside China has no GB18030 glyphs: sending it GB bytes
prints junk. For such printers a line with Chinese in it is drawn with a CJK
TrueType font (``[printer] raster_font``) and sent as a ``GS v 0`` image.

The picture keeps the printer's own cell grid (one cell per ASCII character,
two per Chinese one, ``cell_dots`` wide, 24 dots high like Font A), so raster
lines and text lines line up in the same columns, and ``ESC a`` aligns the
picture like it would the text.
"""

from __future__ import annotations

from PIL import Image, ImageOps

from pos.printing import fonts
from pos.printing.errors import PrintingError
from pos.receipts.layout import char_cells

LINE_DOTS = 24  # Font A is 12x24: a raster line is as tall as a text line's glyphs


class FontError(PrintingError, ValueError):
    """The configured raster font cannot be used."""


def _face(font: fonts.Font, size: int):
    try:
        return fonts.load(font, size)
    except OSError as exc:
        raise FontError(f"cannot open the raster font {font.path!r} ({fonts.SETTING}): {exc}") from exc


def render_line(text: str, font: str | fonts.Font, *, cell_dots: int = 12, bold: bool = False) -> Image.Image:
    """Draw one line on the cell grid; black on white, width = cells x ``cell_dots``, height 24 dots.

    ``font`` is a :class:`pos.printing.fonts.Font` or a font file's path. Each character is
    centred in its cells; one wider than its cells is squeezed into them, not cut. Bold is
    struck twice a dot apart, as the printer's own bold (a stroke fills in dense characters).
    """
    if isinstance(font, str):
        font = fonts.Font(font)
    face = _face(font, LINE_DOTS - 2)
    width = sum(char_cells(ch) for ch in text) * cell_dots
    ink = Image.new("L", (max(width, 8), LINE_DOTS), 0)
    ascent, _ = face.getmetrics()
    baseline = min(ascent, LINE_DOTS - 3)
    x = 0
    for ch in text:
        span = char_cells(ch) * cell_dots
        if not ch.isspace():
            glyph = fonts.cell_glyph(
                ch, face, span, LINE_DOTS, y=baseline, anchor="ms", offsets=(0, 1) if bold else (0,)
            )
            ink.paste(glyph, (x, 0))
        x += span
    return ImageOps.invert(ink)


def scale(image: Image.Image, width: int, height: int) -> Image.Image:
    """Magnify like ``GS !`` does for text: each dot becomes ``width`` x ``height`` dots."""
    if width == height == 1:
        return image
    return image.resize((image.width * width, image.height * height), Image.Resampling.NEAREST)
