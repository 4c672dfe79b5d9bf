"""The preview draws what a printer would print from the bytes, and never crashes on any bytes."""

from __future__ import annotations

import io
import itertools
import warnings

import pytest
import zxingcpp
from escpos.printer import Dummy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageChops, ImageOps

from pos.printing import fonts, preview

ESC, GS, FS = b"\x1b", b"\x1d", b"\x1c"
INIT = ESC + b"@"
MARGIN = 16
URL = "weixin://wxpay/bizpayurl?pr=AbCdEfG"


def ink_box(img: Image.Image) -> tuple[int, int, int, int]:
    """The bounding box of the black dots, in printable-area coordinates (margin removed)."""
    box = ImageOps.invert(img.convert("L")).getbbox()
    assert box is not None, "nothing was drawn"
    return box[0] - MARGIN, box[1] - MARGIN, box[2] - MARGIN, box[3] - MARGIN


def ink(img: Image.Image) -> int:
    """How many dots are black."""
    return img.convert("L").histogram()[0]


def draw(data: bytes, width: int = 576) -> Image.Image:
    return preview.render_image(data, width_dots=width, margin=MARGIN)


def raster_command(pattern: Image.Image, mode: int = 0) -> bytes:
    """GS v 0 for a 1-bit image whose width is a multiple of 8 (black = printed dot)."""
    width_bytes = pattern.width // 8
    data = ImageOps.invert(pattern.convert("L")).convert("1").tobytes()
    return (
        GS
        + b"v0"
        + bytes([mode, width_bytes & 0xFF, width_bytes >> 8, pattern.height & 0xFF, pattern.height >> 8])
        + data
    )


# --- text: alignment, sizes, bold -----------------------------------------------------------


@pytest.mark.parametrize("width", [384, 512, 576])
def test_alignment_places_the_ink_left_centre_and_right(width):
    left = ink_box(draw(INIT + b"HELLO\n", width))
    centre = ink_box(draw(INIT + ESC + b"a\x01HELLO\n", width))
    right = ink_box(draw(INIT + ESC + b"a\x02HELLO\n", width))
    assert left[0] < 12  # starts in the first cell
    assert abs((centre[0] + centre[2]) / 2 - width / 2) <= 6  # within half a cell of the middle
    assert width - right[2] < 12  # ends in the last cell
    assert left[2] - left[0] == centre[2] - centre[0] == right[2] - right[0]


def test_alignment_digit_form_and_python_escpos_output_agree():
    p = Dummy()
    p.set(align="center")
    p.text("HELLO\n")
    assert ink_box(draw(p.output)) == ink_box(draw(ESC + b"a1HELLO\n"))


def test_48_columns_fill_an_80mm_line_and_the_49th_wraps():
    one_line = ink_box(draw(b"X" * 48 + b"\n"))
    wrapped = ink_box(draw(b"X" * 49 + b"\n"))
    assert one_line[2] > 576 - 12
    assert wrapped[3] - wrapped[1] > 24  # a second line appeared below


def test_gs_exclamation_doubles_width_and_height():
    normal = ink_box(draw(b"HHHH\n"))
    big = ink_box(draw(GS + b"!\x11HHHH\n"))
    assert big[2] - big[0] == pytest.approx(2 * (normal[2] - normal[0]), abs=2)
    assert big[3] - big[1] == pytest.approx(2 * (normal[3] - normal[1]), abs=2)
    triple_wide = ink_box(draw(GS + b"!\x20HHHH\n"))
    assert triple_wide[2] - triple_wide[0] == pytest.approx(3 * (normal[2] - normal[0]), abs=3)
    assert triple_wide[3] - triple_wide[1] == normal[3] - normal[1]


def test_esc_exclamation_double_height_and_width_bits():
    normal = ink_box(draw(b"HHHH\n"))
    tall = ink_box(draw(ESC + b"!\x10HHHH\n"))
    wide = ink_box(draw(ESC + b"!\x20HHHH\n"))
    assert tall[3] - tall[1] == pytest.approx(2 * (normal[3] - normal[1]), abs=2)
    assert tall[2] - tall[0] == normal[2] - normal[0]
    assert wide[2] - wide[0] == pytest.approx(2 * (normal[2] - normal[0]), abs=2)


def test_bold_puts_down_more_ink_and_esc_at_resets_it():
    plain = ink(draw(b"Total 12.50\n"))
    bold = ink(draw(ESC + b"E\x01Total 12.50\n"))
    assert bold > plain * 1.1  # struck twice a dot apart: about a fifth more ink with the bundled font
    assert ink(draw(ESC + b"E\x01" + INIT + b"Total 12.50\n")) == plain


def test_feeds_move_the_next_line_down():
    base = ink_box(draw(b"A\nB\n"))
    lines = ink_box(draw(b"A\n" + ESC + b"d\x03B\n"))
    dots = ink_box(draw(b"A\n" + ESC + b"J\x64B\n"))
    assert lines[3] - base[3] == 3 * 30
    assert dots[3] - base[3] == 100


# --- Chinese text -------------------------------------------------------------------------------


def test_gb18030_text_in_chinese_mode_draws_full_width_glyphs():
    text = "合计￥44.70".encode("gb18030")
    chinese = draw(FS + b"&" + text + b"\n")
    box = ink_box(chinese)
    # 合 计 ￥ are two cells each, "44.70" one each: 11 half-width cells of 12 dots.
    assert 10 * 12 < box[2] - box[0] <= 11 * 12
    # Without FS & the same bytes are cp437 characters: a different picture.
    assert ImageChops.difference(chinese, draw(text + b"\n")).getbbox() is not None
    # Real glyphs, not one "missing glyph" box repeated.
    he = ink_box(draw(FS + b"&" + "合".encode("gb18030") + b"\n"))
    ji = draw(FS + b"&" + "计".encode("gb18030") + b"\n")
    assert ImageChops.difference(draw(FS + b"&" + "合".encode("gb18030") + b"\n"), ji).getbbox()
    assert he[2] - he[0] > 12  # wider than a half-width cell


def test_fs_dot_and_esc_at_leave_chinese_mode():
    gb = "合".encode("gb18030")
    on = draw(FS + b"&" + gb + b"\n")
    assert ImageChops.difference(on, draw(FS + b"&" + FS + b"." + gb + b"\n")).getbbox()
    assert ImageChops.difference(on, draw(FS + b"&" + INIT + gb + b"\n")).getbbox()


def test_four_byte_gb18030_yen_is_flagged():
    result = preview.render(FS + b"&" + "合计¥1".encode("gb18030") + b"\n")
    assert any("4-byte GB18030" in n and "U+00A5" in n for n in result.notes)
    fine = preview.render(FS + b"&" + "合计￥1".encode("gb18030") + b"\n")
    assert not any("4-byte" in n for n in fine.notes)


def chinese(text: str) -> bytes:
    return FS + b"&" + text.encode("gb18030") + b"\n"


def test_a_fresh_box_draws_chinese_with_the_bundled_font_without_a_warning(fresh_box):
    """No system CJK font: the bundled one draws each character, not the font's empty box."""
    assert 0xE000 not in fonts.characters(fonts.bundled())  # GB18030 AA A1: a user-defined code
    with warnings.catch_warnings():
        warnings.simplefilter("error", preview.PreviewFontWarning)
        pictures = {text: draw(chinese(text)) for text in ("合", "计", "￥", "店")}
        notdef = draw(FS + b"&" + b"\xaa\xa1\n")  # drawn with the font's .notdef glyph
    assert ink(notdef) > 0
    for text, picture in pictures.items():
        assert ink(picture) > 30, text
        assert ImageChops.difference(picture, notdef).getbbox(), f"{text} drawn as .notdef"
    for a, b in itertools.combinations(pictures, 2):
        assert ImageChops.difference(pictures[a], pictures[b]).getbbox(), f"{a} looks like {b}"


def test_a_font_that_cannot_load_warns_and_draws_with_the_bundled_one(fresh_box, tmp_path):
    broken = tmp_path / "broken.ttf"
    broken.write_bytes(b"not a font")
    with pytest.warns(preview.PreviewFontWarning, match="broken.ttf"):
        picture = preview.render_image(chinese("合计"), width_dots=576, margin=MARGIN, font_path=str(broken))
    assert ImageChops.difference(picture, draw(chinese("合计"))).getbbox() is None


def test_a_letter_wider_than_its_cell_is_squeezed_not_cut(box_font):
    """'500ml' was drawn '500rl': an m wider than its 12-dot cell lost its sides."""
    wide = box_font("wide.ttf", "0123456789ml", advance=1000)  # every glyph a box 22 dots wide
    picture = preview.render_image(b"500ml\n", width_dots=576, margin=MARGIN, font_path=wide)
    for cell in range(5):
        crop = picture.crop((MARGIN + 12 * cell, MARGIN, MARGIN + 12 * cell + 12, MARGIN + 24)).convert("L")
        px = crop.load()
        uprights = [x for x in range(12) if sum(px[x, y] < 128 for y in range(24)) >= 8]
        assert uprights and min(uprights) <= 3 and max(uprights) >= 8, (cell, uprights)


def test_500ml_in_the_bundled_font_is_not_500rl(fresh_box):
    assert ImageChops.difference(draw(b"500ml\n"), draw(b"500rl\n")).getbbox()
    m = draw(b"m\n").crop((MARGIN, MARGIN, MARGIN + 12, MARGIN + 24)).convert("L")
    px = m.load()
    assert len([x for x in range(12) if sum(px[x, y] < 128 for y in range(24)) >= 6]) >= 3


# --- images, QR, cuts -----------------------------------------------------------------------------


def checkerboard(width: int = 64, height: int = 40) -> Image.Image:
    img = Image.new("1", (width, height), 1)
    for y in range(height):
        for x in range(width):
            if (x // 8 + y // 8) % 2 == 0:
                img.putpixel((x, y), 0)
    return img


@pytest.mark.parametrize("align", [0, 1, 2])
def test_raster_image_is_drawn_dot_for_dot_where_the_alignment_puts_it(align):
    pattern = checkerboard()
    img = draw(ESC + b"a" + bytes([align]) + raster_command(pattern))
    x0 = {0: 0, 1: (576 - 64) // 2, 2: 576 - 64}[align]
    crop = img.crop((MARGIN + x0, MARGIN, MARGIN + x0 + 64, MARGIN + 40)).convert("1")
    assert ImageChops.difference(crop.convert("L"), pattern.convert("L")).getbbox() is None


def test_raster_mode_3_doubles_both_ways():
    pattern = checkerboard()
    box = ink_box(draw(raster_command(pattern, mode=3)))
    single = ink_box(draw(raster_command(pattern)))
    assert (box[2] - box[0], box[3] - box[1]) == (2 * (single[2] - single[0]), 2 * (single[3] - single[1]))


def test_raster_from_python_escpos_decodes_as_qr():
    p = Dummy()
    p.set(align="center")
    p.qr(URL, size=6, native=False)
    img = draw(p.output)
    assert [r.text for r in zxingcpp.read_barcodes(img)] == [URL]
    assert len(preview.raster_images(p.output)) == 1


@pytest.mark.parametrize("size", [4, 8])
def test_native_qr_is_drawn_from_the_stored_data_at_the_stored_module_size(size):
    p = Dummy()
    p.set(align="center")
    p.qr(URL, size=size, native=True, ec=1)
    result = preview.render(p.output, width_dots=576, margin=MARGIN)
    assert [r.text for r in zxingcpp.read_barcodes(result.image)] == [URL]
    assert result.qr_payloads == [URL.encode()]
    box = ink_box(result.image)
    assert box[2] - box[0] == 29 * size  # version 3 at EC M: 29 modules
    assert abs((box[0] + box[2]) / 2 - 288) <= 1  # centred by ESC a 1


def test_native_qr_commands_are_parsed_into_typed_values():
    p = Dummy()
    p.qr(URL, size=7, native=True, ec=3)
    cmds = [c for c in preview.parse(p.output) if not isinstance(c, preview.Text | preview.LineFeed)]
    assert [type(c) for c in cmds] == [
        preview.QRModel,
        preview.QRModuleSize,
        preview.QRErrorCorrection,
        preview.QRStore,
        preview.QRPrint,
    ]
    assert (cmds[0].model, cmds[1].size, cmds[2].level, cmds[3].data) == (2, 7, "H", URL.encode())
    assert preview.native_qr_payloads(p.output) == [URL.encode()]


def test_qr_stored_but_never_printed_is_not_a_payload():
    p = Dummy()
    p.qr(URL, native=True)
    stored_only = p.output.rsplit(GS + b"(k\x03\x001Q0", 1)[0]
    assert preview.native_qr_payloads(stored_only) == []
    assert preview.render(stored_only).qr_payloads == []


def dashed_rows(img: Image.Image) -> list[int]:
    """Rows where the ink alternates across the whole paper: the cut marks."""
    gray = img.convert("L")
    rows = []
    for y in range(gray.height):
        row = [gray.getpixel((x, y)) for x in range(gray.width)]
        changes = sum(1 for a, b in itertools.pairwise(row) if (a < 128) != (b < 128))
        if changes > gray.width // 12:
            rows.append(y)
    return rows


def test_cuts_are_dashed_lines_and_partial_cuts_leave_a_bridge():
    full = preview.render(b"A\n" + GS + b"V\x00")
    partial = preview.render(b"A\n" + GS + b"V\x01")
    none = preview.render(b"A\n")
    assert full.cuts == partial.cuts == 1 and none.cuts == 0
    assert dashed_rows(full.image) and dashed_rows(partial.image) and not dashed_rows(none.image)
    mid = full.image.width // 2
    y_full = dashed_rows(full.image)[0]
    y_part = dashed_rows(partial.image)[0]
    middle = range(mid - 12, mid + 12)
    assert any(full.image.getpixel((x, y_full)) < 128 for x in middle)
    assert all(partial.image.getpixel((x, y_part)) >= 128 for x in middle)


def test_feed_and_cut_variant_feeds_first():
    plain = preview.render(b"A\n" + GS + b"V\x00").image
    fed = preview.render(b"A\n" + GS + b"VA\x50").image
    assert dashed_rows(fed)[0] - dashed_rows(plain)[0] == 0x50


def test_drawer_kick_prints_nothing_but_is_noted():
    kicked = preview.render(b"A\n" + ESC + b"p\x00\x32\x32")
    assert kicked.drawer_kicks == 1
    assert any("drawer" in n for n in kicked.notes)
    assert ImageChops.difference(kicked.image, draw(b"A\n")).getbbox() is None


# --- robustness -----------------------------------------------------------------------------------


def test_unknown_commands_are_skipped_and_text_after_them_still_prints():
    result = preview.render(ESC + b"\xff" + GS + b"\xfe" + b"\x01" + b"HELLO\n")
    assert ImageChops.difference(result.image, draw(b"HELLO\n")).getbbox() is None
    assert sum("unknown" in n for n in result.notes) == 3


def test_a_raster_cut_off_by_the_end_of_the_stream_is_noted():
    cut_short = raster_command(checkerboard())[:-10]
    result = preview.render(b"A\n" + cut_short)
    assert isinstance(list(preview.parse(cut_short))[-1], preview.Truncated)
    assert any("ends inside a command" in n for n in result.notes)


def test_endless_feeds_stop_at_max_height():
    result = preview.render((ESC + b"d\xff") * 1000, max_height=5000)
    assert result.image.height <= 5000 + 2 * MARGIN
    assert any("stops at" in n for n in result.notes)


def test_render_png_is_a_png_of_the_paper_width():
    png = preview.render_png(b"HELLO\n", width_dots=384)
    img = Image.open(io.BytesIO(png))
    assert img.format == "PNG" and img.width == 384 + 2 * MARGIN


def test_column_images_from_python_escpos_match_the_raster_version():
    qr_raster, qr_column = Dummy(), Dummy()
    qr_raster.qr(URL, size=4)
    qr_column.qr(URL, size=4, image_arguments={"impl": "bitImageColumn"})
    assert [r.text for r in zxingcpp.read_barcodes(draw(qr_column.output))] == [URL]


# Bytes a printer stream is made of: command introducers are frequent, so the fuzzer reaches
# deep into the parser instead of printing random text.
_INTERESTING = st.sampled_from([0x1B, 0x1D, 0x1C, 0x10, 0x0A, 0x00, 0x01, 0x28, 0x6B, 0x76, 0x30, 0x31, 0xFF])
stream = st.lists(st.one_of(_INTERESTING, st.integers(0, 255)), max_size=400).map(bytes)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=stream, width=st.sampled_from([384, 512, 576]))
def test_fuzzed_bytes_never_crash(data, width):
    result = preview.render(data, width_dots=width, max_height=3000)
    assert result.image.width == width + 2 * 16
    list(preview.parse(data))


@settings(max_examples=100, deadline=None)
@given(prefix=stream, suffix=stream)
def test_fuzz_around_a_real_job(prefix, suffix):
    p = Dummy()
    p.text("Total\n")
    p.qr(URL, native=True)
    preview.render(prefix + p.output + suffix, max_height=3000)
