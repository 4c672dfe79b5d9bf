"""The manager's CSV of a day, kept as a file for as long as the day's sales have not changed.

A day of 100,000 sales takes two processes a few hundred milliseconds to write
(:func:`pos.till.report.csv_chunks`), and on this project's shared test machine
anywhere from 200 to 450 ms from one minute to the next. A manager who opens a
big day usually downloads its CSV next, and a day that is over hardly changes.
So:

- the day view asks for the file ahead (:meth:`CsvFiles.prepare`): the CSV
  helper's process writes the whole day to a file while the manager reads the
  page, and the download is then that file, sent with its length;
- a CSV made for a download is kept too (:meth:`CsvFiles.made`), so the next
  download of the same day is the file;
- a file is sent only while it is exact. SQLite counts every change to a day's
  sales in the same transaction as the change (``day_revisions``, revision 0006
  of the ledger), a file remembers the count its rows were read at, and a
  download reads the count first: if the day has moved on, the CSV is made
  afresh (and kept in turn). A CSV whose two halves were read at different
  counts is sent but not kept.

On PostgreSQL the ledger keeps no count, so nothing is kept and every CSV is
made afresh, as before. Files live in :func:`pos.till.csv_helper.scratch_folder`
(memory where the system has ``/dev/shm``), at most :data:`KEEP` of them; the
till removes them when it stops.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import date
from typing import IO
from zoneinfo import ZoneInfo

from pos.ledger import Ledger, SaleState
from pos.till import report
from pos.till.csv_helper import CsvHelper, discard_file, scratch_file

log = logging.getLogger(__name__)

__all__ = ["KEEP", "CsvFiles", "CsvRequest"]

KEEP = 2  # files kept at once (about 15 MB each for a 100,000-sale day)
PREPARE_PATIENCE = report.CSV_HELPER_PATIENCE  # seconds a download waits for the file being prepared


@dataclass(frozen=True, slots=True)
class CsvRequest:
    """Everything a day's CSV depends on besides the day's sales."""

    day: date
    store: str
    zone: ZoneInfo
    language: str
    state_words: tuple[tuple[SaleState, str], ...] = ()
    lane: str | None = None

    @classmethod
    def of(
        cls,
        day: date,
        *,
        store: str,
        zone: ZoneInfo,
        language: str,
        state_words: dict[SaleState, str] | None = None,
        lane: str | None = None,
    ) -> CsvRequest:
        words = tuple(sorted((state_words or {}).items(), key=lambda item: item[0].value))
        return cls(day, store, zone, language, words, lane)


@dataclass(frozen=True, slots=True)
class _Kept:
    path: str
    revision: int


class CsvFiles:
    """The till's kept CSV files; thread-safe. :meth:`close` removes them."""

    def __init__(self, ledger: Ledger, helper: CsvHelper, *, keep: int = KEEP) -> None:
        self.ledger = ledger
        self.helper = helper
        self.keep = keep
        self._kept: OrderedDict[CsvRequest, _Kept] = OrderedDict()
        self._preparing: dict[CsvRequest, Future[int | None]] = {}
        self._lock = threading.Lock()
        self._closed = False

    # -- asked by the pages --------------------------------------------------------------------

    def prepare(self, request: CsvRequest) -> None:
        """Have the helper write ``request``'s CSV to a file now, unless an exact one is kept or
        one is being written; returns at once. Nothing happens where the ledger keeps no count."""
        revision = self._revision(request)
        if revision is None:
            return
        with self._lock:
            if self._closed or request in self._preparing or self._exact(request, revision):
                return
            try:
                path = scratch_file("pos-csv-day-")
            except OSError as error:
                log.warning("event=csv_prepare_failed day=%s error=%s", request.day, type(error).__name__)
                return
            try:
                written = self.helper.whole(
                    path,
                    day=request.day,
                    store=request.store,
                    zone=request.zone,
                    language=request.language,
                    lane=request.lane,
                    words=report.csv_words(dict(request.state_words)),
                )
            except Exception as error:  # no helper process: the download will make it itself
                discard_file(path)
                log.warning("event=csv_prepare_failed day=%s error=%s", request.day, type(error).__name__)
                return
            self._preparing[request] = written
        written.add_done_callback(lambda done: self._prepared(request, path, done))

    def open_exact(self, request: CsvRequest) -> IO[bytes] | None:
        """The kept file of ``request``'s CSV, open for reading, if it is exactly the day as it is
        now (waiting for one being prepared first); else None, and the caller makes it afresh."""
        with self._lock:
            preparing = self._preparing.get(request)
        if preparing is not None:
            # A failure is logged by _prepared, and the download then makes the file itself.
            with contextlib.suppress(Exception):
                preparing.result(timeout=PREPARE_PATIENCE)
        revision = self._revision(request)
        if revision is None:
            return None
        with self._lock:
            kept = self._exact(request, revision)
            if kept is None:
                return None
            self._kept.move_to_end(request)
            try:
                return open(kept.path, "rb")  # open before the lock goes: removing it later is safe
            except OSError:
                self._forget(request)
                return None

    def made(self, request: CsvRequest) -> Iterator[bytes]:
        """``request``'s CSV made afresh (:func:`pos.till.report.csv_chunks`, with the helper),
        kept as a file as it goes by when its parts were all read at the same revision."""
        revisions: list[int | None] = []
        chunks = report.csv_chunks(
            self.ledger,
            request.day,
            store=request.store,
            zone=request.zone,
            language=request.language,
            lane=request.lane,
            state_words=dict(request.state_words),
            helper=self.helper,
            revisions=revisions,
        )
        copy = self._copy_file()
        complete = False
        try:
            for chunk in chunks:
                if copy is not None:
                    try:
                        copy.write(chunk)
                    except OSError:  # a full scratch folder: send the CSV, keep nothing
                        _close_anddiscard_file(copy)
                        copy = None
                yield chunk
            complete = True
        finally:
            chunks.close()
            if copy is not None:
                copy.close()
                revision = revisions[0] if revisions else None
                if complete and revision is not None and all(seen == revision for seen in revisions):
                    self._keep(request, copy.name, revision)
                else:
                    discard_file(copy.name)

    def close(self) -> None:
        """Remove every kept file (the till is stopping); later calls keep nothing."""
        with self._lock:
            self._closed = True
            for request in list(self._kept):
                self._forget(request)

    # -- inside ------------------------------------------------------------------------------------

    def _revision(self, request: CsvRequest) -> int | None:
        with self.ledger.engine.connect() as conn:
            return report.day_revision(conn, request.day, request.store)

    def _exact(self, request: CsvRequest, revision: int) -> _Kept | None:
        kept = self._kept.get(request)
        return kept if kept is not None and kept.revision == revision else None

    def _copy_file(self) -> IO[bytes] | None:
        if self._closed or self.ledger.engine.dialect.name != "sqlite":
            return None  # no count to check a copy against: keep nothing
        try:
            return open(scratch_file("pos-csv-day-"), "wb")
        except OSError:
            return None

    def _prepared(self, request: CsvRequest, path: str, written: Future[int | None]) -> None:
        try:
            revision = written.result()
        except Exception as error:
            log.warning("event=csv_prepare_failed day=%s error=%s", request.day, type(error).__name__)
            revision = None
        with self._lock:
            self._preparing.pop(request, None)
        if revision is None:
            discard_file(path)
        else:
            self._keep(request, path, revision)

    def _keep(self, request: CsvRequest, path: str, revision: int) -> None:
        with self._lock:
            if self._closed:
                discard_file(path)
                return
            old = self._kept.get(request)
            if old is not None and old.revision > revision:  # a newer one was kept meanwhile
                discard_file(path)
                return
            self._forget(request)
            self._kept[request] = _Kept(path, revision)
            while len(self._kept) > self.keep:
                self._forget(next(iter(self._kept)))

    def _forget(self, request: CsvRequest) -> None:
        kept = self._kept.pop(request, None)
        if kept is not None:
            discard_file(kept.path)


def _close_anddiscard_file(file: IO[bytes]) -> None:
    file.close()
    discard_file(file.name)
