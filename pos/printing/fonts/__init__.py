"""Which font draws Chinese on raster slips and previews, and whether it can draw this shop's slips.

Why one place: raster text (printers without a Chinese font), the receipt previews of the
``dir:`` printer, ``pos printer test`` and the till's start-up check must all agree on the font,
or a preview would show a slip the printer cannot print.

The order (:func:`resolve`):

1. ``[printer] raster_font``, when set: the shop chose it.
2. An installed system CJK font (Debian's fonts-wqy-zenhei, fonts-noto-cjk at their paths,
   :data:`SYSTEM_FONTS`), so a box that has one keeps drawing with it.
3. The font shipped in this package (:data:`BUNDLED`): "Pos Receipt Mono", a subset of Noto Sans
   Mono CJK SC (SIL OFL 1.1, see ``OFL.txt`` beside it, made by ``tools/make_cjk_font.py``):
   ASCII, Latin-1, all of GB2312, CJK punctuation and the full-width forms. So a fresh machine
   needs nothing from apt.

A font that lacks a character a slip needs would print empty boxes on a real printer, so
:func:`font_problem` reads the chosen font's character map and names what is missing; the till
refuses to start and ``pos printer test`` refuses to print with that message.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from pos.printing.errors import PrintingError

if TYPE_CHECKING:  # for types only: Pillow loads when something is drawn, not on import
    from PIL import Image, ImageFont

    from pos.config import Config

BUNDLED = Path(__file__).with_name("PosReceiptMono-Regular.otf")

# (path, face index): each collection's face whose Latin letters are half a CJK cell wide,
# like a printer's 12x24 cell beside its 24x24 Chinese one.
SYSTEM_FONTS: tuple[tuple[str, int], ...] = (
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 1),  # WenQuanYi Zen Hei Mono
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 1),  # WenQuanYi Micro Hei Mono
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 7),  # Noto Sans Mono CJK SC
)

SETTING = "[printer] raster_font"
_ALWAYS_NEEDED = "0123456789.￥"  # amounts: digits, the point and the full-width yuan sign
_SHOWN_MISSING = 20  # characters listed in a message before "..."


@dataclass(frozen=True)
class Font:
    """A font file, the face in it (collections hold several) and why it was chosen."""

    path: str
    index: int = 0
    origin: str = "config"  # "config" ([printer] raster_font or --font), "system" or "bundled"

    def describe(self) -> str:
        where = {"config": f"{SETTING} = ", "system": "installed font ", "bundled": "bundled font "}
        return f"{where.get(self.origin, '')}{self.path}" + (f" (face {self.index})" if self.index else "")


def bundled() -> Font:
    """The font shipped in the package."""
    return Font(str(BUNDLED), 0, "bundled")


def resolve(raster_font: str = "", *, system: Iterable[tuple[str | Path, int]] | None = None) -> Font:
    """The font to draw with: ``raster_font`` if given, else the first installed of ``system``
    (default :data:`SYSTEM_FONTS`; tests point it at a temporary folder), else the bundled one."""
    if raster_font:
        return Font(str(Path(raster_font).expanduser()), 0, "config")
    for path, index in SYSTEM_FONTS if system is None else system:
        if Path(path).is_file():
            return Font(str(path), index, "system")
    return bundled()


def for_config(cfg: Config, override: str | None = None) -> Font:
    """The font for this config; ``override`` (``pos printer test --font``) wins for one run."""
    return resolve(override or cfg.printer.raster_font)


# -- coverage ----------------------------------------------------------------------------------


class FontUnreadable(PrintingError, ValueError):
    """The file is not a font fontTools or Pillow can read."""


@lru_cache(maxsize=8)
def _cmap(path: str, index: int, mtime_ns: int) -> frozenset[int]:
    from fontTools.ttLib import TTFont, TTLibError

    try:
        with TTFont(path, fontNumber=index, lazy=True) as font:
            cmap = font.getBestCmap()
    except (OSError, TTLibError, AssertionError, KeyError, ValueError, IndexError) as exc:
        raise FontUnreadable(f"{type(exc).__name__}: {exc}") from None
    if not cmap:
        raise FontUnreadable("it has no Unicode character map")
    return frozenset(cmap)


def characters(font: Font) -> frozenset[int]:
    """The code points ``font`` has glyphs for (its cmap). Raises FontUnreadable."""
    try:
        mtime = Path(font.path).stat().st_mtime_ns
    except OSError as exc:
        raise FontUnreadable(exc.strerror or str(exc)) from None
    return _cmap(font.path, font.index, mtime)


def needed_characters(cfg: Config) -> str:
    """What this shop's slips print: store name, address, phone, footer, cashier, the products'
    names, the slip words in the store's language, digits and ￥: each once, the shop's own words
    first (a message lists them in this order), no spaces."""
    from pos.receipts.templates import printed_words

    store = cfg.store
    texts = [
        store.name,
        store.footer,
        store.address,
        store.phone,
        cfg.till.cashier,
        *(p.name for p in cfg.products),
        _ALWAYS_NEEDED,
        *printed_words(store.language),
    ]
    seen = dict.fromkeys(ch for text in texts for ch in text if ch.isprintable() and not ch.isspace())
    return "".join(seen)


def missing_characters(font: Font, needed: str) -> str:
    """The characters of ``needed`` that ``font`` lacks. Raises FontUnreadable."""
    have = characters(font)
    return "".join(ch for ch in needed if ord(ch) not in have)


def font_problem(cfg: Config, override: str | None = None) -> str | None:
    """None when the raster/preview font draws every character this shop's slips need, else a
    one-line message naming ``[printer] raster_font`` and what is missing (``pos doctor``, the
    till's start-up and ``pos printer test`` show it as it is)."""
    font = for_config(cfg, override)
    try:
        missing = missing_characters(font, needed_characters(cfg))
        load(font, 22)  # Pillow, which draws the slips, must open it too
    except (FontUnreadable, OSError) as exc:
        return f"{SETTING}: cannot read the font {font.path} ({exc}); set {SETTING} to a CJK font file"
    if not missing:
        return None
    shown = missing[:_SHOWN_MISSING] + ("..." if len(missing) > _SHOWN_MISSING else "")
    fix = (
        f"set {SETTING} to a CJK font that has them"
        if font.origin == "config"
        else f"set {SETTING} to a CJK font that has them (none is set: {font.describe()} was used)"
    )
    return f"{SETTING}: {font.path} lacks {len(missing)} characters this store's slips need: {shown}; {fix}"


# -- drawing ---------------------------------------------------------------------------------


@lru_cache(maxsize=16)
def _load(path: str, index: int, size: int) -> ImageFont.FreeTypeFont:
    from PIL import ImageFont

    return ImageFont.truetype(path, size, index=index)


def load(font: Font, size: int) -> ImageFont.FreeTypeFont:
    """Pillow's face for ``font`` at ``size`` pixels (cached). Raises OSError if it cannot open."""
    return _load(font.path, font.index, size)


def cell_glyph(
    char: str,
    face: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    width: int,
    height: int,
    *,
    y: float,
    anchor: str,
    stroke: int = 0,
    offsets: Sequence[int] = (0,),
) -> Image.Image:
    """``char`` as ink (255) on 0, centred in a ``width`` x ``height`` cell.

    A glyph wider than its cell (a proportional font's "m" or "W" in a 12-dot cell) is drawn
    whole and squeezed to the cell, never cut at its edges: cut, "500ml" reads "500rl".
    ``offsets`` draws it again shifted right (a printer's double-strike bold).
    """
    from PIL import Image, ImageDraw

    try:
        left, _, right, _ = face.getbbox(char, anchor=anchor, stroke_width=stroke)
    except (ValueError, TypeError):  # a bitmap font has no anchors
        left, right, anchor = 0, width, "la"
    half = max(abs(left), abs(right)) + max(offsets) + 1
    canvas = max(width, 2 * math.ceil(half))
    canvas += (canvas - width) % 2  # keep the centre on the same dot
    tile = Image.new("L", (canvas, height), 0)
    draw = ImageDraw.Draw(tile)
    x = canvas / 2 if anchor[0] == "m" else 0
    for dx in offsets:
        draw.text((x + dx, y), char, fill=255, font=face, anchor=anchor, stroke_width=stroke, stroke_fill=255)
    if canvas != width:
        tile = tile.resize((width, height), Image.Resampling.BOX)
    return tile
