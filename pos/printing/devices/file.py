"""A device file such as ``/dev/usb/lp0`` (the kernel's usblp driver), or any file: write-only."""

from __future__ import annotations

import errno
import os

from pos.printing.devices.base import PrinterDevice, PrinterUnavailable, PrintJob
from pos.printing.devices.spec import DeviceSpec

_HINTS = {
    errno.ENOENT: "not found (printer off or unplugged? usblp not loaded?)",
    errno.EACCES: "permission denied (add the till's user to the 'lp' group)",
    errno.EBUSY: "busy (another program holds it)",
    errno.ENODEV: "no device (printer switched off?)",
}


class FilePrinter(PrinterDevice):
    kind = "file"

    def __init__(self, spec: DeviceSpec):
        super().__init__(spec.text)
        spec.check_options({})
        self.path = spec.target

    def _write_job(self, job: PrintJob) -> int:
        written = 0
        flags = os.O_WRONLY | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
        if not os.path.abspath(self.path).startswith("/dev/"):
            flags |= os.O_CREAT  # a plain file may be made; a missing device node must not be
        try:
            fd = os.open(self.path, flags, 0o644)
        except OSError as exc:
            raise PrinterUnavailable(f"{self.spec}: {_HINTS.get(exc.errno, exc.strerror)}") from None
        try:
            view = memoryview(job.data)
            while written < len(view):
                written += os.write(fd, view[written:])
        except OSError as exc:
            raise PrinterUnavailable(
                f"{self.spec}: write failed after {written} bytes: {_HINTS.get(exc.errno, exc.strerror)}",
                written=written,
            ) from None
        finally:
            os.close(fd)
        return written
