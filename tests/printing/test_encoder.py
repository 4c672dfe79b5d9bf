"""The ESC/POS encoder: exact bytes, Chinese, raster text, the QR rule, golden files per template.

Golden files: ``tests/printing/golden/<template>-<profile>.bin`` hold the exact
job for every template on every built-in profile (zh-CN on printers with a
Chinese font, English ASCII samples on the ones without). After an intended
change to the encoder or a template, regenerate them with

    POS_REGEN_GOLDEN=1 .venv/bin/python -m pytest tests/printing/test_encoder.py

and look at the diff (``tests/printing/golden/README.md`` says how the files
were checked by eye). Every golden is also parsed back here: each command must
be one the encoder is meant to send, no text line may be wider than the
profile's columns, and every QR must decode to its data with zxing-cpp.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import qrcode
import qrcode.constants
import zxingcpp
from PIL import Image

from pos.printing import fonts
from pos.printing import qr as qrmod
from pos.printing.encoder import EncodeError, RasterFontRequired, encode, gb18030_two_byte
from pos.printing.profiles import available_profiles, load_profile
from pos.receipts import samples
from pos.receipts.document import QR, Align, Cut, Document, Feed, Row, Text

GOLDEN = Path(__file__).parent / "golden"
REGEN = os.environ.get("POS_REGEN_GOLDEN") == "1"
CJK_FONT = str(fonts.BUNDLED)  # the font shipped in the package: no apt step


# -- a small independent reader of the byte stream (written from the Epson command layout) --------


@dataclass
class Job:
    ops: list[tuple] = field(default_factory=list)

    def lines(self) -> list[bytes]:
        return [op[1] for op in self.ops if op[0] == "text"]

    def rasters(self) -> list[Image.Image]:
        return [op[1] for op in self.ops if op[0] == "raster"]

    def native_qrs(self) -> list[dict]:
        return [op[1] for op in self.ops if op[0] == "qr"]

    def kinds(self) -> list[str]:
        return [op[0] for op in self.ops]


def parse(data: bytes) -> Job:
    """Split a job into commands; fail on anything the encoder is not meant to send."""
    job = Job()
    i = 0
    text = bytearray()
    chinese = False
    qr: dict = {}
    simple = {
        b"\x1ba": "align", b"\x1bE": "bold", b"\x1bt": "codepage", b"\x1bd": "feed_lines",
        b"\x1bJ": "feed_dots", b"\x1d!": "size", b"\x1dV": "cut",
    }  # fmt: skip
    while i < len(data):
        two = data[i : i + 2]
        if two == b"\x1b@":
            job.ops.append(("init",))
            i += 2
        elif two == b"\x1c&":
            chinese = True
            job.ops.append(("chinese_on",))
            i += 2
        elif two == b"\x1c.":
            chinese = False
            job.ops.append(("chinese_off",))
            i += 2
        elif two in simple:
            job.ops.append((simple[two], data[i + 2]))
            i += 3
        elif data[i : i + 3] == b"\x1dv0":
            m, xl, xh, yl, yh = data[i + 3 : i + 8]
            w, h = xl + 256 * xh, yl + 256 * yh
            bits = data[i + 8 : i + 8 + w * h]
            assert len(bits) == w * h, "raster image cut short"
            img = Image.frombytes("1", (w * 8, h), bits)  # 1 = printed dot
            img = img.resize((w * 8 * (2 if m & 1 else 1), h * (2 if m & 2 else 1)), Image.Resampling.NEAREST)
            job.ops.append(("raster", img, m))
            i += 8 + w * h
        elif data[i : i + 3] == b"\x1d(k":
            n = data[i + 3] + 256 * data[i + 4]
            body = data[i + 5 : i + 5 + n]
            assert body[0:1] == b"1", "GS ( k for a symbol other than QR"
            fn = body[1]
            if fn == 65:
                qr["model"] = body[2]
            elif fn == 67:
                qr["size"] = body[2]
            elif fn == 69:
                qr["ec"] = body[2]
            elif fn == 80:
                qr["data"] = bytes(body[3:])
            elif fn == 81:
                job.ops.append(("qr", dict(qr)))
                qr = {}
            else:
                raise AssertionError(f"unexpected GS ( k function {fn}")
            i += 5 + n
        elif data[i] == 0x0A:
            job.ops.append(("text", bytes(text), chinese))
            text.clear()
            i += 1
        elif data[i] in (0x1B, 0x1C, 0x1D, 0x10):
            raise AssertionError(f"unexpected command {data[i : i + 3].hex(' ')} at byte {i}")
        elif data[i] >= 0x80 and chinese:
            text += data[i : i + 2]
            i += 2
        else:
            assert data[i] >= 0x20, f"control byte {data[i]:#x} in text at {i}"
            text.append(data[i])
            i += 1
    assert not text, "text left without a line feed"
    return job


def on_paper(image: Image.Image, margin: int) -> Image.Image:
    """A printed raster as a camera sees it: black on white with the paper around it."""
    canvas = Image.new("L", (image.width + 2 * margin, image.height + 2 * margin), 255)
    canvas.paste(image.convert("L").point(lambda v: 0 if v else 255), (margin, margin))
    return canvas


def decode(image: Image.Image) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(image)]


def is_qr_raster(img: Image.Image) -> bool:
    """QR images are square and tall; raster text lines are 24 (or 48 when doubled) dots high."""
    return abs(img.width - img.height) < 16 and img.height > 48


def render_native(qr: dict) -> Image.Image:
    """Draw a stored GS ( k payload with the qrcode library (EC M, the sent module size) for zxing."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=qr["size"], border=4)
    code.add_data(qr["data"].decode("utf-8"))
    code.make(fit=True)
    return code.make_image().get_image().convert("L")


def check_qrs(data: bytes, profile, document: Document) -> None:
    """Every QR in the job decodes to the document's QR data, in order, and is 25 mm..paper wide
    (35 mm for a native QR on 80 mm paper)."""
    job = parse(data)
    found: list[tuple[str, float]] = []
    for op in job.ops:
        if op[0] == "qr":
            qr = op[1]
            assert (qr["model"], qr["ec"]) == (50, 49), "QR model 2, EC level M"
            texts = decode(render_native(qr))
            modules = len(qrmod.matrix(qr["data"].decode()))
            width_mm = modules * qr["size"] * 25.4 / profile.dpi
            if profile.paper_width_mm >= 80:
                assert width_mm >= 35.0, f"native QR {width_mm:.1f} mm wide on {profile.name}"
            found.append((texts[0] if texts else "", width_mm))
        elif op[0] == "raster" and is_qr_raster(op[1]):
            img = op[1]
            texts = decode(on_paper(img, margin=40))
            found.append((texts[0] if texts else "", img.height * 25.4 / profile.dpi))
    assert [t for t, _ in found] == document.qr_data()
    for _, width_mm in found:
        assert 25.0 <= width_mm <= profile.printable_mm + 0.01


def check_widths(data: bytes, profile) -> None:
    """No text line wider than the printer's columns (at its size), no broken GB18030 pair."""
    job = parse(data)
    size = 0
    for op in job.ops:
        if op[0] == "size":
            size = op[1]
        if op[0] == "text":
            line, chinese = op[1], op[2]
            text = line.decode("gb18030" if chinese else "cp437")  # raises on a split pair
            width = (size >> 4) + 1
            assert len(line) * width <= profile.columns, f"{text!r} is wider than {profile.columns} columns"


# -- exact bytes ----------------------------------------------------------------------------------


def test_chinese_line_is_fs_ampersand_then_gb18030_two_byte_codes():
    xp80 = load_profile("xp80")
    data = encode(Document((Text("合计 ￥12.50"),), kind="sale"), xp80)
    assert data == b"\x1b@" + b"\x1c&" + "合计 ".encode("gb18030") + b"\xa3\xa412.50\n" + b"\x1c."
    assert "合计".encode("gb18030") == b"\xba\xcf\xbc\xc6"


def test_ascii_only_job_never_enters_chinese_mode():
    data = encode(Document((Text("Total 12.50"), Cut()), kind="sale"), load_profile("xp80"))
    assert data == b"\x1b@Total 12.50\n\x1bd\x04\x1dV\x01"


def test_yen_sign_u00a5_is_printed_as_fullwidth_and_four_byte_characters_visibly_replaced():
    assert gb18030_two_byte("¥5") == b"\xa3\xa45"
    # U+20000 (CJK Ext. B) and an emoji are four-byte GB18030 codes: a two-byte-only printer would
    # print junk, so they become a visible full-width question mark (A3 BF).
    assert gb18030_two_byte("𠀀😀a") == b"\xa3\xbf\xa3\xbfa"
    assert gb18030_two_byte("a\x07b") == b"a\xa3\xbfb"


def test_modes_are_sent_only_when_they_change():
    doc = Document(
        (
            Text("A", align=Align.CENTER, bold=True, width=2, height=2),
            Text("B", align=Align.CENTER, bold=True, width=2, height=2),
            Text("C"),
            Feed(2),
        ),
        kind="test",
    )
    data = encode(doc, load_profile("xp80"))
    assert data == (
        b"\x1b@"
        + b"\x1ba\x01\x1bE\x01\x1d!\x11"
        + b"A\nB\n"
        + b"\x1ba\x00\x1bE\x00\x1d!\x00"
        + b"C\n"
        + b"\x1bd\x02"
    )


@pytest.mark.parametrize(("profile", "tail"), [("xp80", b"\x1dV\x01"), ("xp58", b""), ("sunmi58", b"")])
def test_cut_follows_the_profile(profile, tail):
    data = encode(Document((Cut(),), kind="test"), load_profile(profile))
    assert data == b"\x1b@\x1bd\x04" + tail


def test_full_cut_profile_sends_gs_v_0(tmp_path):
    text = (Path(load_profile("xp80").source)).read_text().replace('cut = "partial"', 'cut = "full"')
    (tmp_path / "xp80full.toml").write_text(text)
    data = encode(Document((Cut(),), kind="test"), load_profile("xp80full", [tmp_path]))
    assert data.endswith(b"\x1dV\x00")


def test_rows_are_padded_to_the_columns_with_chinese_counted_double():
    data = encode(Document((Row("合计", "￥147.30"),), kind="sale"), load_profile("xp58"))
    line = parse(data).lines()[0]
    assert (
        len(line) == 32
        and line.startswith("合计".encode("gb18030"))
        and line.endswith("￥147.30".encode("gb18030"))
    )


def test_cp437_profile_prints_yen_as_cp437_and_keeps_the_width():
    data = encode(Document((Row("Total", "￥7.00"),), kind="sale"), load_profile("tm-t88v"))
    line = parse(data).lines()[0]
    assert len(line) == 42 and line.endswith(b" \x9d7.00")  # 9D = ¥ in code page 437


# -- raster text and the refusal ------------------------------------------------------------------


def test_chinese_on_a_profile_without_chinese_font_is_refused_without_raster_font():
    doc = Document((Text("演示小店"),), kind="sale")
    with pytest.raises(RasterFontRequired) as err:
        encode(doc, load_profile("tm-t88v"))
    message = str(err.value)
    assert "tm-t88v" in message and "raster_font" in message and "演示小店" in message


def test_a_missing_raster_font_file_is_a_clear_error(tmp_path):
    with pytest.raises(EncodeError, match="raster_font"):
        encode(
            Document((Text("演示"),), kind="sale"),
            load_profile("tm-t88v"),
            raster_font=str(tmp_path / "no.ttf"),
        )


def test_chinese_line_becomes_a_raster_on_the_cell_grid():
    profile = load_profile("tm-t88v")
    data = encode(Document((Text("合计 ￥7"), Text("ok")), kind="sale"), profile, raster_font=CJK_FONT)
    job = parse(data)
    assert b"\x1c&" not in data and "合计".encode("gb18030") not in data
    (img,) = job.rasters()
    cell = profile.cell_dots
    assert img.height == 24
    assert img.width == ((2 + 2 + 1 + 2 + 1) * cell + 7) // 8 * 8  # "合计 ￥7" = 8 cells, whole bytes
    inked = img.getbbox()
    assert inked is not None and inked[2] <= 8 * cell  # ink stays inside the 8 cells
    assert job.lines() == [b"ok"]  # plain text continues as text


def test_double_size_raster_text_is_magnified():
    profile = load_profile("tm-t20ii")
    data = encode(Document((Text("小店", width=2, height=2),), kind="sale"), profile, raster_font=CJK_FONT)
    (img,) = parse(data).rasters()
    assert (img.width, img.height) == (4 * profile.cell_dots * 2, 48)


# -- the QR rule ----------------------------------------------------------------------------------


def test_a_wanted_size_that_does_not_fit_falls_back_to_the_largest_that_does():
    plan = qrmod.plan(samples.CODE_URL, dpi=203, printable_dots=256, max_module=16, wanted_mm=35.0)
    assert plan.width_dots <= 256 and plan.width_mm >= 25.0 and plan.module_dots == 256 // 29
    even = qrmod.plan(samples.CODE_URL, dpi=203, printable_dots=256, even=True, wanted_mm=35.0)
    assert even.module_dots == 8  # 256 // 29 = 8, even already
    assert qrmod.target_mm(native=True, paper_width_mm=80) == 35.0
    assert (
        qrmod.target_mm(native=False, paper_width_mm=80)
        == qrmod.target_mm(native=True, paper_width_mm=58)
        == 25.0
    )


@pytest.mark.parametrize("name", available_profiles())
def test_qr_module_size_is_the_smallest_that_prints_25mm_and_fits(name):
    profile = load_profile(name)
    for data in (samples.CODE_URL, samples.MODE_ONE_URL):
        plan = qrmod.plan(data, dpi=profile.dpi, printable_dots=profile.printable_dots)
        assert plan.width_mm >= 25.0
        assert plan.width_dots <= profile.printable_dots
        smaller = qrmod.QRPlan(plan.modules, plan.module_dots - 1, profile.dpi)
        assert smaller.width_mm < 25.0


def test_qr_too_large_for_the_paper_is_refused(tmp_path):
    text = (
        Path(load_profile("xp58").source).read_text().replace("printable_dots = 384", "printable_dots = 200")
    )
    text = text.replace("columns_font_a = 32", "columns_font_a = 16").replace(
        "columns_font_b = 42", "columns_font_b = 24"
    )
    (tmp_path / "narrow.toml").write_text(text)
    narrow = load_profile("narrow", [tmp_path])
    with pytest.raises(EncodeError, match=r"narrow.*29 modules.*wider than the 200 printable dots"):
        encode(Document((QR(samples.CODE_URL),), kind="label"), narrow)
    with pytest.raises(EncodeError, match="more than a QR code"):
        encode(Document((QR("x" * 3000),), kind="label"), load_profile("xp58"))


def test_native_qr_bytes_for_the_code_url():
    xp80 = load_profile("xp80")
    data = encode(Document((QR(samples.CODE_URL),), kind="sale"), xp80)
    url = samples.CODE_URL.encode()
    module = 10  # 29 modules x 10 dots = 290 dots = 36.3 mm at 203 dpi: native on 80 mm is >= 35 mm
    assert data == (
        b"\x1b@\x1ba\x01\x1bJ\x28"
        + b"\x1d(k\x04\x001A2\x00" + b"\x1d(k\x03\x001C" + bytes([module]) + b"\x1d(k\x03\x001E1"
        + b"\x1d(k" + bytes([len(url) + 3, 0]) + b"1P0" + url + b"\x1d(k\x03\x001Q0"
        + b"\x1bJ\x28"
    )  # fmt: skip


def test_raster_qr_is_bare_centred_and_half_size_when_the_profile_scales():
    xp58 = load_profile("xp58")
    assert xp58.raster_scale == 2
    data = encode(Document((QR(samples.CODE_URL),), kind="sale"), xp58)
    assert data.startswith(b"\x1b@\x1ba\x01")
    job = parse(data)
    (op,) = [op for op in job.ops if op[0] == "raster"]
    img, mode = op[1], op[2]
    assert mode == 3
    assert img.getbbox() == (0, 0, 29 * 8, 29 * 8)  # 29 modules of 8 dots, no border
    assert decode(on_paper(img, 40)) == [samples.CODE_URL]
    assert len(data) < 2000  # 15 bytes x 116 rows, against 48 x 248 for python-escpos center=True


def test_forced_modes_override_the_profile_for_the_calibration_slip():
    xp58 = load_profile("xp58")
    data = encode(Document((QR("abc", mode="native"), QR("abc", mode="raster")), kind="test"), xp58)
    job = parse(data)
    assert [k for k in job.kinds() if k in ("qr", "raster")] == ["qr", "raster"]


# -- every template on every profile: golden bytes, widths, QR decode ------------------------------


def _cases():
    for name in available_profiles():
        chinese = load_profile(name).has_chinese_font
        for template in ("sale", "paid", "void", "expired", "refund", "z_report", "label", "test"):
            yield name, template, chinese


@pytest.mark.parametrize(("name", "template", "chinese"), list(_cases()))
def test_template_golden_bytes(name, template, chinese):
    profile = load_profile(name)
    language = "zh-CN" if chinese else "en"
    document = samples.documents(profile.columns, language, ascii_only=not chinese, profile_name=name)[
        template
    ]
    if template == "test" and not chinese:
        data = encode(document, profile, raster_font=CJK_FONT)  # font-rendered: checked, not golden
    else:
        data = encode(document, profile)
        path = GOLDEN / f"{template}-{name}.bin"
        if REGEN:
            GOLDEN.mkdir(exist_ok=True)
            path.write_bytes(data)
        assert path.is_file(), f"no golden file {path.name}: run with POS_REGEN_GOLDEN=1 and review it"
        assert data == path.read_bytes(), f"{path.name} changed: review, then POS_REGEN_GOLDEN=1"
    check_widths(data, profile)
    check_qrs(data, profile, document)
    job = parse(data)
    assert job.ops[0] == ("init",)
    if profile.cut == "none":
        assert not any(k == "cut" for k in job.kinds())
    else:
        assert job.kinds()[-1] == "cut" or job.kinds()[-2:] == ["cut", "chinese_off"]


def test_sale_slip_text_reads_back_in_chinese():
    profile = load_profile("xp80")
    document = samples.documents(profile.columns)["sale"]
    lines = [line.decode("gb18030") for line in parse(encode(document, profile)).lines()]
    assert "演示小店" in lines
    assert "请使用微信扫一扫" in lines
    assert "请在 14:36 前扫码支付" in lines  # 06:36 UTC in Asia/Shanghai
    assert any(line.startswith("合计") and line.endswith("￥147.30") for line in lines)


def test_eighty_mm_native_sale_slip_of_ten_items_fits_1200_bytes():
    profile = load_profile("xp80")
    document = samples.documents(profile.columns)["sale"]
    assert len(samples.sale().items) == 10
    assert len(encode(document, profile)) <= 1200


def test_raster_sale_slip_fits_6000_bytes():
    profile = load_profile("xp58")
    document = samples.documents(profile.columns)["sale"]
    assert len(encode(document, profile)) <= 6000


@pytest.mark.parametrize("native", [True, False])
def test_qr_plan_keyed_by_version_equals_the_full_plan_for_every_length(native):
    """The encoder's cached plan must be exactly qr.plan's, for data of every version it can meet."""
    from pos.printing.encoder import qr_plan

    for length in [1, 5, 14, 20, 26, 27, 33, 42, 43, 60, 62, 84, 85, 120, 200, 400, 700, 1000]:
        for data in (f"weixin://wxpay/bizpayurl?pr={'x' * length}"[:length], "7" * length, "ABC1" * length):
            kwargs = {
                "dpi": 203,
                "printable_dots": 576,
                "even": not native,
                "wanted_mm": 35.0 if native else 25.0,
            }
            kwargs["max_module"] = qrmod.NATIVE_MAX_MODULE if native else None
            try:
                expected = qrmod.plan(data, **kwargs)
            except qrmod.QRSizeError:
                with pytest.raises(qrmod.QRSizeError):
                    qr_plan(data, **kwargs)
                continue
            assert qr_plan(data, **kwargs) == expected, data
            assert qr_plan(data, **kwargs) == expected, data  # and again, from the cache
