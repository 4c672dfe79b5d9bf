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

from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

from pos.receipts.layout import char_cells

LINE_DOTS = 24  # Font A is 12x24: a raster line is as tall as a text line's glyphs


class FontError(ValueError):
    """The configured raster font cannot be used."""


@lru_cache(maxsize=8)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    try:
        return ImageFont.truetype(path, size)
    except OSError as exc:
        raise FontError(f"cannot open the raster font {path!r} ([printer] raster_font): {exc}") from exc


def render_line(text: str, font_path: str, *, cell_dots: int = 12, bold: bool = False) -> Image.Image:
    """Draw one line on the cell grid; black on white, width = cells x ``cell_dots``, height 24 dots."""
    font = _font(font_path, LINE_DOTS - 2)
    width = sum(char_cells(ch) for ch in text) * cell_dots
    image = Image.new("L", (max(width, 8), LINE_DOTS), 255)
    draw = ImageDraw.Draw(image)
    ascent, _ = font.getmetrics()
    baseline = min(ascent, LINE_DOTS - 3)
    x = 0
    for ch in text:
        span = char_cells(ch) * cell_dots
        if not ch.isspace():
            draw.text(
                (x + span / 2, baseline),
                ch,
                font=font,
                fill=0,
                anchor="ms",
                stroke_width=1 if bold else 0,
                stroke_fill=0,
            )
        x += span
    return image


def scale(image: Image.Image, width: int, height: int) -> Image.Image:
    """Magnify like ``GS !`` does for text: each dot becomes ``width`` x ``height`` dots."""
    if width == height == 1:
        return image
    return image.resize((image.width * width, image.height * height), Image.Resampling.NEAREST)
