"""What every printer connection shares: the job, the errors, and the small interface.

Why a base class at all: the spooler and ``pos printer`` talk to *a* printer; whether the
bytes go over USB, a serial line, TCP port 9100, a device file or into a directory is the
connection's business (python-escpos's split of protocol and connection). The protocol side
(encoder, status) only ever calls :meth:`PrinterDevice.write` and :meth:`PrinterDevice.query`.

Errors (one tree)::

    PrinterError
     +-- DeviceSpecError      the [printer] device string is wrong (a config problem; says what)
     +-- PrinterUnavailable   the bytes did not (all) reach the printer: keep the job, retry
     +-- StatusNotReadable    this connection cannot read an answer (file:, for example)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Self

from pos.printing.errors import PrintingError


class PrinterError(PrintingError):
    """Base of every printer-connection error."""


class DeviceSpecError(PrinterError, ValueError):
    """A device string that cannot be used; the message names the part that is wrong."""


class PrinterUnavailable(PrinterError):
    """The job was not delivered: the printer is off, unplugged, busy or unreachable.

    Nothing in the job should be considered printed. ``written`` says how many bytes went out
    before the failure (0 for "could not even connect"); when it is more than 0 the printer may
    have printed the start of the job, which a retry prints again.
    """

    def __init__(self, message: str, *, written: int = 0):
        super().__init__(message)
        self.written = written


class StatusNotReadable(PrinterError):
    """The connection is write-only (``file:``); status is unknown by construction."""


@dataclass(frozen=True)
class PrintJob:
    """One job: the exact bytes, and what the virtual printer and the logs record about them."""

    data: bytes
    job_id: str = ""
    kind: str = "receipt"
    out_trade_no: str = ""

    @classmethod
    def of(cls, job: PrintJob | bytes | bytearray) -> PrintJob:
        return job if isinstance(job, PrintJob) else cls(bytes(job))


class PrinterDevice(ABC):
    """A connection to one printer. Opens lazily, reconnects after a failure, and never blocks
    for long: every wait has a timeout, and a timeout is an error or "no answer", never a hang.
    """

    kind: ClassVar[str] = ""
    can_read: ClassVar[bool] = False  # can it read DLE EOT answers?
    virtual: ClassVar[bool] = False  # a printer that exists only on disk

    def __init__(self, spec: str):
        self.spec = spec

    def write(self, job: PrintJob | bytes) -> int:
        """Send the whole job; return the byte count. Raises :class:`PrinterUnavailable`."""
        job = PrintJob.of(job)
        return self._write_job(job)

    @abstractmethod
    def _write_job(self, job: PrintJob) -> int: ...

    def query(self, request: bytes, *, timeout: float) -> bytes:
        """Send a real-time request and return the reply (one byte), or ``b""`` if none came
        within ``timeout`` seconds. Raises :class:`PrinterUnavailable` when the request cannot
        be sent, :class:`StatusNotReadable` on write-only connections.
        """
        raise StatusNotReadable(f"{self.spec}: a {self.kind}: device cannot read the printer's answers")

    def simulated_state(self) -> str | None:
        """For virtual printers: the condition they pretend to be in (see ``dir:``); else None."""
        return None

    def close(self) -> None:  # noqa: B027 - most connections hold nothing between calls
        """Release the connection; the next call opens it again."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.spec}>"
