"""A second process that writes the later half of a big day's CSV while the till writes the first.

A day of 100,000 sales is 100,000 rows of ten values to fetch and format: in one
Python process that is bound by one core and its interpreter lock, however the
query is written (bench/report.py prints where the time goes). The kiosk has a
second core, so :func:`pos.reports.day.csv_chunks` hands the later half of a big
day to this helper and writes the first half meanwhile.

The helper's process is started on the first big day asked for, not with the
till (most days are small, and so is a test), and kept until the till stops. It
opens the ledger by its URL, reads in its own transaction and writes its half
to a temporary file the till then reads and removes; it never writes to the
ledger. If it cannot start or dies, the request that needed
it writes that half itself (see ``csv_chunks``) and the next one starts a new
process. It also writes a whole day's rows ahead of the manager's download
(:meth:`CsvHelper.whole`), which the till then keeps (pos.till.kept_csv).

Its files go to :func:`scratch_folder`: memory (``/dev/shm``) where the system
has it, so 15 MB handed from one process to the other never wait for a disk.
"""

from __future__ import annotations

import contextlib
import functools
import multiprocessing
import os
import tempfile
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

__all__ = ["CsvHelper", "discard_file", "scratch_file", "scratch_folder"]

_SHARED_MEMORY = "/dev/shm"


def scratch_folder() -> str:
    """Where the CSV's temporary files go: ``/dev/shm`` (memory) when it is a folder we may write
    in, else the system's temporary folder."""
    if os.path.isdir(_SHARED_MEMORY) and os.access(_SHARED_MEMORY, os.W_OK | os.X_OK):
        return _SHARED_MEMORY
    return tempfile.gettempdir()


def scratch_file(prefix: str) -> str:
    """A new empty file (mode 0600) in :func:`scratch_folder`; the caller removes it."""
    handle, path = tempfile.mkstemp(prefix=prefix, suffix=".part", dir=scratch_folder())
    os.close(handle)
    return path


class CsvHelper:
    """One helper process, shared by the till's request threads; :meth:`close` ends it."""

    def __init__(self, url: str) -> None:
        self.url = url  # with its password: the helper connects as the till does
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None

    def rows(
        self, *, day: date, store: str, zone: ZoneInfo, lane: str | None, words: dict[str, str], after: int
    ) -> Future[tuple[bytes, list[tuple[int, int | None, int]]]]:
        """The CSV rows of the day's sales with an id above ``after``, written by the helper, and
        their blocks of ids: (block, count it was read at, length in bytes) each, in order, or none
        where the ledger does not count (see pos.reports.day.csv_rows).

        Never raises: a helper that cannot start gives a failed future (the caller writes the
        half itself), and its process is replaced on the next call.
        """
        half: Future[tuple[bytes, list[tuple[int, int | None, int]]]] = Future()
        try:
            path = scratch_file("pos-csv-")
        except OSError as error:
            half.set_exception(error)
            return half
        try:
            pool = self._running()
            written = pool.submit(_write_rows, path, self.url, day, store, zone.key, lane, words, after)
        except Exception as error:  # no process could be started (a kiosk out of memory, say)
            self._discard()
            discard_file(path)
            half.set_exception(error)
            return half
        written.add_done_callback(functools.partial(_collect, half, path))
        return half

    def whole(
        self, path: str, *, day: date, store: str, zone: ZoneInfo, lane: str | None, words: dict[str, str]
    ) -> Future[list[tuple[int, int | None, int]]]:
        """Write every row of the day's CSV (one transaction, no header) to ``path``; the future
        gives its blocks as :meth:`rows` does. Raises when no process can start."""
        try:
            pool = self._running()
            return pool.submit(_write_rows, path, self.url, day, store, zone.key, lane, words, None)
        except Exception:
            self._discard()
            raise

    def warm(self) -> None:
        """Start the helper's process now, if it is not running, without waiting for it: starting
        Python and importing the ledger takes longer than writing half a big day's CSV. (The day
        view starts it by asking for a whole day's rows, :meth:`whole`; bench/report.py calls this.)
        """
        try:
            self._running().submit(_ready, self.url)
        except Exception:  # the CSV will try again, and write everything itself if it must
            self._discard()

    def close(self) -> None:
        """End the helper's process (the till calls this when it stops)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def _running(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is not None and getattr(self._pool, "_broken", False):
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None
            if self._pool is None:
                # spawn, not fork: the till has threads (and open SQLite connections) a fork would copy.
                spawn = multiprocessing.get_context("spawn")
                self._pool = ProcessPoolExecutor(max_workers=1, mp_context=spawn)
            return self._pool

    def _discard(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


# -- in the helper's process ---------------------------------------------------------------------

_engines: dict[str, Engine] = {}


def _ready(url: str) -> None:
    """Import what a half needs, connect, and compile its query once (on no rows at all)."""
    from pos.reports.day import csv_rows

    nothing = csv_rows(_engine(url), day=date.today(), store="", zone=ZoneInfo("UTC"), lane=None, words={},
                       after=2**62)  # fmt: skip
    for _ in nothing:
        pass


def _engine(url: str) -> Engine:
    from pos.ledger.database import create_ledger_engine

    engine = _engines.get(url)
    if engine is None:
        engine = _engines[url] = create_ledger_engine(url)
    return engine


def _write_rows(
    path: str,
    url: str,
    day: date,
    store: str,
    zone_key: str,
    lane: str | None,
    words: dict[str, str],
    after: int | None,
) -> list[tuple[int, int | None, int]]:
    """Write the rows with an id above ``after`` (all: None) to ``path`` as they are made; return
    their blocks. Through a file, not as the call's result: a result comes back through a pipe
    that the till's process must read, under its interpreter lock, while it is busy writing its
    own half (measured: the handover then came last, ~100 ms)."""
    from pos.reports.day import CsvBlock, csv_rows

    blocks: list[CsvBlock] = []
    rows = csv_rows(_engine(url), day=day, store=store, zone=ZoneInfo(zone_key), lane=lane, words=words,
                    after=after, blocks=blocks)  # fmt: skip
    with open(path, "wb") as out:
        for chunk in rows:
            out.write(chunk)
    return [(block.block, block.revision, len(block.data)) for block in blocks]


def _collect(
    half: Future[tuple[bytes, list[tuple[int, int | None, int]]]],
    path: str,
    written: Future[list[tuple[int, int | None, int]]],
) -> None:
    """In the till: the helper is done with ``path``; hand its bytes over and remove it."""
    try:
        table = written.result()
        with open(path, "rb") as part:
            data = part.read()
    except BaseException as error:
        discard_file(path)
        half.set_exception(error)
        return
    discard_file(path)  # before anyone waiting is woken
    half.set_result((data, table))


def discard_file(path: str) -> None:
    """Remove ``path`` if it is there; never raises."""
    with contextlib.suppress(OSError):
        os.unlink(path)
