"""The manager's CSV of a big day, kept in memory block by block, and written again only where it changed.

A day of 100,000 sales takes two processes a few hundred milliseconds to write
(:func:`pos.reports.day.csv_chunks`), and on this project's shared test machine
anywhere from 200 to 450 ms from one minute to the next. A manager who opens a
big day usually downloads its CSV next, and between two downloads most of a day
stays as it was. So:

- the day view asks for the CSV ahead (:meth:`KeptCsv.prepare`): the CSV
  helper's process writes the day's rows while the manager reads the page;
- a CSV made for a download is kept too (:meth:`KeptCsv.made`);
- a download of a kept day (:meth:`KeptCsv.current`) reads, in one
  transaction, how many times each block of the day's ids has changed, writes
  again the rows of the blocks that changed since they were kept (a block is
  4,096 ids: a sale rung up or paid since is one or two blocks, about 15 ms
  each), and sends the kept rows for the rest, with the file's length.

That is exact because the database counts: on SQLite every insert, update or
delete of a sale adds one to its day's, store's and block's count
(``day_revisions``, revision 0006 of the ledger) in the same transaction as the
change, whoever writes it. Rows kept at count N of their block are sent only
when the block's count is still N in the download's own snapshot, and the
blocks written again are read in that same snapshot, so the file is exactly the
day as of that moment. When most blocks changed, the CSV is made afresh by two
processes instead (and kept in turn).

On PostgreSQL the ledger keeps no count, so nothing is kept and every CSV is
made afresh. At most :data:`KEEP` days are kept (about 15 MB each for 100,000
sales); the till forgets them when it stops.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import date
from zoneinfo import ZoneInfo

from pos.ledger import Ledger, SaleState
from pos.ledger.database import READ_ONLY
from pos.reports import day as report
from pos.till.csv_helper import CsvHelper, discard_file, scratch_file

log = logging.getLogger(__name__)

__all__ = ["KEEP", "CsvRequest", "KeptCsv"]

KEEP = 2  # days kept at once
PREPARE_PATIENCE = report.CSV_HELPER_PATIENCE  # seconds a download waits for the rows being prepared


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

    @property
    def words(self) -> dict[str, str]:
        return report.csv_words(dict(self.state_words))


@dataclass
class _Kept:
    """A day's CSV rows by block of ids: block -> (the block's count when read, its rows)."""

    blocks: dict[int, tuple[int, bytes]] = field(default_factory=dict)


class KeptCsv:
    """The CSV rows the till keeps of big days; thread-safe. :meth:`close` forgets them."""

    def __init__(self, ledger: Ledger, helper: CsvHelper, *, keep: int = KEEP) -> None:
        self.ledger = ledger
        self.helper = helper
        self.keep = keep
        self._kept: OrderedDict[CsvRequest, _Kept] = OrderedDict()
        self._preparing: dict[CsvRequest, threading.Event] = {}  # set once the rows are kept (or failed)
        self._lock = threading.Lock()
        self._closed = False

    # -- asked by the pages --------------------------------------------------------------------

    def prepare(self, request: CsvRequest) -> None:
        """Have the helper write ``request``'s rows now, unless they are kept (a download then
        writes only what changed) or being written; returns at once. Nothing happens on a ledger
        that does not count its changes."""
        if not report.counts_changes(self.ledger.engine.dialect.name):
            return
        with self._lock:
            if self._closed or request in self._preparing or request in self._kept:
                return
            try:
                path = scratch_file("pos-csv-day-")
            except OSError as error:
                log.warning("event=csv_prepare_failed day=%s error=%s", request.day, type(error).__name__)
                return
            try:
                written = self.helper.whole(
                    path, day=request.day, store=request.store, zone=request.zone, lane=request.lane,
                    words=request.words,
                )  # fmt: skip
            except Exception as error:  # no helper process: the download will make it itself
                discard_file(path)
                log.warning("event=csv_prepare_failed day=%s error=%s", request.day, type(error).__name__)
                return
            self._preparing[request] = threading.Event()
        written.add_done_callback(lambda done: self._prepared(request, path, done))

    def current(self, request: CsvRequest) -> tuple[list[bytes], int] | None:
        """``request``'s CSV from its kept rows, with the blocks changed since written again: the
        chunks and their total length. None when nothing is kept (or most of it changed, or the
        ledger does not count): :meth:`made` then makes it afresh. Waits for rows being prepared."""
        with self._lock:
            preparing = self._preparing.get(request)
        if preparing is not None:  # if it fails (logged by _prepared), the download makes the CSV itself
            preparing.wait(PREPARE_PATIENCE)
        with self._lock:
            kept = self._kept.get(request)
            blocks = dict(kept.blocks) if kept is not None else None
        if blocks is None:
            return None
        writer = report.CsvRowWriter(request.zone, request.words)
        with self.ledger.engine.connect() as conn:
            conn.execution_options(**READ_ONLY)
            with conn.begin():  # one snapshot: the counts, and the rows written again
                versions = report.day_versions(conn, request.day, request.store)
                if versions is None:
                    return None
                stale = [block for block in versions if blocks.get(block, (None, b""))[0] != versions[block]]
                if len(stale) * 2 > len(versions):
                    return None  # most of the day changed: two processes make it faster
                for block in stale:
                    rows = report.block_rows(conn, writer, day=request.day, store=request.store,
                                             lane=request.lane, block=block)  # fmt: skip
                    blocks[block] = (versions[block], rows)
        self._keep(request, {block: blocks[block] for block in versions})
        chunks = [report.csv_header(request.language)]
        chunks += [blocks[block][1] for block in sorted(versions)]
        if stale:
            log.info(
                "event=csv_blocks_rewritten day=%s blocks=%d of=%d", request.day, len(stale), len(versions)
            )
        return chunks, sum(len(chunk) for chunk in chunks)

    def made(self, request: CsvRequest) -> Iterator[bytes]:
        """``request``'s CSV made afresh (:func:`pos.reports.day.csv_chunks`, with the helper),
        its rows kept by block as they go by."""
        blocks: list[report.CsvBlock] = []
        chunks = report.csv_chunks(
            self.ledger,
            request.day,
            store=request.store,
            zone=request.zone,
            language=request.language,
            lane=request.lane,
            state_words=dict(request.state_words),
            helper=self.helper,
            blocks=blocks,
        )
        complete = False
        try:
            yield from chunks
            complete = True
        finally:
            chunks.close()
            whole = {
                block.block: (block.revision, block.data) for block in blocks if block.revision is not None
            }
            if complete and whole and len(whole) == len(blocks):
                self._keep(request, whole)  # type: ignore[arg-type]

    def close(self) -> None:
        """Forget every kept day (the till is stopping); later calls keep nothing."""
        with self._lock:
            self._closed = True
            self._kept.clear()

    # -- inside ------------------------------------------------------------------------------------

    def _prepared(
        self, request: CsvRequest, path: str, written: Future[list[tuple[int, int | None, int]]]
    ) -> None:
        try:
            table = written.result()
            with open(path, "rb") as part:
                data = part.read()
            blocks = {block.block: (block.revision, block.data) for block in report.split_blocks(data, table)}
            if blocks and all(revision is not None for revision, _ in blocks.values()):
                self._keep(request, blocks)  # type: ignore[arg-type]
        except Exception as error:
            log.warning("event=csv_prepare_failed day=%s error=%s", request.day, type(error).__name__)
        finally:
            discard_file(path)
            with self._lock:
                done = self._preparing.pop(request, None)
            if done is not None:
                done.set()  # after the rows are kept: a download waiting for them finds them

    def _keep(self, request: CsvRequest, blocks: dict[int, tuple[int, bytes]]) -> None:
        with self._lock:
            if self._closed:
                return
            kept = self._kept.setdefault(request, _Kept())
            for block, (revision, rows) in blocks.items():
                known = kept.blocks.get(block)
                if known is None or known[0] <= revision:  # never an older count over a newer one
                    kept.blocks[block] = (revision, rows)
            self._kept.move_to_end(request)
            while len(self._kept) > self.keep:
                self._kept.popitem(last=False)
