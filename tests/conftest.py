"""Fixtures shared by every test package."""

from __future__ import annotations

import pytest

from pos import config


@pytest.fixture
def demo_config(tmp_path) -> config.Config:
    """The embedded defaults with the data directory and database under tmp_path."""
    cfg = config.from_mapping({}, "<test>", env={})
    return cfg.replace(
        till=config.TillConfig(data_dir=str(tmp_path)),
        database=config.DatabaseConfig(url=f"sqlite:///{tmp_path / 'pos.sqlite3'}"),
        printer=config.PrinterConfig(device=f"dir:{tmp_path / 'printer'}"),
    )


def make_box_font(path, chars: str, *, advance: int = 600) -> str:
    """A real TrueType font (built with fontTools) whose glyphs for ``chars`` are hollow boxes
    ``advance`` units wide (1000 units per em): a Latin-only font, or one with a glyph wider than
    a printer's cell, made here rather than taken from whatever the machine has installed."""
    from fontTools.fontBuilder import FontBuilder
    from fontTools.pens.ttGlyphPen import TTGlyphPen

    names = [".notdef", *(f"uni{ord(c):04X}" for c in chars)]
    builder = FontBuilder(1000, isTTF=True)
    builder.setupGlyphOrder(names)
    builder.setupCharacterMap({ord(c): f"uni{ord(c):04X}" for c in chars})
    glyphs = {}
    for name in names:
        pen = TTGlyphPen(None)
        for x0, y0, x1, y1, outer in (
            (40, 0, advance - 40, 700, True),
            (140, 100, advance - 140, 600, False),
        ):
            corners = [(x0, y0), (x0, y1), (x1, y1), (x1, y0)]  # clockwise: ink; reversed: a hole
            pen.moveTo(corners[0] if outer else corners[-1])
            for point in corners[1:] if outer else corners[-2::-1]:
                pen.lineTo(point)
            pen.closePath()
        glyphs[name] = pen.glyph()
    builder.setupGlyf(glyphs)
    builder.setupHorizontalMetrics({name: (advance, 40) for name in names})
    builder.setupHorizontalHeader(ascent=800, descent=-200)
    builder.setupNameTable({"familyName": "Box Test", "styleName": "Regular"})
    builder.setupOS2(sTypoAscender=800, sTypoDescender=-200, usWinAscent=800, usWinDescent=200)
    builder.setupPost()
    builder.save(str(path))
    return str(path)


LATIN = "".join(chr(c) for c in range(0x20, 0x7F))


@pytest.fixture
def latin_font(tmp_path) -> str:
    """A font with printable ASCII only (named like the issue's DejaVuSans.ttf): no Chinese, no ￥."""
    return make_box_font(tmp_path / "DejaVuSans.ttf", LATIN)


@pytest.fixture
def fresh_box(monkeypatch):
    """No system CJK font installed: pos.printing.fonts falls back to the bundled one."""
    from pos.printing import fonts
    from pos.printing.preview import paper

    monkeypatch.setattr(fonts, "SYSTEM_FONTS", ())
    paper._load_font.cache_clear()
    paper._glyph.cache_clear()
    yield
    paper._load_font.cache_clear()
    paper._glyph.cache_clear()


@pytest.fixture
def box_font(tmp_path):
    """``box_font(name, chars, advance=600)``: a font file under tmp_path (see make_box_font)."""
    return lambda name, chars, advance=600: make_box_font(tmp_path / name, chars, advance=advance)
