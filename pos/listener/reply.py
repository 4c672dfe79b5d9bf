"""What a handler answers, and the one way the listener writes a log line.

Handlers are plain functions from request bytes to a :class:`Reply`, so they can
be tested without Flask and the Flask layer stays a thin adapter. Log lines go through
:mod:`pos.log`, which escapes every value (nothing from the internet can forge a field or a line).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from pos.log import fields_of

XML = "text/xml"


@dataclass(frozen=True)
class Reply:
    """An HTTP answer: status, body bytes and content type. ``verdict`` names what happened (tests, logs)."""

    body: bytes
    status: int = 200
    content_type: str = XML
    verdict: str = ""


LEDGER_LOGGER = "pos.ledger.payments"  # where the ledger logs its mark_paid lines


def _is_notice_payment(fields: Mapping[str, object]) -> bool:
    return fields.get("event") == "mark_paid" and fields.get("source") == "notice"


class NoticePaymentLinesAtDebug(logging.Filter):
    """Demotes the ledger's INFO ``mark_paid`` event with ``source=notice`` to DEBUG.

    For a notice the listener writes its own INFO line with the outcome (``notice_paid``,
    ``notice_duplicate``, with out_trade_no, sale and transaction_id), so the ledger's line says
    the same thing a second time, and a log line costs about as much as a repeat's whole handling.
    Flagged outcomes (WARNING) and every other ledger line are left alone; with ``--verbose``
    (DEBUG) the demoted line is still written.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.INFO and _is_notice_payment(fields_of(record)):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger(LEDGER_LOGGER).isEnabledFor(logging.DEBUG)
        return True


def quiet_duplicate_lines() -> None:
    """Install :class:`NoticePaymentLinesAtDebug` on the ledger's logger; the listener's process
    setup calls this once (``pos listen``). Calling it again adds nothing."""
    ledger_log = logging.getLogger(LEDGER_LOGGER)
    if not any(isinstance(f, NoticePaymentLinesAtDebug) for f in ledger_log.filters):
        ledger_log.addFilter(NoticePaymentLinesAtDebug())


def lean_log_records() -> None:
    """Stop this process's log records collecting what the listener's lines never print.

    The logging HOWTO's "Optimization" section names these switches: no caller lookup
    (``logging._srcfile = None`` skips walking the stack for file and line), no thread, process or
    multiprocessing names. ``pos``'s format (time, level, logger, message) uses none of them, and at
    several hundred lines a second they were a sixth of the listener's own CPU per notice. Only
    ``pos listen`` calls this, for its own process.
    """
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
