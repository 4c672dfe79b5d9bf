"""Every QR on every slip, for every printer profile, in both QR modes, scans back to its content.

The chain is the real one: template -> Document -> encoder -> ESC/POS bytes -> preview (which
reads the bytes the way a printer does) -> zxing-cpp, an independent decoder. A raster QR is
checked dot for dot as sent; a native ``GS ( k`` QR is drawn from the data the printer would
store, so its payload is also compared byte for byte.
"""

from __future__ import annotations

import dataclasses

import pytest
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
