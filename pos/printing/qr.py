"""QR codes for paper: the size rule, the native command and the raster image.

The rule (DESIGN.md, escpos.md §5): error correction M, and a module size
that prints the symbol at least 25 mm wide, so a phone reads it at arm's
length, while it still fits the printable width. A native ``GS ( k`` QR on
80 mm paper is printed at least 35 mm wide: the printer draws it from the
stored data, so its size costs no bytes, and 25 mm left two thirds of the roll
empty. A raster QR stays at 25 mm (every dot is a bit on the wire). The module count comes from
the qrcode library's own version choice for the data at level M, the same
version a printer picks for ``GS ( k``.

Native: python-escpos's ``qr(native=True)`` builds the ``GS ( k`` sequence
correctly (model 2, module size, EC, store, print); we call it only when the
printer profile says native QR works, because the library itself never checks.

Raster: the matrix comes from qrcode with no border and is packed into one
``GS v 0`` image of exactly the symbol's width. It is centred with ``ESC a 1``
by the caller; the paper around it is the quiet zone. python-escpos's
``center=True`` would pad every row to the full paper width instead, doubling
the bytes on a slow serial line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import qrcode
import qrcode.constants
import qrcode.exceptions
from escpos.constants import QR_ECLEVEL_M
from escpos.printer import Dummy

from pos.printing.errors import PrintingError
from pos.printing.raster import gs_v0

MIN_QR_MM = 25.0
WIDE_NATIVE_QR_MM = 35.0  # a native QR on paper at least WIDE_PAPER_MM wide
WIDE_PAPER_MM = 80.0
NATIVE_MAX_MODULE = 16  # GS ( k fn 67 accepts 1..16 dots per module


def target_mm(*, native: bool, paper_width_mm: float) -> float:
    """How wide a QR should print: 35 mm native on 80 mm paper (free in bytes), else 25 mm."""
    return WIDE_NATIVE_QR_MM if native and paper_width_mm >= WIDE_PAPER_MM else MIN_QR_MM


class QRSizeError(PrintingError, ValueError):
    """The data makes a QR code too large for this paper at the minimum printed size."""


@dataclass(frozen=True)
class QRPlan:
    """How one QR will be printed: modules across, dots per printed module, and the width in mm."""

    modules: int
    module_dots: int
    dpi: int

    @property
    def width_dots(self) -> int:
        return self.modules * self.module_dots

    @property
    def width_mm(self) -> float:
        return self.width_dots * 25.4 / self.dpi


def matrix(data: str) -> list[list[bool]]:
    """The QR symbol for ``data`` at EC level M, smallest version, no quiet zone; True = dark."""
    code = qrcode.QRCode(version=None, error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
    code.add_data(data)
    code.make(fit=True)
    return [list(row) for row in code.get_matrix()]


def plan(
    data: str,
    *,
    dpi: int,
    printable_dots: int,
    max_module: int | None = None,
    even: bool = False,
    wanted_mm: float = MIN_QR_MM,
) -> QRPlan:
    """The smallest module size printing ``data`` at least ``wanted_mm`` wide within ``printable_dots``
    (see :func:`target_mm`); where that does not fit, the largest that does, never under 25 mm.

    ``even`` asks for an even module size (a raster sent at half size and doubled by the printer).
    Raises :class:`QRSizeError` when even the smallest 25 mm size is wider than the paper.
    """
    try:
        modules = len(matrix(data))
    except (qrcode.exceptions.DataOverflowError, ValueError) as exc:  # ValueError: "version 41"
        raise QRSizeError(f"{len(data)} bytes are more than a QR code at level M can hold") from exc
    limit = printable_dots // modules
    if max_module is not None:
        limit = min(limit, max_module)

    def module_for(mm: float) -> int:
        module = math.ceil(mm * dpi / 25.4 / modules)
        return module + 1 if even and module % 2 else module

    module = module_for(MIN_QR_MM)
    wanted = module_for(max(wanted_mm, MIN_QR_MM))
    if module <= limit:
        module = min(wanted, limit - (limit % 2 if even else 0))
    if module > limit:
        raise QRSizeError(
            f"a QR code of {len(data)} bytes needs {modules} modules; at {MIN_QR_MM:g} mm that is "
            f"{modules * module} dots, wider than the {printable_dots} printable dots"
        )
    return QRPlan(modules=modules, module_dots=module, dpi=dpi)


def native_bytes(data: str, module_dots: int) -> bytes:
    """``GS ( k``: model 2, module size, EC level M, store ``data``, print (python-escpos builds it)."""
    printer = Dummy()
    printer.qr(data, ec=QR_ECLEVEL_M, size=module_dots, native=True)
    return printer.output


def raster_bytes(data: str, module_dots: int, *, scale: int = 1) -> bytes:
    """One ``GS v 0`` image of the bare symbol, ``module_dots`` per module as printed.

    With ``scale=2`` the image is sent at half resolution with mode 3 (double width
    and height), a quarter of the bytes; ``module_dots`` must then be even.
    """
    if scale not in (1, 2):
        raise ValueError("raster scale must be 1 or 2")
    if module_dots % scale:
        raise ValueError(f"module size {module_dots} cannot be sent at 1/{scale} scale")
    sent = module_dots // scale
    rows = []
    for row in matrix(data):
        dots = [dark for dark in row for _ in range(sent)]
        packed = _pack_bits(dots)
        rows.extend([packed] * sent)
    return gs_v0(b"".join(rows), width_bytes=len(rows[0]), height=len(rows), mode=3 if scale == 2 else 0)


def _pack_bits(dots: list[bool]) -> bytes:
    """Dots to bytes, most significant bit first (the leftmost dot), padded with white to a whole byte."""
    out = bytearray((len(dots) + 7) // 8)
    for i, dark in enumerate(dots):
        if dark:
            out[i >> 3] |= 0x80 >> (i & 7)
    return bytes(out)
