"""The payment QR as an SVG drawn on the server, for the screen when the printer is down.

The page shows the very ``code_url`` the slip carries, so a customer can scan
the screen instead. It is drawn here with the qrcode library's SVG path
factory (one ``<path>``, white background, 4-module quiet zone, level M as on
paper) and inlined by the page: no JavaScript QR library, nothing from the
network. A sale's code_url never changes while it is shown, so the drawings are
cached by code_url.
"""

from __future__ import annotations

from functools import lru_cache

import qrcode
import qrcode.constants
import qrcode.image.svg

QUIET_ZONE = 4  # modules of white around the symbol, as the QR standard asks


@lru_cache(maxsize=256)
def qr_svg(data: str, label: str = "") -> str:
    """``data`` as a standalone SVG document that scales to its box (viewBox in modules)."""
    code = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        box_size=10,  # the factory's unit: 10 = one module per viewBox unit
        border=QUIET_ZONE,
        image_factory=qrcode.image.svg.SvgPathFillImage,
    )
    code.add_data(data)
    code.make(fit=True)
    image = code.make_image()
    svg = image.get_image()
    # Sized by the page's CSS, not in millimetres; crisp edges so modules never blur together.
    del svg.attrib["width"]
    del svg.attrib["height"]
    svg.set("class", "qr")
    svg.set("role", "img")
    svg.set("shape-rendering", "crispEdges")
    if label:
        svg.set("aria-label", label)
    return image.to_string(encoding="unicode")
