"""Serial printers (RS-232, USB-serial adapters, Bluetooth rfcomm) through pyserial.

Flow control is explicit because the defaults bite (escpos.md §1.2): on Linux only RTS/CTS
and XON/XOFF exist, and a port with neither lets a slow printer drop raster bytes. ``dsrdtr``
is never turned on: it does no flow control on POSIX. Writes have a timeout that grows with
the job (wire time at the baud rate, twice over, plus 5 s), so a printer holding CTS for ever
turns into :class:`PrinterUnavailable`, not a hung spooler.
"""

from __future__ import annotations

import contextlib

import serial

from pos.printing.devices.base import PrinterDevice, PrinterUnavailable, PrintJob
from pos.printing.devices.spec import DeviceSpec

OPTIONS = {
    "baud": "bits per second, default 9600",
    "flow": "none, rtscts or xonxoff; default none",
    "parity": "N, E or O; default N",
    "bytesize": "7 or 8; default 8",
    "stopbits": "1 or 2; default 1",
}
FLOWS = ("none", "rtscts", "xonxoff")


class SerialPrinter(PrinterDevice):
    kind = "serial"
    can_read = True

    def __init__(self, spec: DeviceSpec):
        super().__init__(spec.text)
        spec.check_options(OPTIONS)
        self.path = spec.target
        self.baud = spec.integer("baud", 9600, low=300, high=4_000_000)
        self.flow = spec.options.get("flow", "none").lower()
        if self.flow not in FLOWS:
            raise spec.fail(f"flow={self.flow!r} must be one of {', '.join(FLOWS)}")
        self.parity = spec.options.get("parity", "N").upper()
        if self.parity not in ("N", "E", "O"):
            raise spec.fail(f"parity={self.parity!r} must be N, E or O")
        self.bytesize = spec.integer("bytesize", 8, low=7, high=8)
        self.stopbits = spec.integer("stopbits", 1, low=1, high=2)
        self._port: serial.Serial | None = None

    def _open(self) -> serial.Serial:
        if self._port is not None:
            return self._port
        try:
            self._port = serial.Serial(
                port=self.path,
                baudrate=self.baud,
                bytesize=self.bytesize,
                parity=self.parity,
                stopbits=self.stopbits,
                rtscts=self.flow == "rtscts",
                xonxoff=self.flow == "xonxoff",
                dsrdtr=False,
                timeout=0.5,
                write_timeout=5,
            )
        except (serial.SerialException, OSError, ValueError) as exc:
            raise PrinterUnavailable(f"{self.spec}: cannot open {self.path}: {exc}") from None
        return self._port

    def write_timeout_for(self, size: int) -> float:
        """Seconds a write of ``size`` bytes may take: twice the wire time (8N1) plus 5 s."""
        return 5 + 2 * size * 10 / self.baud

    def _write_job(self, job: PrintJob) -> int:
        port = self._open()
        try:
            port.write_timeout = self.write_timeout_for(len(job.data))
            written = port.write(job.data) or 0
        except serial.SerialTimeoutException:
            self.close()
            raise PrinterUnavailable(
                f"{self.spec}: the printer did not take the job within "
                f"{self.write_timeout_for(len(job.data)):.0f} s (flow control holding? printer off?)"
            ) from None
        except (serial.SerialException, OSError) as exc:
            self.close()
            raise PrinterUnavailable(f"{self.spec}: serial write failed: {exc}") from None
        if written != len(job.data):
            self.close()
            raise PrinterUnavailable(
                f"{self.spec}: wrote {written} of {len(job.data)} bytes", written=written
            )
        return written

    def query(self, request: bytes, *, timeout: float) -> bytes:
        port = self._open()
        try:
            port.reset_input_buffer()  # a late answer to an earlier question is not this answer
            port.write_timeout = max(timeout, 0.5)
            port.write(request)
            port.timeout = timeout
            return port.read(1)
        except serial.SerialTimeoutException:
            return b""
        except (serial.SerialException, OSError) as exc:
            self.close()
            raise PrinterUnavailable(f"{self.spec}: serial port failed: {exc}") from None

    def close(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            with contextlib.suppress(serial.SerialException, OSError):
                port.close()
