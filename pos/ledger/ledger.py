"""The state of record for the till: sales, payments, refunds, print jobs, audit, behind one face.

Only the ledger changes a sale's state. Each change is one conditional
``UPDATE ... WHERE id = ? AND state IN (...)`` in a transaction together with
everything that must happen with it (the payment row, the print job, the event),
and the number of rows it touched decides: 1 means this caller made the change,
0 means someone else got there first or the state does not allow it. So two
processes reporting the same payment at the same instant cannot both mark it
paid, and its confirmation slip is queued exactly once.

Every method takes plain values (fen ints, aware datetimes, ids) and returns
frozen records from :mod:`pos.ledger.models`; ``now=`` may be passed to any
method that writes, otherwise the ledger's clock is used.

:class:`Ledger` is one object put together from one part per concern, each in
its own module, on the engine and transactions of :mod:`pos.ledger.core`:

==================  ==========================================================
:mod:`.sales`       ring up, order, fail, retry, void, expire; read sales
:mod:`.payments`    mark_paid (and many at once); payments; a notice's summary
:mod:`.refunds`     start, complete and fail refunds; read them
:mod:`.held`        refunds WeChat could not return (CHANGE): held, then settled
:mod:`.jobs`        the print queue the spooler works through
:mod:`.audit`       messages as received, the event log, the manager's flags
==================  ==========================================================

Reconciliation results and cashiers are kept by :mod:`pos.ledger.reconciliation`
and :mod:`pos.ledger.cashiers` (functions taking a Ledger); every table is in
:mod:`pos.ledger.schema`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.engine import URL

from pos.ledger import database
from pos.ledger.audit import Audit
from pos.ledger.core import Raw
from pos.ledger.errors import InvalidInput
from pos.ledger.held import HeldRefund, HeldRefunds
from pos.ledger.identifiers import DEFAULT_ZONE
from pos.ledger.jobs import INTERRUPTED, Jobs
from pos.ledger.payments import PaymentReport, Payments, PaymentSummary
from pos.ledger.refunds import Refunds
from pos.ledger.sales import MAX_BODY, SIGN_TYPES, Sales

__all__ = [
    "INTERRUPTED",
    "MAX_BODY",
    "SIGN_TYPES",
    "HeldRefund",
    "Ledger",
    "PaymentReport",
    "PaymentSummary",
    "Raw",
    "open_ledger",
]


class Ledger(Sales, Payments, Refunds, HeldRefunds, Jobs, Audit):
    """The till's books. Thread-safe: share one per process. See :func:`open_ledger`."""


def open_ledger(
    url: str | URL,
    *,
    timezone: str = DEFAULT_ZONE,
    clock: Callable[[], datetime] | None = None,
    busy_timeout_ms: int = database.BUSY_TIMEOUT_MS,
    pool_size: int = database.PG_POOL_SIZE,
    max_overflow: int = database.PG_MAX_OVERFLOW,
) -> Ledger:
    """Connect to the ledger at ``url`` and migrate its schema to the newest revision.

    ``url`` is a SQLAlchemy URL: ``sqlite:///path/pos.sqlite3`` (the file and its
    folder are created) or ``postgresql+psycopg://user@host/pos``. Opening an
    up-to-date database changes nothing. ``timezone`` is the store's zone, used
    for business dates; ``clock`` returns aware "now" datetimes (tests pass a
    fake one). ``pool_size`` and ``max_overflow`` size a PostgreSQL server's share of connections
    for this process (``[database]``: :attr:`pos.config.DatabaseConfig.pool`).
    """
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(f"unknown time zone {timezone!r} (e.g. Asia/Shanghai)") from exc
    engine = database.create_ledger_engine(
        url, busy_timeout_ms=busy_timeout_ms, pool_size=pool_size, max_overflow=max_overflow
    )
    try:
        database.upgrade(engine)
    except Exception:
        engine.dispose()
        raise
    return Ledger(engine, zone=zone, clock=clock, busy_timeout_ms=busy_timeout_ms)
