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
``flock`` has no timeout of its own, so when the file is held by another
process, a thread of the lock's own (:class:`_Taker`) makes the blocking call and
the writer waits for it at most until its deadline. The kernel wakes that call
the moment the other process lets go; polling instead (50 µs naps backing off to
1 ms) overslept the hand-over by up to a nap on every turn, which with two
listener processes cost a fifth of their notices per second
(bench/listener.py). A writer that gives up leaves its request behind; if the
lock arrives for it later it is let go at once.
"""

from __future__ import annotations

import fcntl
import os
import queue
import sqlite3
import threading
import time
import weakref
from pathlib import Path
from types import TracebackType

from sqlalchemy.exc import OperationalError

__all__ = ["WriteLock", "lock_path_for"]


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
        self._taker: _Taker | None = None  # started the first time another process holds the file
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
            if self._taker is not None:
                self._taker.stop()
                self._taker = None
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def _lock_file(self, deadline: float) -> None:
        fd = self._file()
        # While the taker still has a wait to finish (one a writer gave up), only it touches the
        # file: it may hold the lock for that wait a moment before letting go, and our own flock
        # on the same open file would then succeed, and be undone by that let-go.
        if self._taker is None or not self._taker.pending:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return  # free: the usual case with one process
            except BlockingIOError:
                pass
        if self._taker is None:
            self._taker = _Taker(fd)
        if not self._taker.take(deadline - time.monotonic()):
            raise _locked()

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
        if self._taker is not None:
            self._taker.forget()
            self._taker = None
        self._depth = 0


class _Request:
    """One writer's wait for the file lock, decided exactly once: taken for it, or given up."""

    __slots__ = ("abandoned", "granted", "held", "mutex")

    def __init__(self) -> None:
        self.granted = threading.Event()
        self.mutex = threading.Lock()
        self.held = False
        self.abandoned = False


class _Taker:
    """A daemon thread that waits in a blocking ``flock`` on behalf of the process's writers.

    An ``flock`` lock belongs to the open file, not to a thread, so the lock it takes is the
    writer's to use and to release. Only the writer holding the process lock ever asks, so at most
    one writer waits at a time; requests left behind by writers that gave up are let go in turn.
    """

    def __init__(self, fd: int) -> None:
        # Its own descriptor of the same open file (so the same lock): the ledger may close its own
        # while this thread still waits, and the number must not come back as another file.
        self._fd = os.dup(fd)
        self._requests: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self.pending = 0  # requests asked for and not yet granted or let go (under the process lock)
        self._count = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="pos-writelock", daemon=True)
        self._thread.start()

    def take(self, patience: float) -> bool:
        """Block until the file lock is this process's (True) or ``patience`` seconds pass (False)."""
        request = _Request()
        with self._count:
            self.pending += 1
        self._requests.put(request)
        if request.granted.wait(max(0.0, patience)):
            return True
        with request.mutex:
            if request.held:  # taken just as the writer's time ran out: it is the writer's
                return True
            request.abandoned = True
        return False

    def stop(self) -> None:
        self._requests.put(None)

    def forget(self) -> None:
        """In a forked child: close the child's copy of the descriptor (the thread was not copied)."""
        os.close(self._fd)

    def _run(self) -> None:
        try:
            while (request := self._requests.get()) is not None:
                fcntl.flock(self._fd, fcntl.LOCK_EX)  # the GIL is let go while the kernel waits
                with request.mutex:
                    if request.abandoned:
                        fcntl.flock(self._fd, fcntl.LOCK_UN)
                    else:
                        request.held = True
                with self._count:
                    self.pending -= 1
                request.granted.set()  # for an abandoned request, no one waits on it any more
        finally:
            os.close(self._fd)


_all_locks: weakref.WeakSet[WriteLock] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for lock in list(_all_locks):
        lock._forked()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _locked() -> OperationalError:
    return OperationalError("BEGIN IMMEDIATE", None, sqlite3.OperationalError("database is locked"))
