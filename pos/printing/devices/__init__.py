"""Printer connections: turn a ``[printer] device`` string into a :class:`PrinterDevice`.

>>> dev = open_device("dir:/tmp/printer", width_dots=576)
>>> dev.write(PrintJob(b"\\x1b@hello\\n", job_id="J1", kind="test"))
9

``write()`` either delivers the whole job or raises :class:`PrinterUnavailable` (keep the job
queued and retry); ``query()`` asks a real-time question and returns the one-byte answer or
``b""`` within the timeout (see :mod:`pos.printing.status`). Connections: ``usb:``,
``serial:``, ``tcp:``, ``file:``, ``dir:`` (see :mod:`pos.printing.devices.spec`).

Why these connections are ours and not python-escpos's ``Network``, ``File``, ``Serial`` and
``Usb`` (the library does write the receipts' bytes: :mod:`pos.printing.encoder`). Each reason is
shown on the library itself by ``tests/printing/test_devices_escpos.py``, on the same fake
printers our own tests use; when one of those tests fails, move that connection onto the library.

- ``Network`` opens an ``AF_INET`` socket only, so ``tcp:[::1]:9100`` (or a name that resolves
  to IPv6) cannot connect; it has one timeout for connecting and sending, and ``sendall`` cannot
  say how much of a failed job went out (:attr:`PrinterUnavailable.written`).
- ``File`` opens with ``"wb"``: it truncates what is there, and would create a plain file where
  a ``/dev`` node is missing (a printer switched off), so a job "prints" into nothing.
- ``Serial`` has no RTS/CTS setting (its ``dsrdtr=False`` does no flow control on POSIX) and no
  write timeout, so a printer holding CTS hangs the spooler for ever.
- ``Usb`` logs and swallows the ``EBUSY`` of a printer CUPS holds (we say "busy"), resets the
  printer on every open, detaches the kernel driver of interface 0 only, and reads status with
  no timeout of its own. Its status helpers (``query_status``, ``is_online``) read whatever
  arrives, with no check of DLE EOT's fixed bits (:mod:`pos.printing.status` checks them).
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
