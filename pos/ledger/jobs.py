"""The print queue: documents waiting for the till's spooler, the printer's one owner.

A job is ``queued`` -> ``printing`` (claimed by one spooler, atomically) ->
``done``; a failed write puts it back in the queue. Transitions that print a
document (a paid sale's confirmation, a sale slip) queue it with
:func:`enqueue` in their own transaction, so a slip is queued exactly once per
change. :class:`Jobs` is the part of :class:`pos.ledger.Ledger` the spooler
and the pages call.

Many tills, one ledger: every job names the till that prints it (``store``, ``lane``). A sale's
slips go to the sale's till, whoever queues them (the listener marking it paid, another till's
manager page refunding it); a job without a sale (a Z report, a label, a test slip) goes to the
till that asked, or to ``("", "")``, no till in particular, which the first till to look claims
and makes its own. A till's spooler passes its ``store`` and ``lane`` to :meth:`Jobs.claim_next_job`,
:meth:`Jobs.requeue_interrupted_jobs` and :meth:`Jobs.unfinished_jobs`; without them (tools and
tests of one till) those see the whole queue. On PostgreSQL the enqueue also NOTIFYs the till
(:mod:`pos.ledger.wakeups`) in the same transaction, so its spooler wakes as the job commits.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    and_,
    bindparam,
    func,
    insert,
    or_,
    select,
    true,
    update,
)

from pos.ledger.audit import write_event
from pos.ledger.core import LedgerCore, check_enum, dumps, loads
from pos.ledger.errors import InvalidInput, InvalidJobState, NothingToReprint, UnknownJob
from pos.ledger.identifiers import check_lane_id, check_store_id
from pos.ledger.models import JobKind, JobState, PrintJob
from pos.ledger.schema import print_jobs, sales
from pos.ledger.wakeups import ANY_TILL, notify_job
from pos.log import get_logger

log = get_logger(__name__)

INTERRUPTED = "interrupted: the spooler stopped while this job was printing"

# The spooler's and the payment path's statements, built once (building one costs more than running it).
_INSERT_JOB = insert(print_jobs).returning(print_jobs.c.id)
_SALE_TILL = select(sales.c.store, sales.c.lane).where(sales.c.id == bindparam("b_sale"))
_queued = print_jobs.alias("queued")


def _for_till(table: Any, *, unclaimed: bool) -> ColumnElement[bool]:
    """Rows of the till ``(b_store, b_lane)``; with ``unclaimed``, also those of no till in particular."""
    mine = and_(table.c.store == bindparam("b_store"), table.c.lane == bindparam("b_lane"))
    anyone = and_(table.c.store == ANY_TILL[0], table.c.lane == ANY_TILL[1])
    return or_(mine, anyone) if unclaimed else mine


def _claim(*, till: bool) -> Any:
    """The oldest queued job (of the till ``b_store``/``b_lane`` when ``till``) becomes "printing" and
    comes back (RETURNING), in one statement; a till claiming a job of no till writes its own on it."""
    values: dict[str, Any] = {
        "state": JobState.PRINTING.value,
        "claimed_at": bindparam("b_at", type_=print_jobs.c.claimed_at.type),
    }
    oldest = select(_queued.c.id).where(_queued.c.state == JobState.QUEUED.value)
    if till:
        oldest = oldest.where(_for_till(_queued, unclaimed=True))
        values.update(store=bindparam("b_store"), lane=bindparam("b_lane"))
    return (
        update(print_jobs)
        .where(
            print_jobs.c.id == oldest.order_by(_queued.c.id).limit(1).scalar_subquery(),
            print_jobs.c.state == JobState.QUEUED.value,
        )
        .values(**values)
        .returning(*print_jobs.c)
    )


_CLAIM_ANY = _claim(till=False)
_CLAIM_TILL = _claim(till=True)
_ANY_QUEUED = select(print_jobs.c.id).where(print_jobs.c.state == JobState.QUEUED.value).limit(1)
_TILL_QUEUED = _ANY_QUEUED.where(_for_till(print_jobs, unclaimed=True))
_DONE = (
    update(print_jobs)
    .where(print_jobs.c.id == bindparam("b_id"), print_jobs.c.state == JobState.PRINTING.value)
    .values(state=JobState.DONE.value, printed_at=bindparam("b_at", type_=print_jobs.c.printed_at.type))
    .returning(*print_jobs.c)
)


class Jobs(LedgerCore):
    """The print queue (see the module docstring)."""

    def enqueue_job(
        self,
        kind: JobKind | str,
        *,
        sale_id: int | None = None,
        payload: Mapping[str, Any] | None = None,
        store: str | None = None,
        lane: str | None = None,
        now: datetime | None = None,
    ) -> PrintJob:
        """Queue a document for the spooler; ``payload`` (JSON-able) says what to print for jobs
        without a sale (a Z report's date, a label's product). ``store`` and ``lane``: the till
        that prints it (the till that asked); without them a sale's job goes to the sale's till
        and any other to the first till that looks."""
        at = self._now(now)
        kind = check_enum(JobKind, kind, "kind")
        till = _till(store, lane)
        with self._write() as conn:
            job_id = enqueue(conn, kind, sale_id, payload, at, till=till)
            return _load_job(conn, job_id)

    def claim_next_job(
        self, *, store: str | None = None, lane: str | None = None, now: datetime | None = None
    ) -> PrintJob | None:
        """Take the oldest queued job and mark it printing, atomically: two spoolers never get
        the same job. None when the queue is empty.

        ``store`` and ``lane``: a till's spooler takes only the jobs of its till (and those of no
        till in particular, which become its own); without them, any job (one till, tests).
        """
        at = self._now(now)
        till = _till(store, lane)
        claim, any_queued = (_CLAIM_ANY, _ANY_QUEUED) if till is None else (_CLAIM_TILL, _TILL_QUEUED)
        params = _till_params(till)
        with self._write() as conn:
            while True:
                # One statement: the oldest queued job becomes "printing" and comes back (RETURNING).
                row = conn.execute(claim, {"b_at": at, **params}).first()
                if row is not None:
                    return _job(row)
                # Nothing claimed: the queue is empty, or (PostgreSQL, READ COMMITTED) another
                # spooler took the job between the subquery and the UPDATE; look again then.
                if conn.execute(any_queued, params).first() is None:
                    return None

    def job_done(self, job_id: int, *, now: datetime | None = None) -> PrintJob:
        """The job's bytes were written to the printer: printing -> done."""
        at = self._now(now)
        with self._write() as conn:
            row = conn.execute(_DONE, {"b_id": job_id, "b_at": at}).first()
            if row is None:
                _refuse_job(conn, job_id, "finish")
            return _job(row)

    def job_sending(self, job_id: int, *, now: datetime | None = None) -> PrintJob:
        """The spooler is about to write the job's bytes (it stays "printing"): from now until
        :meth:`job_done`, a crash may leave a copy on paper, so a re-queued job prints marked."""
        at = self._now(now)
        return self._job_transition(job_id, "send", JobState.PRINTING, sent_at=at)

    def job_failed(
        self, job_id: int, error: str, *, printed_partly: bool = False, now: datetime | None = None
    ) -> PrintJob:
        """Writing failed (printer off, paper out): printing -> queued, attempts + 1, so it is retried.

        ``printed_partly``: some bytes reached the printer before it failed, so part of a copy may
        be on paper and the retry prints marked REPRINT (``interrupted_at``); otherwise nothing
        went out and the job is as if never sent.
        """
        self._now(now)
        first_sent = func.coalesce(print_jobs.c.interrupted_at, print_jobs.c.sent_at)
        return self._job_transition(
            job_id,
            "fail",
            JobState.PRINTING,
            state=JobState.QUEUED.value,
            attempts=print_jobs.c.attempts + 1,
            last_error=error,
            claimed_at=None,
            sent_at=None,
            interrupted_at=first_sent if printed_partly else print_jobs.c.interrupted_at,
        )

    def requeue_interrupted_jobs(
        self, *, store: str | None = None, lane: str | None = None, now: datetime | None = None
    ) -> list[PrintJob]:
        """Put jobs left "printing" by a crash back in the queue; call it once when THE spooler starts.

        A job is "printing" between :meth:`claim_next_job` and :meth:`job_done`. If
        the process died in between, we cannot know whether the bytes reached the
        paper. We print again: a duplicate receipt is a nuisance, a lost payment
        confirmation is a customer arguing with the cashier. Nothing is printed
        twice *on purpose*: this is the only path, it counts as an attempt, and its
        last_error says so. Only the process that owns the printer may call this
        (never the listener, never at :func:`open_ledger`), or it would re-queue a
        job that is printing right now. With many tills, each passes its ``store`` and ``lane``
        and re-queues only its own: another till's job "printing" is printing right now.
        """
        at = self._now(now)
        till = _till(store, lane)
        with self._write() as conn:
            left = conn.execute(
                select(print_jobs.c.id, print_jobs.c.sale_id, print_jobs.c.kind, print_jobs.c.sent_at)
                .where(print_jobs.c.state == JobState.PRINTING.value, _of_till(till))
                .order_by(print_jobs.c.id),
                _till_params(till),
            ).all()
            ids = [row.id for row in left]
            if ids:
                conn.execute(
                    update(print_jobs)
                    .where(print_jobs.c.id.in_(ids), print_jobs.c.state == JobState.PRINTING.value)
                    .values(
                        state=JobState.QUEUED.value,
                        attempts=print_jobs.c.attempts + 1,
                        last_error=INTERRUPTED,
                        claimed_at=None,
                        sent_at=None,
                        # Its bytes had begun to go out: a copy may be on paper, so the next one says
                        # REPRINT with the first one's time (documents.render_job).
                        interrupted_at=func.coalesce(print_jobs.c.interrupted_at, print_jobs.c.sent_at),
                    )
                )
                for row in left:
                    if row.sent_at is not None:  # recorded: the sale's history says why it printed twice
                        detail = {"kind": row.kind, "job": row.id, "reason": "interrupted",
                                  "sent_at": row.sent_at.isoformat()}  # fmt: skip
                        write_event(conn, row.sale_id, "reprint", detail, at)
                log.warning("jobs_requeued", jobs=",".join(map(str, ids)), reason="interrupted")
            return [_load_job(conn, job_id) for job_id in ids]

    def reprint(
        self,
        sale_id: int,
        kind: JobKind | str,
        *,
        by: str = "",
        store: str | None = None,
        lane: str | None = None,
        now: datetime | None = None,
    ) -> PrintJob:
        """Queue a new copy of the sale's latest ``kind`` document, linked to it by ``reprint_of``;
        the event log keeps who asked (``by``: the signed-in cashier, when there is one). The copy
        prints at the till that asked (``store``, ``lane``), else at the sale's till."""
        at = self._now(now)
        kind = check_enum(JobKind, kind, "kind")
        till = _till(store, lane)
        with self._write() as conn:
            original = conn.execute(
                select(print_jobs.c.id, print_jobs.c.payload)
                .where(print_jobs.c.sale_id == sale_id, print_jobs.c.kind == kind.value)
                .order_by(print_jobs.c.id.desc())
                .limit(1)
            ).first()
            if original is None:
                raise NothingToReprint(f"sale {sale_id} has no {kind.value} to reprint")
            payload = json.loads(original.payload) if original.payload else None
            job_id = enqueue(conn, kind, sale_id, payload, at, reprint_of=original.id, till=till)
            detail: dict[str, Any] = {"kind": kind, "of": original.id}
            if by:
                detail["by"] = by[:64]
            write_event(conn, sale_id, "reprint", detail, at)
            return _load_job(conn, job_id)

    def get_job(self, job_id: int) -> PrintJob:
        with self._read() as conn:
            return _load_job(conn, job_id)

    def jobs_for_sale(self, sale_id: int) -> list[PrintJob]:
        with self._read() as conn:
            rows = conn.execute(
                select(print_jobs).where(print_jobs.c.sale_id == sale_id).order_by(print_jobs.c.id)
            )
            return [_job(r) for r in rows]

    def unfinished_jobs(self, *, store: str | None = None, lane: str | None = None) -> list[PrintJob]:
        """Queued and printing jobs, oldest first (the spooler's status page): of the till ``store``,
        ``lane`` (with the jobs of no till it would take) when given, else of every till."""
        till = _till(store, lane)
        where = [print_jobs.c.state != JobState.DONE.value]
        if till is not None:
            where.append(_for_till(print_jobs, unclaimed=True))
        with self._read() as conn:
            rows = conn.execute(
                select(print_jobs).where(*where).order_by(print_jobs.c.id), _till_params(till)
            )
            return [_job(r) for r in rows]

    def _job_transition(self, job_id: int, action: str, expected: JobState, **values: Any) -> PrintJob:
        with self._write() as conn:
            row = conn.execute(  # the updated row comes back (RETURNING): nothing to read again
                update(print_jobs)
                .where(print_jobs.c.id == job_id, print_jobs.c.state == expected.value)
                .values(**values)
                .returning(*print_jobs.c)
            ).first()
            if row is None:
                _refuse_job(conn, job_id, action)
            return _job(row)


# -- inside a caller's transaction ---------------------------------------------------------------


def enqueue(
    conn: Connection,
    kind: JobKind,
    sale_id: int | None,
    payload: Mapping[str, Any] | None,
    at: datetime,
    *,
    reprint_of: int | None = None,
    till: tuple[str, str] | None = None,
) -> int:
    """Queue a job for ``till`` (``(store, lane)``; None: the sale's till, or no till in particular
    for a job without a sale); returns its id. The till's spooler sees it once the caller's
    transaction commits, and on PostgreSQL is woken then (NOTIFY, in this transaction)."""
    if till is None and sale_id is not None:
        found = conn.execute(_SALE_TILL, {"b_sale": sale_id}).first()
        till = (found.store, found.lane) if found is not None else None  # no sale: the FK refuses below
    store, lane = till or ANY_TILL
    values = {
        "store": store,
        "lane": lane,
        "sale_id": sale_id,
        "kind": kind.value,
        "state": JobState.QUEUED.value,
        "payload": dumps(payload) if payload is not None else None,
        "reprint_of": reprint_of,
        "created_at": at,
    }
    job_id: int = conn.execute(_INSERT_JOB, values).scalar_one()
    notify_job(conn, store, lane)
    return job_id


def _till(store: str | None, lane: str | None) -> tuple[str, str] | None:
    """``(store, lane)`` checked, or None when neither is given; one without the other is a mistake."""
    if store is None and lane is None:
        return None
    if store is None or lane is None:
        raise InvalidInput("a till is a store and a lane: give both or neither")
    return check_store_id(store), check_lane_id(lane)


def _till_params(till: tuple[str, str] | None) -> dict[str, str]:
    return {} if till is None else {"b_store": till[0], "b_lane": till[1]}


def _of_till(till: tuple[str, str] | None) -> ColumnElement[bool]:
    """Exactly the till's rows (every row when ``till`` is None)."""
    return _for_till(print_jobs, unclaimed=False) if till is not None else true()


def _load_job(conn: Connection, job_id: int) -> PrintJob:
    row = conn.execute(select(print_jobs).where(print_jobs.c.id == job_id)).first()
    if row is None:
        raise UnknownJob(job_id)
    return _job(row)


def _refuse_job(conn: Connection, job_id: int, action: str) -> None:
    """A job's conditional UPDATE touched no row: say why (no such job, or the wrong state)."""
    current = conn.execute(select(print_jobs.c.state).where(print_jobs.c.id == job_id)).scalar()
    if current is None:
        raise UnknownJob(job_id)
    raise InvalidJobState(job_id=job_id, action=action, current=JobState(current))


def _job(row: Row[Any]) -> PrintJob:
    return PrintJob(
        id=row.id,
        sale_id=row.sale_id,
        kind=JobKind(row.kind),
        state=JobState(row.state),
        attempts=row.attempts,
        last_error=row.last_error,
        payload=loads(row.payload),
        reprint_of=row.reprint_of,
        created_at=row.created_at,
        claimed_at=row.claimed_at,
        printed_at=row.printed_at,
        sent_at=row.sent_at,
        interrupted_at=row.interrupted_at,
        store=row.store,
        lane=row.lane,
    )
