"""How the listener's handlers write to the ledger: one write queue per ledger, one failure.

SQLite lets one writer in at a time and makes the others poll with sleeps
(busy_timeout). Queueing this process's writers on one lock per ledger hands the
database over without the naps; payment and refund notices share it, since
they share the database. Other processes (the till) still meet the busy
timeout. PostgreSQL needs no such queue.

Any database error becomes :class:`DatabaseUnavailable`, which a handler answers
with FAIL so that WeChat sends the notice again later.
"""

from __future__ import annotations

import threading
import weakref
from contextlib import AbstractContextManager, nullcontext

from sqlalchemy.exc import SQLAlchemyError

from pos.ledger import Ledger, MessageKind

_queues: weakref.WeakKeyDictionary[Ledger, AbstractContextManager[object]] = weakref.WeakKeyDictionary()
_queues_lock = threading.Lock()


class DatabaseUnavailable(Exception):
    """The ledger could not be read or written: answer FAIL so WeChat sends the notice again."""

    def __init__(self, error: str, out_trade_no: str | None = None) -> None:
        super().__init__(error)
        self.out_trade_no = out_trade_no


def write_queue(ledger: Ledger) -> AbstractContextManager[object]:
    """This process's queue of writers to ``ledger``: a lock on SQLite, nothing elsewhere."""
    with _queues_lock:
        queue = _queues.get(ledger)
        if queue is None:
            queue = threading.Lock() if ledger.engine.dialect.name == "sqlite" else nullcontext()
            _queues[ledger] = queue
        return queue


def store_message(
    ledger: Ledger, kind: MessageKind, body: bytes, *, verdict: str, out_trade_no: str | None
) -> None:
    """Keep a received message with its verdict in the audit log, before the handler answers."""
    try:
        with write_queue(ledger):
            ledger.record_message(kind, body, verdict=verdict, out_trade_no=out_trade_no)
    except SQLAlchemyError as exc:
        raise DatabaseUnavailable(type(exc).__name__, out_trade_no) from None
