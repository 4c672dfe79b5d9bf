"""One writer at a time on a SQLite ledger, across threads and processes, handed over at once.

SQLite lets one writer in at a time. A writer that finds the database locked is
made to wait by SQLite's busy handler, which sleeps and tries again: 1 ms, then
2, 5, 10 ms and longer. With the till, the listener (one process or several)
and ``pos reconcile`` writing to one file, those naps add up to most of the time
a busy moment takes: two listener processes on two cores served no more notices
than one (bench/listener.py).

So every write transaction of the ledger first takes this lock: a lock of the
process (threads queue on it) and then an exclusive ``flock`` on a small file
beside the database (``pos.sqlite3.writers``), which the kernel hands to the next
waiting process the moment the holder lets go, or dies. SQLite's own lock is then
free whenever a transaction begins, and its busy handler is only a fallback for
writers that do not use the ledger.

A writer waits at most ``timeout`` seconds (the ledger's busy timeout), like
SQLite would, and then fails the same way: ``OperationalError: database is
locked``, which the listener answers with FAIL (WeChat sends the notice again).
The wait polls the file lock (``flock`` has no timeout of its own) every 50 µs at
first, backing off to 1 ms: much finer than SQLite's naps, and only while another
process actually holds it.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
import weakref
from pathlib import Path
from types import TracebackType

from sqlalchemy.exc import OperationalError

__all__ = ["WriteLock", "lock_path_for"]

_FIRST_NAP = 0.00005
_LONGEST_NAP = 0.001


def lock_path_for(database: str | os.PathLike[str]) -> Path:
    """The lock file of a SQLite database file: ``<file>.writers`` beside it."""
    return Path(f"{os.fspath(database)}.writers")


class WriteLock:
    """Re-entrant in a thread (a nested write waits on SQLite, as before, not on itself)."""

    def __init__(self, path: str | os.PathLike[str], *, timeout: float) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self._threads = threading.RLock()
        self._fd: int | None = None
        self._depth = 0
        _all_locks.add(self)

    def __enter__(self) -> WriteLock:
        deadline = time.monotonic() + self.timeout
        if not self._threads.acquire(timeout=self.timeout):
            raise _locked()
        try:
            if self._depth == 0:
                self._lock_file(deadline)
            self._depth += 1
        except BaseException:
            self._threads.release()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        try:
            self._depth -= 1
            if self._depth == 0 and self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def close(self) -> None:
        """Close the lock file (the ledger's close); a later write opens it again."""
        with self._threads:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def _lock_file(self, deadline: float) -> None:
        fd = self._file()
        nap = _FIRST_NAP
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                pass
            if time.monotonic() >= deadline:
                raise _locked()
            time.sleep(nap)
            nap = min(nap * 2, _LONGEST_NAP)

    def _file(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        return self._fd

    def _forked(self) -> None:
        """In a forked child: the parent's open file (and with it any lock the parent holds) and
        thread lock are the parent's; the child starts with its own, holding nothing."""
        if self._fd is not None:
            os.close(self._fd)  # only the child's copy: a lock the parent holds stays held
            self._fd = None
        self._threads = threading.RLock()
        self._depth = 0


_all_locks: weakref.WeakSet[WriteLock] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for lock in list(_all_locks):
        lock._forked()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _locked() -> OperationalError:
    return OperationalError("BEGIN IMMEDIATE", None, sqlite3.OperationalError("database is locked"))
