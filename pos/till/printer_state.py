"""What the spooler reports: the printer's state in the till's words, and a snapshot of the queue.

Kept apart from :mod:`pos.till.spooler` so that the loop that owns the printer reads as one job,
and the page and API code that shows its state reads these small values only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from pos.ledger import PrintJob
from pos.printing.status import PrinterState

# PrinterState -> the word the till's page and API use.
PRINTER_WORDS = {
    PrinterState.ONLINE: "online",
    PrinterState.PAPER_NEAR_END: "online",  # still prints; the detail says the roll is nearly done
    PrinterState.PAPER_OUT: "paper_out",
    PrinterState.COVER_OPEN: "cover_open",
    PrinterState.OFFLINE: "offline",
    PrinterState.UNKNOWN: "unknown",
}
# What the status check must say for the spooler to hold a job back without sending it.
NOT_READY = frozenset({PrinterState.PAPER_OUT, PrinterState.COVER_OPEN, PrinterState.OFFLINE})


@dataclass(frozen=True)
class SpoolerStatus:
    """A snapshot for the cashier's page and ``GET /api/printer``.

    ``printer`` is "online", "offline", "paper_out", "cover_open", "unknown" or
    "virtual" (a ``dir:`` printer that is fine; when its state file rehearses a
    failure, that failure is reported instead). ``detail`` is the status check's
    sentence. ``current_job`` is the id of the job being printed, or of the head
    job waiting for the printer (``current`` is its record). ``parked`` lists the
    ids of jobs that cannot be rendered.
    """

    printer: str
    queued: int
    last_error: str | None
    last_printed_at: datetime | None
    current_job: int | None
    detail: str = ""
    parked: tuple[int, ...] = ()
    running: bool = False
    checked_at: datetime | None = None
    current: PrintJob | None = None  # the current job's record (kind, attempts, last_error)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready values (times as ISO 8601 UTC)."""
        job = self.current
        return {
            "printer": self.printer,
            "detail": self.detail,
            "queued": self.queued,
            "last_error": self.last_error,
            "last_printed_at": iso(self.last_printed_at),
            "current_job": self.current_job,
            "current": None
            if job is None
            else {
                "id": job.id,
                "kind": str(job.kind),
                "sale_id": job.sale_id,
                "attempts": job.attempts,
                "last_error": job.last_error,
            },
            "parked": list(self.parked),
            "running": self.running,
            "checked_at": iso(self.checked_at),
        }


class Outcome(Enum):
    """What one pass of the loop did."""

    IDLE = "idle"  # nothing queued
    PRINTED = "printed"  # one job's bytes were written
    FAILED = "failed"  # the head job is waiting for the printer (or the database): back off
    PARKED = "parked"  # the head job cannot be rendered; it was set aside


def iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None
