"""The print spooler: the only code that talks to the receipt printer.

Everyone else (checkout, the watcher, the listener in its own process, the
manager's pages) only queues jobs in the ledger. The spooler takes them one at
a time, oldest first, and for each::

    claim_next_job -> render_job -> encode -> status check -> device.write -> job_done

The rules it keeps (DESIGN.md, "Printing rules"):

- **A job is done when its bytes were written.** ``job_done`` is called right
  after ``device.write`` returns, before anything else. If marking it done fails
  (the database is locked or gone), the failure is logged at ERROR and the mark
  is retried before the next job is claimed; the job is never written again by
  this process. (If the process dies first, the job is still "printing", and the
  next start re-queues it: see below.)
- **A failed write keeps the job queued, in order.** The device raises
  :class:`~pos.printing.devices.PrinterUnavailable` (printer off, unplugged,
  unreachable); the spooler calls ``job_failed(error)`` (state back to queued,
  ``attempts + 1``, ``last_error`` kept) and backs off 1, 2, 4 ... seconds, capped
  at 30. The head job blocks the ones behind it: a confirmation slip printed
  before its sale slip, or a receipt from an hour ago between two new ones, would
  confuse the cashier more than a short wait. :meth:`wake` (a new job, a reprint,
  :meth:`stop`) cuts the wait short.
- **Status before each job.** Where the printer can answer ``DLE EOT`` (the
  profile says ``status = true`` and the connection can read), the spooler asks
  before sending. A definite "paper out", "cover open" or "offline" counts as a
  failed write (nothing is sent; the printer would swallow or lose it); an
  "unknown" (no answer, a write-only ``file:`` device, a profile without status)
  does not stop the job: the write decides. :meth:`status` reports the last answer.
- **A job that cannot be rendered is parked, not retried.** Its sale is gone, its
  payload is wrong, its text needs a font the printer lacks: printing it again
  cannot help, and blocking every later receipt behind it would be worse. The
  ledger has no "failed" state, so parking uses its queue API as it stands:
  ``job_failed(job, "cannot print: ...")`` records the error and counts the
  attempt, then the spooler claims it again and *leaves it "printing"*, where
  ``claim_next_job`` skips it. It shows in :meth:`status` (``parked``) and in
  ``ledger.unfinished_jobs()`` with its ``last_error``. The next start of the
  spooler re-queues it (``requeue_interrupted_jobs``) and tries it once more, so
  a fixed config (a raster font added) prints it then; otherwise it is parked
  again and the queue moves on.
- **Crash recovery.** :meth:`start` first calls ``ledger.requeue_interrupted_jobs()``:
  a job left "printing" by a crash may or may not have reached the paper, and the
  ledger's choice is to print it again (a duplicate receipt is a nuisance, a lost
  payment confirmation is an argument at the counter). That is the only way a job
  prints twice, and it counts as an attempt with a last_error saying so. Just
  before writing, the spooler tells the ledger (``job_sending``); a job re-queued
  after that point (or after a write cut short) may be on paper already, so its
  next copy prints with a REPRINT mark and the first copy's time, as a manual
  reprint does (``pos.till.documents``), and the sale's history records why.

Construction checks the printer before the first customer (:mod:`pos.till.printer_setup`):
each refusal is a :class:`SpoolerConfigError` naming the setting to change.

Threads: :meth:`start` runs the loop in one daemon thread. :meth:`status`,
:meth:`wake`, :meth:`reprint` and :meth:`enqueue` may be called from any thread;
they never touch the printer. :meth:`run_once` is for tests and must not be used
while the thread runs.

Usage::

    spooler = Spooler(ledger, config)      # refuses a wrong [printer] section now
    spooler.start()
    ...
    spooler.reprint(sale.id, "sale_slip")
    spooler.status().printer               # "online", "paper_out", "virtual", ...
    spooler.stop()
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pos.config import Config
from pos.ledger import InvalidJobState, JobKind, JobState, Ledger, PrintJob, UnknownJob
from pos.log import get_logger
from pos.printing.devices import PrinterDevice, PrinterError
from pos.printing.devices import PrintJob as DeviceJob
from pos.printing.encoder import EncodeError, encode
from pos.printing.profiles import PrinterProfile
from pos.printing.status import PrinterState, PrinterStatus, check_status
from pos.till.documents import RenderError, render_job
from pos.till.exceptions import SpoolerConfigError
from pos.till.printer_setup import set_up_printer
from pos.till.printer_state import NOT_READY, PRINTER_WORDS, Outcome, SpoolerStatus

__all__ = ["PARKED_PREFIX", "Spooler", "SpoolerConfigError", "SpoolerStatus"]

log = get_logger("pos.till.spooler")

PARKED_PREFIX = "cannot print: "


class Spooler:
    """Owns the printer and prints the ledger's queue in order. See the module docstring."""

    def __init__(
        self,
        ledger: Ledger,
        config: Config,
        *,
        profile: PrinterProfile | None = None,
        device: PrinterDevice | None = None,
        clock: Callable[[], datetime] | None = None,
        backoff_base: float = 1.0,
        backoff_max: float = 30.0,
        idle_poll: float = 0.5,
        status_every: float = 15.0,
        listening_poll: float = 15.0,
    ) -> None:
        """
        :param config: the :class:`pos.config.Config` (``[printer]`` and ``[store]`` are read).
        :param profile: a printer profile instead of loading ``[printer] profile``.
        :param device: a device instead of opening ``[printer] device`` (tests).
        :param clock: aware-UTC "now" for the ledger's job timestamps (default: the ledger's clock).
        :param backoff_base: first wait after a failed job, doubling per failure up to ``backoff_max``.
        :param idle_poll: how often an idle spooler looks for jobs queued by other processes.
        :param listening_poll: how often it looks while :attr:`listening` says a notification
            wakes it for every job (PostgreSQL's LISTEN, :class:`pos.till.wakeup.JobWakeup`).
        :param status_every: how often an idle spooler refreshes the printer status.
        :raises SpoolerConfigError: bad device string, unknown profile, or a profile that cannot
            print the store's language.
        """
        self.ledger = ledger
        self.config = config
        # Many tills, one ledger: this spooler prints only its till's jobs (pos.ledger.jobs).
        self.till = {"store": config.store.id, "lane": config.till.lane}
        printer = set_up_printer(config, profile=profile, device=device)
        self.profile = printer.profile
        self.raster_font = printer.raster_font
        self.device = printer.device
        self.status_timeout = config.printer.status_timeout
        self._clock = clock
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.idle_poll = idle_poll
        self.status_every = status_every
        self.listening_poll = listening_poll
        # Whether every job queued for this till wakes the spooler (set by the till to its JobWakeup's
        # ``connected``): then an idle spooler has nothing to poll for, and looks only as a fallback.
        self.listening: Callable[[], bool] = lambda: False
        # Called with each job once it is printed and marked done (set by the till: a printed
        # confirmation tells its watcher the sale is paid). Its failure is logged, never the spooler's.
        self.on_printed: Callable[[PrintJob], None] | None = None

        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._printer = PrinterStatus(PrinterState.UNKNOWN, "not checked yet", virtual=self.device.virtual)
        self._checked_at: datetime | None = None
        self._last_error: str | None = None
        self._last_printed_at: datetime | None = None
        self._current: PrintJob | None = None
        self._parked: dict[int, str] = {}
        self._unmarked: list[PrintJob] = []  # written, but job_done failed: mark before the next job
        self._held: PrintJob | None = None  # claimed, but the ledger would not take it back
        self._queued = 0
        if self.device.virtual:  # reading its state file is no printer I/O: report "virtual" from the start
            self._refresh_status()

    # -- the thread ----------------------------------------------------------------------------

    def start(self) -> None:
        """Re-queue jobs a crash left "printing", then print in a daemon thread. Idempotent."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, name="pos-spooler", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the job in hand (a write is never cut off), then stop the thread and close the device."""
        self._stopping.set()
        self._wake.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                log.error("spooler_stop_timeout", seconds=timeout)
                return
        self._thread = None
        if self._unmarked:
            log.error(
                "spooler_stopped_unmarked",
                jobs=",".join(str(j.id) for j in self._unmarked),
                note="printed but not marked done; the next start prints them again",
            )
        try:
            self.device.close()
        except Exception:  # closing must not fail a shutdown
            log.exception("device_close_failed")

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def wake(self) -> None:
        """Look at the queue now (a job was queued, or the cashier wants a retry now)."""
        self._wake.set()

    def recover(self) -> list[PrintJob]:
        """``ledger.requeue_interrupted_jobs()``: what :meth:`start` does first. Returns the jobs."""
        jobs = self.ledger.requeue_interrupted_jobs(**self.till, **self._now())
        with self._lock:
            self._parked.clear()  # parked jobs were "printing" too: they are queued again now
        if jobs:
            log.warning(
                "spooler_requeued",
                jobs=",".join(str(j.id) for j in jobs),
                note="interrupted while printing; printing them again",
            )
        return jobs

    def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():  # recovery must happen before any claim
            self._wake.clear()
            try:
                self.recover()
                break
            except Exception as exc:  # the database may be briefly unavailable
                self._note_error(f"cannot re-queue interrupted jobs: {exc}")
                log.exception("spooler_recover_failed")
                self._pause(self.retry_delay(failures))
                failures += 1
        self._refresh_status()
        failures = 0
        last_check = time.monotonic()
        while not self._stopping.is_set():
            self._wake.clear()  # before looking, never after: a wake during the step is kept
            try:
                outcome = self._step()
            except Exception as exc:  # the loop must outlive any one failure
                log.exception("spooler_error")
                self._note_error(f"spooler error: {exc}")
                outcome = Outcome.FAILED
            if outcome in (Outcome.PRINTED, Outcome.PARKED):
                failures = 0
                last_check = time.monotonic()
                continue
            if outcome is Outcome.FAILED:
                self._pause(self.retry_delay(failures))
                failures += 1
                last_check = time.monotonic()
                continue
            failures = 0
            if time.monotonic() - last_check >= self.status_every:
                self._refresh_status()
                last_check = time.monotonic()
            self._pause(self.idle_pause(time.monotonic() - last_check))
        log.info("spooler_stopped")

    def retry_delay(self, failures: int) -> float:
        """Seconds to wait after ``failures`` failures in a row: base x 2^n, capped at backoff_max."""
        return min(self.backoff_max, self.backoff_base * (2 ** min(failures, 30)))

    def idle_pause(self, since_check: float) -> float:
        """How long an idle spooler waits before it looks at the queue again: ``idle_poll``, or while
        notifications wake it (:attr:`listening`) until the next printer status check is due, no
        longer than ``listening_poll``. On a chain's ledger a poll every half second is most of what
        an idle till costs the database, for nothing a notification does not already say."""
        if not self.listening():
            return self.idle_poll
        return max(self.idle_poll, min(self.listening_poll, self.status_every - since_check))

    def _pause(self, seconds: float) -> None:
        """Wait up to ``seconds``; a :meth:`wake` (now or since the loop last looked) ends it."""
        self._wake.wait(seconds)

    # -- one job -------------------------------------------------------------------------------

    def run_once(self) -> bool:
        """Print at most one job; True when one was written. For tests and tools (not while started)."""
        return self._step() is Outcome.PRINTED

    def _step(self) -> Outcome:
        if not self._mark_unmarked():
            return Outcome.FAILED
        job, self._held = self._held, None
        if job is None:
            job = self.ledger.claim_next_job(**self.till, **self._now())
        if job is None:
            with self._lock:
                self._current = None
            return Outcome.IDLE
        with self._lock:
            self._current = job
        try:
            return self._print(job)
        except Exception:
            # The ledger refused to take the job back (job_failed raised): it is still "printing",
            # which claim_next_job skips. Keep it in hand and try it first next time, so the
            # queue's order holds.
            self._held = job
            raise

    def _print(self, job: PrintJob) -> Outcome:
        try:
            document = render_job(job, self.ledger, self.config, self.profile)
            data = encode(document, self.profile, raster_font=self.raster_font)
        except (RenderError, EncodeError) as exc:
            return self._park(job, str(exc))
        except Exception as exc:
            if _is_database_error(exc):  # worth retrying: keep the job queued, in order
                log.warning("render_db_error", job=job.id, error=exc)
                self._fail(job, f"database error while rendering: {exc}")
                return Outcome.FAILED
            log.exception("render_crashed", job=job.id, kind=job.kind)
            return self._park(job, f"{type(exc).__name__}: {exc}")

        status = self._refresh_status()
        if status.state in NOT_READY:
            self._fail(job, f"printer {PRINTER_WORDS[status.state].replace('_', ' ')}: {status.detail}")
            return Outcome.FAILED
        out_trade_no = document.out_trade_no
        try:  # from here a crash may leave a copy on paper: the ledger must know, to mark the next one
            self.ledger.job_sending(job.id, **self._now())
        except Exception as exc:
            if not _is_database_error(exc):
                raise
            log.warning("job_sending_db_error", job=job.id, error=exc)
            self._fail(job, f"database error before sending: {exc}")
            return Outcome.FAILED
        try:
            written = self.device.write(
                DeviceJob(data, job_id=f"job-{job.id}", kind=str(job.kind), out_trade_no=out_trade_no)
            )
        except Exception as exc:  # PrinterUnavailable, or a driver error: not printed
            if not isinstance(exc, PrinterError):
                log.exception("write_crashed", job=job.id)
            written_before = getattr(exc, "written", 0)
            if written_before:
                log.warning(
                    "job_partly_written",
                    job=job.id,
                    bytes=written_before,
                    of=len(data),
                    note="the retry prints it again",
                )
            with self._lock:
                self._printer = PrinterStatus(PrinterState.OFFLINE, str(exc), virtual=self.device.virtual)
                self._checked_at = self._wallclock()
            error = str(exc) if isinstance(exc, PrinterError) else f"{type(exc).__name__}: {exc}"
            self._fail(job, error, printed_partly=bool(written_before))
            return Outcome.FAILED
        self._finish(job, written, out_trade_no)
        return Outcome.PRINTED

    def _finish(self, job: PrintJob, written: int, out_trade_no: str) -> None:
        """The bytes are out: mark the job done now, whatever else happens."""
        try:
            done = self.ledger.job_done(job.id, **self._now())
        except Exception as exc:  # the job is printed; never write it again
            log.error(
                "job_done_failed",
                job=job.id,
                kind=job.kind,
                sale=job.sale_id or "-",
                out_trade_no=out_trade_no or "-",
                error=exc,
                note="PRINTED but not marked done; retrying the mark before the next job",
            )
            with self._lock:
                self._unmarked.append(job)
                self._last_printed_at = self._wallclock()
                self._last_error = f"job {job.id} printed but not marked done: {exc}"
                self._current = None
            return
        with self._lock:
            self._last_printed_at = done.printed_at
            self._last_error = None
            self._current = None
        log.info(
            "printed",
            job=job.id,
            kind=job.kind,
            sale=job.sale_id or "-",
            out_trade_no=out_trade_no or "-",
            bytes=written,
            attempts=job.attempts,
        )
        if self.on_printed is not None:
            try:
                self.on_printed(done)
            except Exception:
                log.exception("on_printed_failed", job=job.id)

    def _mark_unmarked(self) -> bool:
        """Retry ``job_done`` for jobs already written; False while the ledger still refuses."""
        while self._unmarked:
            job = self._unmarked[0]
            try:
                self.ledger.job_done(job.id, **self._now())
            except (InvalidJobState, UnknownJob) as exc:
                # Not "printing" any more: done by someone else, or (against the rules) re-queued by
                # another process, which will print it again. Nothing this spooler can mend.
                if getattr(exc, "current", None) is not JobState.DONE:
                    log.error("job_done_impossible", job=job.id, error=exc)
            except Exception as exc:
                log.error("job_done_failed", job=job.id, error=exc, note="still not marked done")
                return False
            log.warning("job_done_late", job=job.id)
            with self._lock:
                self._unmarked.pop(0)
                if not self._unmarked:
                    self._last_error = None
        return True

    def _fail(self, job: PrintJob, error: str, *, printed_partly: bool = False) -> None:
        """Not printed (or cut short: ``printed_partly``): back to the queue at its place, attempts + 1."""
        failed = self.ledger.job_failed(job.id, error, printed_partly=printed_partly, **self._now())
        with self._lock:
            self._current = failed
            self._last_error = error
        log.warning(
            "print_failed",
            job=job.id,
            kind=job.kind,
            sale=job.sale_id or "-",
            attempts=failed.attempts,
            error=error,
        )

    def _park(self, job: PrintJob, error: str) -> Outcome:
        """Set aside a job that cannot be rendered (see the module docstring)."""
        message = PARKED_PREFIX + error
        try:
            self.ledger.job_failed(job.id, message, **self._now())
            again = self.ledger.claim_next_job(**self.till, **self._now())
        except Exception:  # the job stays "printing": parked all the same
            log.exception("park_record_failed", job=job.id)
            again = job
        if again is not None and again.id != job.id:  # cannot happen with one spooler; be safe
            log.error("park_claimed_other", job=job.id, other=again.id)
            self._fail(again, f"re-queued while parking job {job.id}")
        with self._lock:
            self._parked[job.id] = message
            self._current = None
            self._last_error = f"job {job.id}: {message}"
        log.error(
            "job_parked",
            job=job.id,
            kind=job.kind,
            sale=job.sale_id or "-",
            error=error,
            note="later jobs go on printing",
        )
        return Outcome.PARKED

    # -- status --------------------------------------------------------------------------------

    def _refresh_status(self) -> PrinterStatus:
        try:
            status = check_status(self.device, timeout=self.status_timeout, supported=self.profile.status)
        except Exception as exc:  # a driver error while asking: we do not know
            log.warning("status_check_failed", error=exc)
            status = PrinterStatus(
                PrinterState.UNKNOWN, f"status check failed: {exc}", virtual=self.device.virtual
            )
        with self._lock:
            self._printer = status
            self._checked_at = self._wallclock()
        return status

    def status(self) -> SpoolerStatus:
        """The last known printer status and the queue, without talking to the printer."""
        try:
            unfinished = self.ledger.unfinished_jobs(**self.till)
        except Exception:  # the page must still answer
            unfinished = None
        with self._lock:
            if unfinished is not None:
                self._queued = sum(1 for j in unfinished if j.state is JobState.QUEUED)
            printer = self._printer
            word = PRINTER_WORDS[printer.state]
            if printer.virtual and printer.state in (PrinterState.ONLINE, PrinterState.PAPER_NEAR_END):
                word = "virtual"
            return SpoolerStatus(
                printer=word,
                queued=self._queued,
                last_error=self._last_error,
                last_printed_at=self._last_printed_at,
                current_job=self._current.id if self._current is not None else None,
                detail=printer.detail or str(printer.state),
                parked=tuple(sorted(self._parked)),
                running=self.running,
                checked_at=self._checked_at,
                current=self._current,
            )

    # -- queueing helpers (any thread) ---------------------------------------------------------

    def reprint(self, sale_id: int, kind: JobKind | str, *, by: str = "") -> PrintJob:
        """Queue a copy of the sale's latest ``kind`` slip (``ledger.reprint``) and wake the loop.

        Raises the ledger's ``NothingToReprint`` / ``InvalidInput`` for a slip the sale never had.
        """
        job = self.ledger.reprint(sale_id, kind, by=by, **self.till, **self._now())
        self.wake()
        return job

    def enqueue(
        self, kind: JobKind | str, *, sale_id: int | None = None, payload: dict[str, Any] | None = None
    ) -> PrintJob:
        """Queue a job (a Z report, a label, a test slip) and wake the loop."""
        job = self.ledger.enqueue_job(kind, sale_id=sale_id, payload=payload, **self.till, **self._now())
        self.wake()
        return job

    # -- small helpers -------------------------------------------------------------------------

    def _now(self) -> dict[str, datetime]:
        """``now=`` for ledger calls when a clock was given; otherwise the ledger uses its own."""
        return {"now": self._clock()} if self._clock is not None else {}

    def _wallclock(self) -> datetime:
        return self._clock() if self._clock is not None else datetime.now(UTC)

    def _note_error(self, message: str) -> None:
        with self._lock:
            self._last_error = message


def _is_database_error(exc: BaseException) -> bool:
    """SQLAlchemy's errors (locked, disconnected): trouble with the ledger, not with the job."""
    return type(exc).__module__.startswith("sqlalchemy")
