"""pos.printing.fonts: which font draws Chinese, the bundled font itself, and the coverage refusal."""

from __future__ import annotations

import contextlib
import shutil
import tomllib
from pathlib import Path, PurePosixPath

import pytest
from fontTools.ttLib import TTFont
from PIL import Image, ImageOps

from pos import config
from pos.i18n import LANGUAGES
from pos.printing import fonts, raster_text
from pos.receipts.templates import printed_words

ROOT = Path(__file__).resolve().parents[2]


def cfg_with(raster_font: str = "", **store) -> config.Config:
    data: dict = {"printer": {"raster_font": raster_font}}
    if store:
        data["store"] = store
    return config.from_mapping(data, "<test>", env={})


# -- resolution order ---------------------------------------------------------------------------


@pytest.fixture
def system_dir(tmp_path) -> Path:
    """A stand-in for /usr/share/fonts: two places a system font could be, only the second filled."""
    folder = tmp_path / "system-fonts"
    folder.mkdir()
    shutil.copy(fonts.BUNDLED, folder / "wqy-microhei.ttc")
    return folder


def test_the_config_font_wins_over_an_installed_one(system_dir):
    chosen = fonts.resolve("/srv/fonts/shop.ttf", system=[(system_dir / "wqy-microhei.ttc", 1)])
    assert (chosen.path, chosen.index, chosen.origin) == ("/srv/fonts/shop.ttf", 0, "config")


def test_an_installed_font_is_next_the_first_that_exists(system_dir):
    places = [(system_dir / "wqy-zenhei.ttc", 1), (system_dir / "wqy-microhei.ttc", 1)]
    chosen = fonts.resolve("", system=places)
    assert (chosen.path, chosen.index, chosen.origin) == (str(system_dir / "wqy-microhei.ttc"), 1, "system")


def test_the_bundled_font_is_last(system_dir):
    chosen = fonts.resolve("", system=[(system_dir / "wqy-zenhei.ttc", 1)])
    assert chosen == fonts.bundled() and chosen.origin == "bundled" and Path(chosen.path).is_file()


def test_the_default_search_is_the_debian_paths_and_can_be_emptied(fresh_box):
    assert fonts.resolve() == fonts.bundled()
    assert fonts.for_config(cfg_with()) == fonts.bundled()


def test_a_one_run_override_wins_over_the_config(latin_font):
    cfg = cfg_with(raster_font=latin_font)
    assert fonts.for_config(cfg).path == latin_font
    assert fonts.for_config(cfg, str(fonts.BUNDLED)).path == str(fonts.BUNDLED)


def test_the_debian_search_paths_pick_the_monospaced_faces():
    """Each collection's face whose Latin letters are half a Chinese cell, like the printer's."""
    for path, index in fonts.SYSTEM_FONTS:
        if Path(path).is_file():
            with TTFont(path, fontNumber=index, lazy=True) as font:
                cmap, hmtx = font.getBestCmap(), font["hmtx"]
                assert hmtx[cmap[ord("m")]][0] * 2 == hmtx[cmap[ord("中")]][0], path


# -- the bundled font ---------------------------------------------------------------------------


def test_the_bundled_font_covers_gb2312_fullwidth_forms_and_every_word():
    have = fonts.characters(fonts.bundled())
    gb2312 = set()
    for lead in range(0xA1, 0xF8):
        for trail in range(0xA1, 0xFF):
            with contextlib.suppress(UnicodeDecodeError):
                gb2312.add(bytes((lead, trail)).decode("gb2312"))
    assert len(gb2312) > 7000
    assert not [ch for ch in gb2312 if ord(ch) not in have]
    assert all(c in have for c in range(0x20, 0x7F)) and all(c in have for c in range(0xA0, 0x100))
    assert all(c in have for c in range(0xFF01, 0xFF5F)) and 0xFFE5 in have  # ￥
    for language in LANGUAGES:
        words = "".join(printed_words(language))
        assert not [ch for ch in words if not ch.isspace() and ord(ch) not in have], language


def test_the_bundled_font_is_renamed_small_and_licensed():
    assert fonts.BUNDLED.stat().st_size < 3_000_000
    with TTFont(fonts.BUNDLED, lazy=True) as font:
        names = {r.nameID: r.toUnicode() for r in font["name"].names}
        cff_name = font["CFF "].cff.fontNames[0]
    assert names[1] == "Pos Receipt Mono" and cff_name == "PosReceiptMono-Regular"
    shown = " ".join([names[1], names[4], names[6], cff_name])
    assert "Noto" not in shown and "Source" not in shown  # the original's names are not ours to use
    licence = (fonts.BUNDLED.parent / "OFL.txt").read_text(encoding="utf-8")
    assert "SIL OPEN FONT LICENSE Version 1.1" in licence and names[0] in licence
    assert "tools/make_cjk_font.py" in licence and (ROOT / "tools" / "make_cjk_font.py").is_file()


def test_package_data_ships_the_font_and_its_licence():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = project["tool"]["setuptools"]["package-data"]["pos"]
    for name in (fonts.BUNDLED.name, "OFL.txt"):
        shipped = PurePosixPath("printing/fonts") / name
        assert any(shipped.match(p) for p in patterns), name


# -- coverage -----------------------------------------------------------------------------------


def test_the_defaults_are_covered_on_a_fresh_box(fresh_box):
    assert fonts.font_problem(cfg_with()) is None


def test_a_latin_only_font_is_refused_naming_the_setting_and_the_characters(latin_font):
    problem = fonts.font_problem(cfg_with(raster_font=latin_font))
    assert problem is not None and "\n" not in problem
    assert problem.startswith("[printer] raster_font:") and latin_font in problem
    assert "演" in problem and "￥" in problem  # the store's name and the yuan sign


def test_product_names_are_needed_too(fresh_box):
    cfg = config.from_mapping(
        {"products": [{"id": "A", "name": "龘龘面", "price": "12.00"}]}, "<test>", env={}
    )
    problem = fonts.font_problem(cfg)
    assert problem is not None and "龘" in problem and "面" not in problem.split("need:")[1]
    assert "[printer] raster_font" in problem and "bundled font" in problem  # none set: says which was used


def test_an_english_store_needs_its_own_words_digits_and_the_yuan_sign(fresh_box, box_font):
    cfg = cfg_with(name="Corner Cafe", footer="Thanks", language="en")
    needed = fonts.needed_characters(cfg)
    assert "￥" in needed and "0" in needed and "C" in needed and "销" not in needed
    latin_and_yen = box_font("yen.ttf", needed)
    assert fonts.font_problem(cfg, latin_and_yen) is None


@pytest.mark.parametrize("content", [b"", b"not a font at all", b"\x00\x01\x00\x00" + b"\x00" * 20])
def test_a_file_that_is_no_font_is_refused_in_one_line(tmp_path, content):
    path = tmp_path / "broken.ttf"
    path.write_bytes(content)
    problem = fonts.font_problem(cfg_with(raster_font=str(path)))
    assert problem is not None and "\n" not in problem
    assert problem.startswith("[printer] raster_font: cannot read the font") and str(path) in problem


def test_a_missing_file_is_refused():
    problem = fonts.font_problem(cfg_with(raster_font="/nonexistent/font.ttc"))
    assert problem is not None and "/nonexistent/font.ttc" in problem and "raster_font" in problem


# -- drawing: a wide letter is squeezed into its cell, never cut ----------------------------------


def _columns_with_ink(img: Image.Image, rows: int) -> list[int]:
    """Columns where at least ``rows`` dots are black (a vertical stroke)."""
    px = img.convert("L").load()
    return [x for x in range(img.width) if sum(px[x, y] < 128 for y in range(img.height)) >= rows]


def test_a_glyph_wider_than_its_cell_keeps_both_edges_in_raster_text(box_font):
    # A hollow box one em wide: 22 dots at this size, in a 12-dot cell. Cut at the cell's edges,
    # its two upright strokes vanish (what turned "500ml" into "500rl"); squeezed, both stay.
    wide = box_font("wide.ttf", "m", advance=1000)
    img = raster_text.render_line("m", wide, cell_dots=12)
    assert img.size == (12, 24)
    strokes = _columns_with_ink(img, 8)
    assert strokes and min(strokes) <= 3 and max(strokes) >= 8, strokes


def test_500ml_with_the_bundled_font_draws_m_whole():
    line = raster_text.render_line("500ml", str(fonts.BUNDLED), cell_dots=12)
    m_cell = line.crop((36, 0, 48, 24))
    r_line = raster_text.render_line("500rl", str(fonts.BUNDLED), cell_dots=12)
    assert ImageOps.invert(m_cell.convert("L")).getbbox() is not None
    assert len(_columns_with_ink(m_cell, 6)) >= 3  # m has three uprights; r has one
    assert len(_columns_with_ink(r_line.crop((36, 0, 48, 24)), 6)) < len(_columns_with_ink(m_cell, 6))
