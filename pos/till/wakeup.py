"""The till's ear on PostgreSQL: wakes the spooler the moment a job is queued for this till.

A confirmation slip is usually queued by a listener process (on another machine, for a chain),
which cannot call this spooler's :meth:`~pos.till.spooler.Spooler.wake`. On PostgreSQL the
enqueue NOTIFYs the till's channel in its transaction (:mod:`pos.ledger.wakeups`); this thread
LISTENs on it and wakes the spooler, so the slip prints as the payment commits, not at the
spooler's next idle look. The idle poll stays, as the fallback (a notification lost while the
connection was down) and as the only way on SQLite, where this thread does not run. While this
thread listens the spooler looks only every ``listening_poll`` (15 s); when the connection drops,
the thread wakes the spooler, which polls every ``idle_poll`` again until it listens once more.

After (re)connecting it wakes the spooler once: jobs queued while it was not listening are
printed then. A lost connection is retried with a growing pause (1, 2, 4 ... 30 s); nothing
here ever stops the till.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from pos.ledger import Ledger
from pos.ledger.wakeups import JobSignals
from pos.log import get_logger

log = get_logger("pos.till.wakeup")

WAIT = 0.5  # seconds one wait for a notification lasts: how long stop() may take
RETRY_MAX = 30.0


class JobWakeup:
    """LISTENs for the till's jobs in a daemon thread and calls ``wake`` on each notification.

    ``notifications`` counts the notifications received and ``connected`` says whether it is
    listening (for tests and a status page).
    """

    def __init__(self, ledger: Ledger, store: str, lane: str, wake: Callable[[], None]) -> None:
        self.ledger = ledger
        self.store = store
        self.lane = lane
        self.wake = wake
        self.notifications = 0
        self._listening = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @staticmethod
    def available(ledger: Ledger) -> bool:
        """True where notifications exist (PostgreSQL through psycopg 3, the driver ``[postgres]``
        installs); elsewhere the spooler's poll does the work."""
        dialect = ledger.engine.dialect
        return dialect.name == "postgresql" and dialect.driver == "psycopg"

    @property
    def connected(self) -> bool:
        return self._listening.is_set()

    def wait_listening(self, timeout: float) -> bool:
        """Block until the thread listens (or ``timeout`` passes); True when it does."""
        return self._listening.wait(timeout)

    def start(self) -> JobWakeup:
        if self._thread is None or not self._thread.is_alive():
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, name="pos-job-wakeup", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                signals = JobSignals(self.ledger.engine, self.store, self.lane)
            except Exception as exc:  # the server is down or restarting: the poll covers meanwhile
                pause = min(RETRY_MAX, 2.0**failures)
                failures += 1
                log.warning("job_wakeup_connect_failed", error=exc, retry_in=pause)
                self._stopping.wait(pause)
                continue
            failures = 0
            try:
                self._listen(signals)
            except Exception as exc:  # the connection dropped: listen again
                log.warning("job_wakeup_lost", error=exc)
            finally:
                self._listening.clear()
                signals.close()
            if not self._stopping.is_set():
                self.wake()  # the spooler, sleeping while notifications woke it, polls again meanwhile

    def _listen(self, signals: JobSignals) -> None:
        self._listening.set()
        log.info("job_wakeup_listening", store=self.store, lane=self.lane)
        self.wake()  # whatever was queued while nobody listened
        while not self._stopping.is_set():
            received = signals.wait(WAIT)
            if received:
                self.notifications += received
                self.wake()
