"""ESC/POS bytes -> a picture of the paper.

Why: the virtual printer (``dir:``), the tests and a person checking a layout all need to
see what a thermal printer would print, without a printer. The picture is drawn from the
*bytes*, not from the document, so a bug in the encoder (a wrong raster row order, a missing
``FS &``, a ``¥`` that becomes a 4-byte GB18030 sequence) shows up here as it would on paper.

Two layers:

- :func:`parse` turns a byte stream into typed commands (:class:`Text`, :class:`Raster`,
  :class:`QRStore`, :class:`Cut`, ...). It never raises: what it does not know becomes
  :class:`Unknown`, a command cut off by the end of the stream becomes :class:`Truncated`.
  Tests use it directly, e.g. :func:`raster_images` and :func:`native_qr_payloads`.
- :func:`render` lays the commands out like an Epson-style printer in standard mode: Font A
  cells of 12x24 dots (a GB18030 character is 24x24), line spacing 30 dots, ``ESC a``
  alignment taken at the start of each line, images and QR codes aligned the same way.
  ``GS ( k`` QR codes are drawn from the *stored* data with the ``qrcode`` library at the
  stored module size, which is what a printer that supports them does.

The picture has a white margin around the printable width (the paper's unprintable edge),
so a QR printed flush left still has a quiet zone and decodes.
"""

from pos.printing.preview.commands import (
    Align,
    Barcode,
    Bold,
    CharSize,
    ChineseMode,
    CodePage,
    ColumnImage,
    Command,
    Cut,
    DrawerKick,
    FeedDots,
    FeedLines,
    Ignored,
    Init,
    LineFeed,
    LineSpacing,
    PrintMode,
    QRErrorCorrection,
    QRModel,
    QRModuleSize,
    QRPrint,
    QRStore,
    Raster,
    SelectFont,
    StatusRequest,
    Tab,
    Text,
    Truncated,
    Underline,
    Unknown,
)
from pos.printing.preview.paper import (
    Preview,
    PreviewFontWarning,
    render,
    render_image,
    render_png,
)
from pos.printing.preview.parser import native_qr_payloads, parse, raster_images

__all__ = [
    "Align",
    "Barcode",
    "Bold",
    "CharSize",
    "ChineseMode",
    "CodePage",
    "ColumnImage",
    "Command",
    "Cut",
    "DrawerKick",
    "FeedDots",
    "FeedLines",
    "Ignored",
    "Init",
    "LineFeed",
    "LineSpacing",
    "Preview",
    "PreviewFontWarning",
    "PrintMode",
    "QRErrorCorrection",
    "QRModel",
    "QRModuleSize",
    "QRPrint",
    "QRStore",
    "Raster",
    "SelectFont",
    "StatusRequest",
    "Tab",
    "Text",
    "Truncated",
    "Underline",
    "Unknown",
    "native_qr_payloads",
    "parse",
    "raster_images",
    "render",
    "render_image",
    "render_png",
]
