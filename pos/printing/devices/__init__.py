"""Printer connections: turn a ``[printer] device`` string into a :class:`PrinterDevice`.

>>> dev = open_device("dir:/tmp/printer", width_dots=576)
>>> dev.write(PrintJob(b"\\x1b@hello\\n", job_id="J1", kind="test"))
9

``write()`` either delivers the whole job or raises :class:`PrinterUnavailable` (keep the job
queued and retry); ``query()`` asks a real-time question and returns the one-byte answer or
``b""`` within the timeout (see :mod:`pos.printing.status`). Connections: ``usb:``,
``serial:``, ``tcp:``, ``file:``, ``dir:`` (see :mod:`pos.printing.devices.spec`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pos.printing.devices.base import (
    DeviceSpecError,
    PrinterDevice,
    PrinterError,
    PrinterUnavailable,
    PrintJob,
    StatusNotReadable,
)
from pos.printing.devices.spec import KINDS, DeviceSpec, parse_spec

if TYPE_CHECKING:
    from pos.printing.fonts import Font

__all__ = [
    "KINDS",
    "DeviceSpec",
    "DeviceSpecError",
    "PrintJob",
    "PrinterDevice",
    "PrinterError",
    "PrinterUnavailable",
    "StatusNotReadable",
    "open_device",
    "parse_spec",
]


def open_device(spec: str, *, width_dots: int = 576, font: Font | None = None) -> PrinterDevice:
    """The connection for ``spec`` (checked now, opened on first use).

    :param width_dots: paper width for the ``dir:`` printer's previews (the profile's
        ``printable_dots``).
    :param font: the font the ``dir:`` printer's previews draw text with (default: what
        :func:`pos.printing.fonts.resolve` chooses).
    :raises DeviceSpecError: the string is wrong; the message says which part and why.
    """
    parsed = parse_spec(spec)
    if parsed.kind == "usb":
        from pos.printing.devices.usb import UsbPrinter

        return UsbPrinter(parsed)
    if parsed.kind == "serial":
        from pos.printing.devices.serialport import SerialPrinter

        return SerialPrinter(parsed)
    if parsed.kind == "tcp":
        from pos.printing.devices.tcp import TcpPrinter

        return TcpPrinter(parsed)
    if parsed.kind == "file":
        from pos.printing.devices.file import FilePrinter

        return FilePrinter(parsed)
    from pos.printing.devices.virtual import DirPrinter

    return DirPrinter(parsed, width_dots=width_dots, font=font)
