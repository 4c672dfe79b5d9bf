"""ESC/POS bytes -> typed commands, never raising: unknown bytes become Unknown, a cut-off end Truncated.

Lengths follow Epson's command reference, so whatever follows a known command is read at the
right place even when the preview does not draw the command.
"""

from __future__ import annotations

from collections.abc import Iterator

from PIL import Image

from pos.printing.errors import PrintingError
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

# ---------------------------------------------------------------------------------------------
# Parser
# ---------------------------------------------------------------------------------------------

ESC, GS, FS, DLE = 0x1B, 0x1D, 0x1C, 0x10

_QR_LEVELS = {48: "L", 49: "M", 50: "Q", 51: "H"}

# Known commands with fixed parameter counts whose effect we do not draw.
_ESC_FIXED = {
    0x20: ("right-side spacing", 1),
    0x25: ("user-defined characters on/off", 1),
    0x3F: ("cancel user-defined character", 1),
    0x47: ("double strike", 1),
    0x4C: ("page mode", 0),
    0x53: ("standard mode", 0),
    0x54: ("page mode direction", 1),
    0x55: ("unidirectional printing", 1),
    0x56: ("90 degree rotation", 1),
    0x52: ("international character set", 1),
    0x72: ("print colour", 1),
    0x75: ("transmit peripheral status", 1),
    0x76: ("transmit paper status", 0),
    0x7B: ("upside-down printing", 1),
    0x3D: ("select peripheral device", 1),
    0x3C: ("return home", 0),
    0x24: ("absolute print position", 2),
    0x5C: ("relative print position", 2),
    0x63: ("panel buttons / paper sensors", 2),
    0x42: ("buzzer", 2),
    0x57: ("page mode print area", 8),
    0x65: ("reverse feed", 1),
    0x4B: ("reverse feed", 1),
    0x43: ("page length", 1),
}
_GS_FIXED = {
    0x42: ("white/black reverse", 1),
    0x62: ("smoothing", 1),
    0x48: ("HRI position", 1),
    0x66: ("HRI font", 1),
    0x68: ("barcode height", 1),
    0x77: ("barcode width", 1),
    0x4C: ("left margin", 2),
    0x57: ("print area width", 2),
    0x50: ("motion units", 2),
    0x24: ("absolute vertical position", 2),
    0x5C: ("relative vertical position", 2),
    0x49: ("transmit printer ID", 1),
    0x72: ("transmit status", 1),
    0x61: ("automatic status back", 1),
    0x3A: ("macro definition", 0),
    0x5E: ("execute macro", 3),
    0x7C: ("print density", 1),
    0x54: ("print position to line start", 1),
    0x2F: ("print downloaded bit image", 1),
    0x45: ("print head speed", 1),
}
_FS_FIXED = {
    0x21: ("Chinese print mode", 1),
    0x2D: ("Chinese underline", 1),
    0x53: ("Chinese character spacing", 2),
    0x57: ("Chinese quadruple size", 1),
    0x43: ("Chinese code system", 1),
    0x70: ("print NV bit image", 2),
}


class _Truncated(PrintingError):
    pass


def _digit(n: int) -> int:
    """Many ESC/POS parameters accept both 0..2 and the ASCII digits '0'..'2'."""
    return n - 48 if 48 <= n <= 57 else n


def parse(data: bytes) -> Iterator[Command]:
    """Yield the commands in ``data`` in order. Never raises, whatever the bytes."""
    data = bytes(data)
    n = len(data)
    i = 0

    def take(start: int, count: int) -> bytes:
        if count < 0 or start + count > n:
            raise _Truncated
        return data[start : start + count]

    while i < n:
        b = data[i]
        start = i
        try:
            if b >= 0x20:
                j = i
                while j < n and data[j] >= 0x20:
                    j += 1
                yield Text(start, data[i:j])
                i = j
            elif b == 0x0A:
                yield LineFeed(start)
                i += 1
            elif b == 0x09:
                yield Tab(start)
                i += 1
            elif b in (0x0D, 0x0C, 0x18, 0x00):
                yield Ignored(start, {0x0D: "CR", 0x0C: "FF", 0x18: "CAN", 0x00: "NUL"}[b], data[i : i + 1])
                i += 1
            elif b == ESC:
                cmd, i = _parse_esc(data, i, take)
                yield cmd
            elif b == GS:
                cmd, i = _parse_gs(data, i, take)
                yield cmd
            elif b == FS:
                cmd, i = _parse_fs(data, i, take)
                yield cmd
            elif b == DLE:
                cmd, i = _parse_dle(data, i, take)
                yield cmd
            else:
                yield Unknown(start, data[i : i + 1])
                i += 1
        except _Truncated:
            yield Truncated(start, data[start:])
            return


def _parse_esc(data: bytes, i: int, take) -> tuple[Command, int]:
    start = i
    op = take(i + 1, 1)[0]
    i += 2
    if op == 0x40:
        return Init(start), i
    if op == 0x64:
        return FeedLines(start, take(i, 1)[0]), i + 1
    if op == 0x4A:
        return FeedDots(start, take(i, 1)[0]), i + 1
    if op == 0x61:
        return Align(start, _digit(take(i, 1)[0])), i + 1
    if op == 0x45:
        return Bold(start, bool(take(i, 1)[0] & 1)), i + 1
    if op == 0x2D:
        return Underline(start, _digit(take(i, 1)[0])), i + 1
    if op == 0x4D:
        return SelectFont(start, bool(take(i, 1)[0] & 1)), i + 1
    if op == 0x21:
        n = take(i, 1)[0]
        return PrintMode(start, bool(n & 1), bool(n & 8), bool(n & 16), bool(n & 32), bool(n & 128)), i + 1
    if op == 0x74:
        return CodePage(start, take(i, 1)[0]), i + 1
    if op == 0x32:
        return LineSpacing(start, None), i
    if op == 0x33:
        return LineSpacing(start, take(i, 1)[0]), i + 1
    if op == 0x70:
        m, t1, t2 = take(i, 3)
        return DrawerKick(start, m & 1, t1 * 2, t2 * 2), i + 3
    if op in (0x69, 0x6D):
        return Cut(start, partial=True), i
    if op == 0x2A:
        m, nl, nh = take(i, 3)
        cols = nl + 256 * nh
        per_col = 3 if m in (32, 33) else 1
        if m not in (0, 1, 32, 33):
            return Unknown(start, data[start:i]), i
        body = take(i + 3, cols * per_col)
        return ColumnImage(start, m, cols, body), i + 3 + cols * per_col
    if op == 0x44:  # ESC D n1..nk NUL: tab positions
        j = i
        while take(j, 1)[0] != 0 and j - i < 32:
            j += 1
        return Ignored(start, "tab positions", data[start : j + 1]), j + 1
    if op == 0x26:  # ESC & y c1 c2 [x d1..d(y*x)]...: user-defined characters
        y, c1, c2 = take(i, 3)
        j = i + 3
        for _ in range(max(0, c2 - c1 + 1)):
            x = take(j, 1)[0]
            take(j + 1, y * x)
            j += 1 + y * x
        return Ignored(start, "define user characters", data[start:j]), j
    if op == 0x28:  # ESC ( fn pL pH ...
        _, pl, ph = take(i, 3)
        length = pl + 256 * ph
        take(i + 3, length)
        return Ignored(start, "ESC ( function", data[start : i + 3 + length]), i + 3 + length
    if op in _ESC_FIXED:
        name, count = _ESC_FIXED[op]
        take(i, count)
        return Ignored(start, name, data[start : i + count]), i + count
    return Unknown(start, data[start:i]), i


def _parse_gs(data: bytes, i: int, take) -> tuple[Command, int]:
    start = i
    op = take(i + 1, 1)[0]
    i += 2
    if op == 0x21:
        n = take(i, 1)[0]
        return CharSize(start, ((n >> 4) & 7) + 1, (n & 7) + 1), i + 1
    if op == 0x56:
        m = take(i, 1)[0]
        if m in (0, 48):
            return Cut(start, partial=False), i + 1
        if m in (1, 49):
            return Cut(start, partial=True), i + 1
        if m in (65, 66, 97, 98, 103, 104):
            feed = take(i + 1, 1)[0]
            return Cut(start, partial=m in (66, 98, 104), feed=feed), i + 2
        return Unknown(start, data[start : i + 1]), i + 1
    if op == 0x76:
        if take(i, 1)[0] != 0x30:
            return Unknown(start, data[start : i + 1]), i + 1
        m, xl, xh, yl, yh = take(i + 1, 5)
        width, height = xl + 256 * xh, yl + 256 * yh
        body = take(i + 6, width * height)
        return Raster(start, m, width, height, body), i + 6 + width * height
    if op == 0x28:  # GS ( fn pL pH [cn fn params...]
        fn_letter, pl, ph = take(i, 3)
        length = pl + 256 * ph
        body = take(i + 3, length)
        end = i + 3 + length
        if fn_letter == 0x6B and length >= 2 and body[0] == 49:  # GS ( k, cn 49 = QR
            return _qr_command(start, body, data[start:end]), end
        return Ignored(
            start, f"GS ( {chr(fn_letter) if 32 < fn_letter < 127 else fn_letter}", data[start:end]
        ), end
    if op == 0x38:  # GS 8 L p1 p2 p3 p4 ...: large graphics data
        letter, p1, p2, p3, p4 = take(i, 5)
        length = p1 + (p2 << 8) + (p3 << 16) + (p4 << 24)
        if letter != 0x4C:
            return Unknown(start, data[start : i + 1]), i + 1
        take(i + 5, length)
        return Ignored(start, "GS 8 L graphics", data[start : i + 5 + length]), i + 5 + length
    if op == 0x6B:  # GS k m ...: barcode
        m = take(i, 1)[0]
        if m <= 6:
            j = i + 1
            while take(j, 1)[0] != 0:
                j += 1
            return Barcode(start, m, data[i + 1 : j]), j + 1
        count = take(i + 1, 1)[0]
        return Barcode(start, m, take(i + 2, count)), i + 2 + count
    if op == 0x2A:  # GS * x y d...: define downloaded bit image
        x, y = take(i, 2)
        take(i + 2, x * y * 8)
        return Ignored(
            start, "define downloaded bit image", data[start : i + 2 + x * y * 8]
        ), i + 2 + x * y * 8
    if op in _GS_FIXED:
        name, count = _GS_FIXED[op]
        take(i, count)
        return Ignored(start, name, data[start : i + count]), i + count
    return Unknown(start, data[start:i]), i


def _qr_command(start: int, body: bytes, raw: bytes) -> Command:
    fn = body[1]
    params = body[2:]
    if fn == 65 and params:
        return QRModel(start, {49: 1, 50: 2, 51: 3}.get(params[0], params[0]))
    if fn == 67 and params:
        return QRModuleSize(start, params[0])
    if fn == 69 and params and params[0] in _QR_LEVELS:
        return QRErrorCorrection(start, _QR_LEVELS[params[0]])
    if fn == 80 and params:
        return QRStore(start, bytes(params[1:]))
    if fn == 81:
        return QRPrint(start)
    return Ignored(start, f"GS ( k QR fn {fn}", raw)


def _parse_fs(data: bytes, i: int, take) -> tuple[Command, int]:
    start = i
    op = take(i + 1, 1)[0]
    i += 2
    if op == 0x26:
        return ChineseMode(start, True), i
    if op == 0x2E:
        return ChineseMode(start, False), i
    if op == 0x32:  # FS 2 c1 c2 d1..d72: define a user Chinese character
        take(i, 74)
        return Ignored(start, "define user Chinese character", data[start : i + 74]), i + 74
    if op == 0x71:  # FS q n [xL xH yL yH d1..dk]...: define NV bit images
        count = take(i, 1)[0]
        j = i + 1
        for _ in range(count):
            xl, xh, yl, yh = take(j, 4)
            size = (xl + 256 * xh) * (yl + 256 * yh) * 8
            take(j + 4, size)
            j += 4 + size
        return Ignored(start, "define NV bit images", data[start:j]), j
    if op == 0x28:  # FS ( fn pL pH ...
        _, pl, ph = take(i, 3)
        length = pl + 256 * ph
        take(i + 3, length)
        return Ignored(start, "FS ( function", data[start : i + 3 + length]), i + 3 + length
    if op in _FS_FIXED:
        name, count = _FS_FIXED[op]
        take(i, count)
        return Ignored(start, name, data[start : i + count]), i + count
    return Unknown(start, data[start:i]), i


def _parse_dle(data: bytes, i: int, take) -> tuple[Command, int]:
    start = i
    op = take(i + 1, 1)[0]
    i += 2
    if op == 0x04:
        n = take(i, 1)[0]
        if n in (7, 8):
            take(i + 1, 1)
            return StatusRequest(start, n), i + 2
        return StatusRequest(start, n), i + 1
    if op == 0x05:
        take(i, 1)
        return Ignored(start, "real-time request", data[start : i + 1]), i + 1
    if op == 0x14:
        fn = take(i, 1)[0]
        if fn == 1:
            m, t = take(i + 1, 2)
            return DrawerKick(start, m & 1, t * 100, t * 100), i + 3
        count = {2: 2, 7: 1, 8: 7}.get(fn)
        if count is None:
            return Unknown(start, data[start : i + 1]), i + 1
        take(i + 1, count)
        return Ignored(start, "real-time function", data[start : i + 1 + count]), i + 1 + count
    # A lone DLE is not a command: skip the DLE only and read on.
    return Unknown(start, data[start : start + 1]), start + 1


def raster_images(data: bytes) -> list[Image.Image]:
    """Every ``GS v 0`` image in the stream, scaled by its mode, 255 where ink is."""
    images = []
    for cmd in parse(data):
        if isinstance(cmd, Raster):
            img = cmd.image()
            sx, sy = cmd.scale
            if (sx, sy) != (1, 1):
                img = img.resize((img.width * sx, img.height * sy), Image.Resampling.NEAREST)
            images.append(img)
    return images


def native_qr_payloads(data: bytes) -> list[bytes]:
    """The stored data of every native QR that the stream actually prints (fn 80 then fn 81)."""
    payloads: list[bytes] = []
    stored: bytes | None = None
    for cmd in parse(data):
        if isinstance(cmd, QRStore):
            stored = cmd.data
        elif isinstance(cmd, QRPrint) and stored is not None:
            payloads.append(stored)
    return payloads
