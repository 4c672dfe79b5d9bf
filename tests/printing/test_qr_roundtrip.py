"""Every QR on every slip, for every printer profile, in both QR modes, scans back to its content.

The chain is the real one: template -> Document -> encoder -> ESC/POS bytes -> preview (which
reads the bytes the way a printer does) -> zxing-cpp, an independent decoder. A raster QR is
checked dot for dot as sent; a native ``GS ( k`` QR is drawn from the data the printer would
store, so its payload is also compared byte for byte.
"""

from __future__ import annotations

import dataclasses
import re

import pytest
import qrcode
import qrcode.constants
import zxingcpp

from pos.printing import fonts, preview
from pos.printing.encoder import encode
from pos.printing.profiles import available_profiles, load_profile
from pos.receipts import samples

PROFILES = available_profiles()
LANGUAGES = ("zh-CN", "en")
FONT = fonts.bundled()  # shipped in the package: runs the same on a fresh box


def documents_with_qr(profile, language):
    docs = samples.documents(profile.columns, language, profile_name=profile.name)
    return {kind: doc for kind, doc in docs.items() if doc.qr_data()}


def test_every_profile_and_qr_template_is_covered():
    assert len(PROFILES) >= 5
    kinds = set(documents_with_qr(load_profile(PROFILES[0]), "zh-CN"))
    assert {"sale", "label", "test"} <= kinds


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("qr_mode", ["native", "raster"])
@pytest.mark.parametrize("name", PROFILES)
def test_qr_scans_back_to_its_content(name, qr_mode, language):
    profile = dataclasses.replace(load_profile(name), qr_mode=qr_mode)
    for kind, document in documents_with_qr(profile, language).items():
        data = encode(document, profile, raster_font=FONT)
        picture = preview.render(data, width_dots=profile.printable_dots)
        decoded = [r.text for r in zxingcpp.read_barcodes(picture.image)]
        where = f"{kind} on {name} ({qr_mode}, {language})"
        assert sorted(decoded) == sorted(document.qr_data()), where
        # What went over the wire: native payloads are exactly the content, in order.
        native = [b.decode("utf-8") for b in preview.native_qr_payloads(data)]
        if kind == "test":  # the calibration slip forces one native and one raster QR
            assert native == document.qr_data()[:1], where
        elif qr_mode == "native":
            assert native == document.qr_data(), where
        else:
            assert native == [] and len(preview.raster_images(data)) >= len(document.qr_data()), where


GS_K_MODULE = re.compile(rb"\x1d\(k\x03\x001C(.)", re.DOTALL)  # GS ( k fn 67: dots per module


@pytest.mark.parametrize("name", PROFILES)
def test_sale_slip_qr_is_35mm_native_on_80mm_paper_and_at_least_25mm_otherwise(name):
    """The width is read twice, independently: from the bytes (module size x modules / dots per mm)
    and from where zxing-cpp finds the symbol's corners on the previewed paper."""
    profile = load_profile(name)
    document = samples.documents(profile.columns, "zh-CN", profile_name=name)["sale"]
    data = encode(document, profile, raster_font=FONT)
    (code_url,) = document.qr_data()
    modules = len(qrcode_matrix(code_url))
    if profile.native_qr:
        (module,) = [m[0] for m in GS_K_MODULE.findall(data)]
        (payload,) = preview.native_qr_payloads(data)
        assert payload == code_url.encode()
    else:
        # The QR's image: as many rows as its width in dots (rows are padded to whole bytes).
        (image,) = [i for i in preview.raster_images(data) if 0 <= i.width - i.height < 16]
        module = image.height // modules
        assert module * modules == image.height
    from_bytes_mm = module * modules / profile.dots_per_mm
    picture = preview.render(data, width_dots=profile.printable_dots)
    (found,) = zxingcpp.read_barcodes(picture.image)
    assert found.text == code_url
    corners = found.position
    seen_mm = (corners.top_right.x - corners.top_left.x) / profile.dots_per_mm
    assert abs(seen_mm - from_bytes_mm) < 1.0, (seen_mm, from_bytes_mm)
    wanted = 35.0 if profile.native_qr and profile.paper_width_mm >= 80 else 25.0
    assert wanted <= from_bytes_mm <= profile.printable_mm, (name, from_bytes_mm)
    if not profile.native_qr:  # raster: every dot is a byte on the wire, so no larger than needed
        assert (module - profile.raster_scale) * modules / profile.dots_per_mm < 25.0


def qrcode_matrix(data: str) -> list[list[bool]]:
    """The symbol a printer stores for ``data`` (level M, smallest version), from qrcode itself."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
    code.add_data(data)
    code.make(fit=True)
    return code.get_matrix()
