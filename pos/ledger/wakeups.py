"""Waking a till's spooler the moment a job is queued for it, from any process (PostgreSQL).

Many tills share one ledger, and a payment confirmation is often queued by a listener process on
another machine. Polling the queue would cost every till a query every half second and still make
the customer wait up to that long. On PostgreSQL the enqueue sends ``NOTIFY`` on the till's own
channel (:func:`job_channel`) in the same transaction as the job's INSERT, so the notification is
delivered when, and only if, the job is committed; the till ``LISTEN``\\s on its channel and on the
channel of jobs for no till in particular (:data:`ANY_TILL`), and wakes its spooler.

SQLite has no such thing: there the spooler's idle poll is the only way (a one-shop ledger on one
machine, where the checkout and the watcher wake the spooler in-process anyway). The poll stays on
PostgreSQL too, as the fallback for a notification lost with a dropped connection.
"""

from __future__ import annotations

import contextlib
import select as socket_select
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from pos.ledger.errors import LedgerError
from pos.ledger.identifiers import check_lane_id, check_store_id

CHANNEL_PREFIX = "pos_jobs"
ANY_TILL = ("", "")  # a job queued for no till in particular: the first till to look takes it


def job_channel(store: str, lane: str) -> str:
    """The NOTIFY channel of the till ``(store, lane)``; store and lane ids are letters and digits
    (pos.ledger.identifiers), so the name is always a valid quoted identifier under 64 bytes."""
    return f"{CHANNEL_PREFIX}:{store}:{lane}"


def notify_job(conn: Connection, store: str, lane: str) -> None:
    """Inside the enqueue's transaction: tell the till's listener once the job commits (PostgreSQL
    only; it folds identical notifications of one transaction into one)."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_notify(job_channel(store, lane), "")))


class JobSignals:
    """A connection of its own that LISTENs for one till's jobs (PostgreSQL).

    ``wait(timeout)`` blocks until a notification arrives or the timeout passes (1 or 0). The
    connection is taken out of the engine's pool for good (it keeps the pool's
    connect settings) and closed by :meth:`close`. Not thread-safe: one thread waits on it.
    """

    def __init__(self, engine: Engine, store: str, lane: str) -> None:
        if engine.dialect.name != "postgresql":
            raise LedgerError("job notifications need PostgreSQL; on SQLite the spooler polls")
        self.channels = (job_channel(check_store_id(store), check_lane_id(lane)), job_channel(*ANY_TILL))
        raw = engine.raw_connection()
        self._pg: Any = raw.driver_connection  # psycopg's own connection, with the pool's settings
        raw.detach()  # never handed back to the pool with LISTEN still on
        self._raw = raw  # kept: the pool's wrapper must not be collected (and close it) under us
        try:
            self._pg.rollback()
            self._pg.autocommit = True  # notifications are delivered outside transactions only
            for channel in self.channels:
                self._pg.execute(f'LISTEN "{channel}"')  # letters, digits and ":": quoted as it is
            self._early = self._drain()  # any that came with the LISTENs' answers: the first wait's
        except BaseException:
            self._pg.close()
            raise

    def wait(self, timeout: float) -> int:
        """How many notifications arrived within ``timeout`` seconds (0: none came).

        The thread sleeps on the connection's socket in one ``select``: psycopg's own
        ``notifies(timeout=...)`` wakes every 0.1 s to look, which an idle till pays for all day
        (ten wake-ups a second, a millisecond and a half of CPU a second per till). A socket that
        turns readable is read at once; a dropped connection raises there, as before.
        """
        if self._early:
            received, self._early = self._early, 0
            return received
        ready, _, _ = socket_select.select([self._pg.fileno()], [], [], max(timeout, 0.0))
        return self._drain() if ready else 0

    def _drain(self) -> int:
        """The notifications the socket holds (and any psycopg kept aside), without waiting."""
        return sum(1 for _ in self._pg.notifies(timeout=0))

    def close(self) -> None:
        with contextlib.suppress(Exception):  # a dead connection must not fail the caller's shutdown
            self._pg.close()
