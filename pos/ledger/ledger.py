"""The state of record for the till: sales, payments, refunds, print jobs, audit.

Only this module changes a sale's state. Each change is one conditional
``UPDATE ... WHERE id = ? AND state IN (...)`` in a transaction together with
everything that must happen with it (the payment row, the print job, the event),
and the number of rows it touched decides: 1 means this caller made the change,
0 means someone else got there first or the state does not allow it. So two
processes reporting the same payment at the same instant cannot both mark it
paid, and its confirmation slip is queued exactly once.

Every method takes plain values (fen ints, aware datetimes, ids) and returns
frozen records from :mod:`pos.ledger.models`; ``now=`` may be passed to any
method that writes, otherwise the ledger's clock is used.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Connection, Engine, Row, and_, bindparam, case, func, insert, or_, select, update
from sqlalchemy.engine import URL

from pos.ledger import database
from pos.ledger.errors import (
    InvalidInput,
    InvalidJobState,
    InvalidTransition,
    LedgerError,
    NothingToReprint,
    RefundRefused,
    UnknownJob,
    UnknownRefund,
    UnknownSale,
)
from pos.ledger.identifiers import (
    DEFAULT_ZONE,
    business_date,
    check_aware,
    check_lane_id,
    check_store_id,
    format_out_trade_no,
)
from pos.ledger.models import (
    PAID_STATES,
    Event,
    Flag,
    FlagKind,
    JobKind,
    JobState,
    LineItem,
    Message,
    MessageKind,
    PaidOutcome,
    PaidStatus,
    Payment,
    PaymentSource,
    PrintJob,
    Refund,
    RefundOutcome,
    RefundState,
    Sale,
    SaleItem,
    SaleState,
    items_listing,
)
from pos.ledger.prepared import Prepared
from pos.ledger.schema import (
    day_sequences,
    events,
    flags,
    messages,
    payments,
    print_jobs,
    refunds,
    sale_items,
    sales,
)
from pos.ledger.writelock import WriteLock
from pos.log import get_logger
from pos.money import MAX_FEN

log = get_logger(__name__)

SIGN_TYPES = ("MD5", "HMAC-SHA256")
MAX_BODY = 128
INTERRUPTED = "interrupted: the spooler stopped while this job was printing"
Raw = bytes | str | Mapping[str, Any]


_MESSAGE_KINDS = {
    PaymentSource.NOTICE: MessageKind.NOTICE,
    PaymentSource.QUERY: MessageKind.QUERY,
    PaymentSource.BILL: MessageKind.BILL,
}


@dataclass(frozen=True, slots=True)
class PaymentReport:
    """WeChat says ``out_trade_no`` was paid: one checked report (see :meth:`Ledger.payment_report`)."""

    out_trade_no: str
    transaction_id: str
    total_fee: int
    time_end: datetime
    source: PaymentSource
    cash_fee: int | None = None
    openid: str | None = None
    raw: Raw | None = None

    def as_dict(self) -> dict[str, Any]:
        """The form ``Ledger._mark_paid`` takes (and stores in flags' details)."""
        return {
            "transaction_id": self.transaction_id,
            "total_fee": self.total_fee,
            "cash_fee": self.cash_fee,
            "openid": self.openid,
            "time_end": self.time_end,
            "source": self.source,
        }


@dataclass(frozen=True, slots=True)
class PaymentSummary:
    """The few facts of a sale a payment notice needs before it is verified (see
    :meth:`Ledger.payment_summary`); a snapshot, like every record."""

    id: int
    out_trade_no: str
    sign_type: str
    total_fee: int
    state: SaleState
    transaction_id: str | None


def open_ledger(
    url: str | URL,
    *,
    timezone: str = DEFAULT_ZONE,
    clock: Callable[[], datetime] | None = None,
    busy_timeout_ms: int = database.BUSY_TIMEOUT_MS,
) -> Ledger:
    """Connect to the ledger at ``url`` and migrate its schema to the newest revision.

    ``url`` is a SQLAlchemy URL: ``sqlite:///path/pos.sqlite3`` (the file and its
    folder are created) or ``postgresql+psycopg://user@host/pos``. Opening an
    up-to-date database changes nothing. ``timezone`` is the store's zone, used
    for business dates; ``clock`` returns aware "now" datetimes (tests pass a
    fake one).
    """
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(f"unknown time zone {timezone!r} (e.g. Asia/Shanghai)") from exc
    engine = database.create_ledger_engine(url, busy_timeout_ms=busy_timeout_ms)
    try:
        database.upgrade(engine)
    except Exception:
        engine.dispose()
        raise
    return Ledger(engine, zone=zone, clock=clock, busy_timeout_ms=busy_timeout_ms)


class Ledger:
    """The till's books. Thread-safe: share one per process. See :func:`open_ledger`."""

    def __init__(
        self,
        engine: Engine,
        *,
        zone: ZoneInfo | None = None,
        clock: Callable[[], datetime] | None = None,
        busy_timeout_ms: int = database.BUSY_TIMEOUT_MS,
    ) -> None:
        self.engine = engine
        self.zone = zone or ZoneInfo(DEFAULT_ZONE)
        self._clock = clock or (lambda: datetime.now(UTC))
        # Writers queue here first on SQLite, across processes too (see pos.ledger.writelock).
        self._writers = database.write_lock(engine, busy_timeout_ms / 1000)

    def close(self) -> None:
        """Close the connection pool (the database keeps everything committed)."""
        self.engine.dispose()
        if isinstance(self._writers, WriteLock):
            self._writers.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transactions -------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A write transaction (``BEGIN IMMEDIATE`` on SQLite, after this process's and the other
        processes' writers: see pos.ledger.writelock): commits on success, rolls back on error."""
        with self._writers, self.engine.begin() as connection:
            yield connection

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """A read transaction: one consistent snapshot, never blocks writers."""
        with self.engine.connect() as connection:
            connection.execution_options(**database.READ_ONLY)
            with connection.begin():
                yield connection

    def _now(self, now: datetime | None) -> datetime:
        return check_aware(now if now is not None else self._clock(), "now").astimezone(UTC)

    # -- sales: creating and ordering ---------------------------------------------------

    def create_sale(
        self,
        *,
        store: str,
        lane: str,
        items: Sequence[LineItem] = (),
        total_fee: int | None = None,
        body: str | None = None,
        cashier: str = "",
        sign_type: str = "MD5",
        now: datetime | None = None,
    ) -> Sale:
        """Ring up a NEW sale with a fresh out_trade_no (``S01-01-20261127-0042``).

        Give ``items`` (the total is their sum; ``body`` defaults to the first
        item's name, "等N件" when there are more), or ``total_fee`` and ``body`` for
        a sale keyed in as one amount. The business date is ``now`` in the store's
        time zone; the day's sequence for the lane is allocated in the same
        transaction, so numbers are unique across threads and processes.
        """
        at = self._now(now)
        check_store_id(store)
        check_lane_id(lane)
        lines = [_check_item(i, item) for i, item in enumerate(items)]
        if lines:
            total = sum(item.amount for item in lines)
            if total_fee is not None and total_fee != total:
                raise InvalidInput(f"total_fee {total_fee} is not the items' sum {total}")
            if body is None:
                body = lines[0].name + (f" 等{len(lines)}件" if len(lines) > 1 else "")
        else:
            if total_fee is None or body is None:
                raise InvalidInput("a sale needs items, or total_fee and body")
            total = total_fee
        _check_fen(total, "total_fee")
        body = body.strip() if isinstance(body, str) else body
        if not isinstance(body, str) or not body or len(body) > MAX_BODY:
            raise InvalidInput(f"body must be 1-{MAX_BODY} characters, not {body!r}")
        if sign_type not in SIGN_TYPES:
            raise InvalidInput(f"sign_type must be one of {', '.join(SIGN_TYPES)}, not {sign_type!r}")
        if not isinstance(cashier, str) or len(cashier) > 64:
            raise InvalidInput(f"cashier must be at most 64 characters, not {cashier!r}")
        day = business_date(at, self.zone)
        with self._write() as conn:
            sequence = _next_sequence(conn, store, lane, day)
            out_trade_no = format_out_trade_no(store, lane, day, sequence)
            row = _INSERT_SALE.first(
                conn,
                {
                    "out_trade_no": out_trade_no,
                    "store": store,
                    "lane": lane,
                    "cashier": cashier,
                    "business_date": day,
                    "body": body,
                    "total_fee": total,
                    "state": SaleState.NEW.value,
                    "sign_type": sign_type,
                    "created_at": at,
                    "updated_at": at,
                    "items_text": items_listing(lines),
                },
            )
            sale_id = row.id
            stored = [
                _item(
                    _INSERT_ITEM.first(
                        conn,
                        {
                            "sale_id": sale_id,
                            "position": position,
                            "name": item.name,
                            "qty": item.qty,
                            "unit_price": item.unit_price,
                            "amount": item.amount,
                        },
                    )
                )
                for position, item in enumerate(lines, start=1)
            ]
            _event(conn, sale_id, "created", {"total_fee": total, "cashier": cashier}, at)
            sale = _sale(row, stored)  # the row as inserted (RETURNING): nothing to read back
        _log("created", sale, total_fee=total)
        return sale

    def record_order(
        self,
        sale_id: int,
        *,
        code_url: str,
        prepay_id: str,
        expires_at: datetime,
        print_slip: bool = True,
        now: datetime | None = None,
    ) -> Sale:
        """NEW -> AWAITING_PAYMENT: WeChat accepted the order. Queues the sale slip (QR) unless
        ``print_slip=False``, in the same transaction, so the QR prints once per order."""
        at = self._now(now)
        check_aware(expires_at, "expires_at")
        if not code_url or not isinstance(code_url, str):
            raise InvalidInput(f"code_url must be a non-empty string, not {code_url!r}")
        with self._write() as conn:
            row = self._transition(
                conn,
                sale_id,
                "record_order",
                (SaleState.NEW,),
                SaleState.AWAITING_PAYMENT,
                at,
                code_url=code_url,
                prepay_id=prepay_id,
                expires_at=expires_at,
                ordered_at=at,
                failure=None,
            )
            if print_slip:
                _enqueue(conn, JobKind.SALE_SLIP, sale_id, None, at)
            _event(conn, sale_id, "ordered", {"prepay_id": prepay_id, "expires_at": expires_at}, at)
            sale = _sale(row, _load_items(conn, sale_id))  # the row as updated (RETURNING)
        _log("ordered", sale)
        return sale

    def record_order_failure(self, sale_id: int, message: str, *, now: datetime | None = None) -> Sale:
        """NEW -> FAILED: WeChat refused the order (or it could not be placed). ``message`` is kept
        for the cashier and the manager; :meth:`retry_order` tries again with the same number."""
        at = self._now(now)
        with self._write() as conn:
            self._transition(
                conn, sale_id, "record_order_failure", (SaleState.NEW,), SaleState.FAILED, at, failure=message
            )
            _event(conn, sale_id, "order_failed", {"message": message}, at)
            sale = _load_sale(conn, sale_id)
        _log("order_failed", sale, message=message)
        return sale

    def retry_order(self, sale_id: int, *, now: datetime | None = None) -> Sale:
        """FAILED -> NEW, keeping the out_trade_no, so the order is placed again under the same number
        (WeChat may already know it; a second unified order with the same data is accepted)."""
        at = self._now(now)
        with self._write() as conn:
            self._transition(conn, sale_id, "retry_order", (SaleState.FAILED,), SaleState.NEW, at)
            _event(conn, sale_id, "retry", None, at)
            sale = _load_sale(conn, sale_id)
        _log("retry", sale)
        return sale

    def mark_expired(self, sale_id: int, *, print_notice: bool = True, now: datetime | None = None) -> Sale:
        """AWAITING_PAYMENT -> EXPIRED: the deadline passed and closeorder succeeded.

        If closeorder answered ORDERPAID, call :meth:`mark_paid` instead (query the
        order for its transaction_id): a paid sale is never EXPIRED.
        """
        return self._close(
            sale_id, "mark_expired", SaleState.EXPIRED, JobKind.EXPIRED_NOTICE, print_notice, now
        )

    def mark_voided(
        self,
        sale_id: int,
        *,
        by: str = "",
        reason: str = "",
        print_notice: bool = True,
        now: datetime | None = None,
    ) -> Sale:
        """AWAITING_PAYMENT -> VOIDED: the cashier cancelled and closeorder succeeded (ORDERPAID
        means :meth:`mark_paid`, never VOIDED)."""
        return self._close(
            sale_id,
            "mark_voided",
            SaleState.VOIDED,
            JobKind.VOID_NOTICE,
            print_notice,
            now,
            by=by,
            reason=reason,
        )

    def request_void(self, sale_id: int, *, by: str = "", now: datetime | None = None) -> Sale:
        """Remember that the cashier voided an AWAITING_PAYMENT sale WeChat will not close yet.

        WeChat refuses closeorder in an order's first 5 minutes. The request is
        one conditional UPDATE (AWAITING_PAYMENT, no request yet), so it survives
        a crash and the watcher closes the order as soon as it may, then calls
        :meth:`mark_voided`. The sale stays AWAITING_PAYMENT until then: a
        customer who pays meanwhile makes it PAID, never VOIDED. Asking again
        keeps the first request; any other state raises InvalidTransition.
        """
        at = self._now(now)
        if not isinstance(by, str) or len(by) > 64:
            raise InvalidInput(f"by must be at most 64 characters, not {by!r}")
        with self._write() as conn:
            result = conn.execute(
                update(sales)
                .where(
                    sales.c.id == sale_id,
                    sales.c.state == SaleState.AWAITING_PAYMENT.value,
                    sales.c.void_requested_at.is_(None),
                )
                .values(void_requested_at=at, void_requested_by=by, updated_at=at)
            )
            if result.rowcount == 1:
                _event(conn, sale_id, "void_requested", {"by": by} if by else None, at)
            sale = _load_sale(conn, sale_id)
            if result.rowcount != 1 and not (
                sale.state is SaleState.AWAITING_PAYMENT and sale.void_requested
            ):
                raise InvalidTransition(
                    sale_id=sale_id,
                    out_trade_no=sale.out_trade_no,
                    action="request_void",
                    current=sale.state,
                    allowed=(SaleState.AWAITING_PAYMENT,),
                )
        if result.rowcount == 1:
            _log("void_requested", sale, by=by)
        return sale

    def _close(
        self,
        sale_id: int,
        action: str,
        target: SaleState,
        notice: JobKind,
        print_notice: bool,
        now: datetime | None,
        **detail: str,
    ) -> Sale:
        at = self._now(now)
        with self._write() as conn:
            self._transition(conn, sale_id, action, (SaleState.AWAITING_PAYMENT,), target, at, closed_at=at)
            if print_notice:
                _enqueue(conn, notice, sale_id, None, at)
            _event(conn, sale_id, target.value.lower(), detail or None, at)
            sale = _load_sale(conn, sale_id)
        _log(target.value.lower(), sale, **detail)
        return sale

    def _transition(
        self,
        conn: Connection,
        sale_id: int,
        action: str,
        allowed: tuple[SaleState, ...],
        target: SaleState,
        at: datetime,
        **values: Any,
    ) -> Any:
        """The one conditional UPDATE every simple transition is; returns the updated row (RETURNING),
        raises if it touched no row. ``values`` are plain column values."""
        statement = _transition_statement(tuple(s.value for s in allowed), target.value, tuple(values))
        params = {"b_id": sale_id, "b_at": at}
        params.update((f"v_{name}", value) for name, value in values.items())
        updated = statement.first(conn, params)
        if updated is None:
            row = conn.execute(
                select(sales.c.state, sales.c.out_trade_no).where(sales.c.id == sale_id)
            ).first()
            if row is None:
                raise UnknownSale(sale_id)
            raise InvalidTransition(
                sale_id=sale_id,
                out_trade_no=row.out_trade_no,
                action=action,
                current=SaleState(row.state),
                allowed=allowed,
            )
        return updated

    # -- payments -----------------------------------------------------------------------

    def mark_paid(
        self,
        out_trade_no: str,
        *,
        transaction_id: str,
        total_fee: int,
        time_end: datetime,
        source: PaymentSource | str,
        cash_fee: int | None = None,
        openid: str | None = None,
        raw: Raw | None = None,
        now: datetime | None = None,
    ) -> PaidOutcome:
        """Record that WeChat says ``out_trade_no`` was paid; THE function for the listener and the watcher.

        In one transaction, and decided by the database however many reports race:

        - the sale is AWAITING_PAYMENT (or NEW/FAILED: an order we thought failed
          was placed after all) -> PAID, the payment is stored, the confirmation
          slip is queued: ``PAID``;
        - the sale was VOIDED or EXPIRED (paid in the race before the close, or
          reported late) -> PAID all the same, because the money was taken and
          must show in the day's takings and be refundable; flagged for the
          manager and the confirmation slip queued: ``PAID_AFTER_CLOSE``;
        - the same payment again (same transaction_id): nothing changes: ``ALREADY_PAID``;
        - ``total_fee`` differs from the sale's total: the payment is stored (not
          accepted) and flagged; the sale is NOT paid: ``AMOUNT_MISMATCH``;
        - another transaction_id for a sale already paid: stored (not accepted),
          flagged: ``CONFLICTING_PAYMENT``;
        - no such out_trade_no: flagged, no sale is written: ``UNKNOWN_SALE``.

        ``time_end`` is WeChat's completion time as an aware datetime (its
        yyyyMMddHHmmss is Beijing time). ``raw``, when given, is stored in the
        audit log with the outcome, in the same transaction.
        """
        report = self.payment_report(
            out_trade_no,
            transaction_id=transaction_id,
            total_fee=total_fee,
            time_end=time_end,
            source=source,
            cash_fee=cash_fee,
            openid=openid,
            raw=raw,
        )
        return self.mark_paid_many([report], now=now)[0]

    def payment_report(
        self,
        out_trade_no: str,
        *,
        transaction_id: str,
        total_fee: int,
        time_end: datetime,
        source: PaymentSource | str,
        cash_fee: int | None = None,
        openid: str | None = None,
        raw: Raw | None = None,
    ) -> PaymentReport:
        """:meth:`mark_paid`'s arguments, checked (InvalidInput), as one report for :meth:`mark_paid_many`."""
        source = _enum(PaymentSource, source, "source")
        if not isinstance(transaction_id, str) or not transaction_id or len(transaction_id) > 32:
            raise InvalidInput(f"transaction_id must be 1-32 characters, not {transaction_id!r}")
        _check_fen(total_fee, "total_fee")
        if cash_fee is not None:
            _check_fen(cash_fee, "cash_fee", allow_zero=True)
        check_aware(time_end, "time_end")
        return PaymentReport(out_trade_no, transaction_id, total_fee, time_end, source, cash_fee, openid, raw)

    def mark_paid_many(
        self, reports: Sequence[PaymentReport], *, now: datetime | None = None
    ) -> list[PaidOutcome]:
        """:meth:`mark_paid` for several reports in ONE transaction (group commit: one BEGIN, one
        COMMIT, one turn of SQLite's write lock for all of them). Each report is decided exactly as
        mark_paid decides it, in order, so a later report sees what an earlier one wrote (the same
        payment twice: PAID, then ALREADY_PAID). Either every outcome is stored or, if the
        transaction fails, none is."""
        at = self._now(now)
        outcomes = []
        with self._write() as conn:
            for report in reports:
                outcome = self._mark_paid(conn, report.out_trade_no, report.as_dict(), at)
                if report.raw is not None:
                    kind = _MESSAGE_KINDS[report.source]
                    _message(conn, kind, report.out_trade_no, report.raw, outcome.status.value, at)
                outcomes.append(outcome)
        for report, outcome in zip(reports, outcomes, strict=True):
            quiet = outcome.status in (PaidStatus.PAID, PaidStatus.ALREADY_PAID)
            log.log(
                logging.INFO if quiet else logging.WARNING, "mark_paid", outcome=outcome.status.value,
                sale=outcome.sale.id if outcome.sale else "-", out_trade_no=report.out_trade_no,
                transaction_id=report.transaction_id, source=report.source.value,
            )
        return outcomes

    def _mark_paid(
        self, conn: Connection, out_trade_no: str, report: dict[str, Any], at: datetime
    ) -> PaidOutcome:
        transaction_id = report["transaction_id"]
        total_fee = report["total_fee"]
        detail = {"out_trade_no": out_trade_no, **report}
        # The sale and any payment already stored under this transaction_id, in one read.
        row = _SALE_WITH_PAYMENT.first(
            conn, {"b_out_trade_no": out_trade_no, "b_transaction_id": transaction_id}
        )
        if row is None:
            flag_id = _flag(
                conn, FlagKind.UNKNOWN_ORDER, None, out_trade_no, detail, f"unknown:{transaction_id}", at
            )
            return PaidOutcome(PaidStatus.UNKNOWN_SALE, None, flag_id=flag_id)
        sale_id = row.id
        if row.known_sale_id is not None and (
            row.known_sale_id != sale_id or row.known_total_fee != total_fee
        ):
            # One WeChat transaction reported for two sales or with two amounts: forged or corrupt.
            flag_id = _flag(
                conn,
                FlagKind.SECOND_PAYMENT,
                sale_id,
                out_trade_no,
                {**detail, "known_sale_id": row.known_sale_id, "known_total_fee": row.known_total_fee},
                f"conflict:{transaction_id}:{sale_id}:{total_fee}",
                at,
            )
            return PaidOutcome(PaidStatus.CONFLICTING_PAYMENT, _load_sale(conn, sale_id), flag_id=flag_id)
        if row.known_sale_id is not None and row.known_accepted:
            return PaidOutcome(PaidStatus.ALREADY_PAID, _sale(row, _load_items(conn, sale_id)))

        if total_fee != row.total_fee:
            _store_payment(conn, sale_id, report, accepted=False, at=at)
            flag_id = _flag(
                conn,
                FlagKind.AMOUNT_MISMATCH,
                sale_id,
                out_trade_no,
                {**detail, "sale_total_fee": row.total_fee},
                f"amount:{transaction_id}:{total_fee}",
                at,
            )
            _event(conn, sale_id, "amount_mismatch", {"reported": total_fee, "expected": row.total_fee}, at)
            return PaidOutcome(PaidStatus.AMOUNT_MISMATCH, _load_sale(conn, sale_id), flag_id=flag_id)

        observed = SaleState(row.state)
        current = row.transaction_id
        while True:
            if observed in PAID_STATES:
                if current == transaction_id:
                    return PaidOutcome(PaidStatus.ALREADY_PAID, _load_sale(conn, sale_id))
                _store_payment(conn, sale_id, report, accepted=False, at=at)
                flag_id = _flag(
                    conn,
                    FlagKind.SECOND_PAYMENT,
                    sale_id,
                    out_trade_no,
                    {**detail, "paid_transaction_id": current},
                    f"second:{transaction_id}",
                    at,
                )
                _event(conn, sale_id, "second_payment", {"transaction_id": transaction_id}, at)
                return PaidOutcome(PaidStatus.CONFLICTING_PAYMENT, _load_sale(conn, sale_id), flag_id=flag_id)
            # Compare-and-set on the state we saw: exactly one racing report wins this UPDATE, and it
            # gets the updated row back (RETURNING) instead of reading the sale again.
            paid_row = _PAY_SALE.first(
                conn,
                {
                    "b_id": sale_id,
                    "b_observed": observed.value,
                    "b_at": at,
                    "b_transaction_id": transaction_id,
                },
            )
            if paid_row is not None:
                break
            # Someone else changed the state first (PostgreSQL; SQLite's BEGIN IMMEDIATE serialises).
            again = conn.execute(
                select(sales.c.state, sales.c.transaction_id).where(sales.c.id == sale_id)
            ).one()
            observed, current = SaleState(again.state), again.transaction_id

        _store_payment(conn, sale_id, report, accepted=True, at=at)
        job_id = _enqueue(conn, JobKind.CONFIRMATION, sale_id, None, at)
        _event(
            conn,
            sale_id,
            "paid",
            {"transaction_id": transaction_id, "source": report["source"], "from": observed},
            at,
        )
        if observed in (SaleState.VOIDED, SaleState.EXPIRED):
            flag_id = _flag(
                conn,
                FlagKind.PAID_AFTER_CLOSE,
                sale_id,
                out_trade_no,
                {**detail, "closed_as": observed},
                f"after_close:{sale_id}",
                at,
            )
            return PaidOutcome(PaidStatus.PAID_AFTER_CLOSE, _load_sale(conn, sale_id), job_id, flag_id)
        return PaidOutcome(PaidStatus.PAID, _sale(paid_row, _load_items(conn, sale_id)), job_id)

    def payments_for_sale(self, sale_id: int) -> list[Payment]:
        """Every payment reported for the sale, accepted or kept for the manager, oldest first."""
        with self._read() as conn:
            rows = conn.execute(select(payments).where(payments.c.sale_id == sale_id).order_by(payments.c.id))
            return [_payment(r) for r in rows]

    # -- refunds ------------------------------------------------------------------------

    def start_refund(
        self,
        sale_id: int,
        refund_fee: int,
        *,
        reason: str = "",
        out_refund_no: str | None = None,
        now: datetime | None = None,
    ) -> Refund:
        """Reserve ``refund_fee`` of a PAID / PARTLY_REFUNDED sale and return a PENDING refund.

        The check "all refunds not failed <= the amount paid" and the reservation
        are one conditional UPDATE, so two managers refunding at once cannot
        exceed the payment. The out_refund_no is generated (``<out_trade_no>-R1``,
        ``-R2``...) unless given; starting again with an existing out_refund_no
        for the same sale and amount returns that refund unchanged (WeChat wants a
        retried refund to reuse its number).
        """
        at = self._now(now)
        _check_fen(refund_fee, "refund_fee")
        with self._write() as conn:
            if out_refund_no is not None:
                existing = conn.execute(
                    select(refunds).where(refunds.c.out_refund_no == out_refund_no)
                ).first()
                if existing is not None:
                    if existing.sale_id != sale_id or existing.refund_fee != refund_fee:
                        raise RefundRefused(
                            f"out_refund_no {out_refund_no} is already used for sale {existing.sale_id} "
                            f"({existing.refund_fee} fen)"
                        )
                    return _refund(existing)
            result = conn.execute(
                update(sales)
                .where(
                    sales.c.id == sale_id,
                    sales.c.state.in_([SaleState.PAID.value, SaleState.PARTLY_REFUNDED.value]),
                    sales.c.refund_reserved_fee + refund_fee <= sales.c.total_fee,
                )
                .values(refund_reserved_fee=sales.c.refund_reserved_fee + refund_fee, updated_at=at)
            )
            if result.rowcount != 1:
                row = conn.execute(select(sales).where(sales.c.id == sale_id)).first()
                if row is None:
                    raise UnknownSale(sale_id)
                if SaleState(row.state) not in (SaleState.PAID, SaleState.PARTLY_REFUNDED):
                    raise InvalidTransition(
                        sale_id=sale_id,
                        out_trade_no=row.out_trade_no,
                        action="start_refund",
                        current=SaleState(row.state),
                        allowed=(SaleState.PAID, SaleState.PARTLY_REFUNDED),
                    )
                left = row.total_fee - row.refund_reserved_fee
                raise RefundRefused(
                    f"cannot refund {refund_fee} fen of sale {sale_id} ({row.out_trade_no}): "
                    f"only {left} fen of {row.total_fee} is left to refund"
                )
            if out_refund_no is None:
                otn = conn.execute(select(sales.c.out_trade_no).where(sales.c.id == sale_id)).scalar_one()
                count = conn.execute(
                    select(func.count()).select_from(refunds).where(refunds.c.sale_id == sale_id)
                ).scalar_one()
                out_refund_no = f"{otn}-R{count + 1}"
            elif not isinstance(out_refund_no, str) or not 1 <= len(out_refund_no) <= 64:
                raise InvalidInput(f"out_refund_no must be 1-64 characters, not {out_refund_no!r}")
            refund_row_id = conn.execute(
                insert(refunds)
                .values(
                    sale_id=sale_id,
                    out_refund_no=out_refund_no,
                    refund_fee=refund_fee,
                    state=RefundState.PENDING.value,
                    reason=reason,
                    requested_at=at,
                )
                .returning(refunds.c.id)
            ).scalar_one()
            _event(
                conn,
                sale_id,
                "refund_started",
                {"out_refund_no": out_refund_no, "refund_fee": refund_fee},
                at,
            )
            refund = _refund(conn.execute(select(refunds).where(refunds.c.id == refund_row_id)).one())
        log.info("refund_started", sale=sale_id, out_refund_no=out_refund_no, refund_fee=refund_fee)
        return refund

    def complete_refund(
        self,
        out_refund_no: str,
        *,
        refund_id: str | None = None,
        print_slip: bool = True,
        now: datetime | None = None,
    ) -> RefundOutcome:
        """WeChat confirmed the refund: PENDING -> SUCCEEDED, and the sale PAID / PARTLY_REFUNDED ->
        PARTLY_REFUNDED, or REFUNDED once everything went back. Queues the refund slip. A repeat
        (a second refund notice) returns ``already_done=True`` and changes nothing."""
        at = self._now(now)
        with self._write() as conn:
            refund = self._refund_by_no(conn, out_refund_no)
            result = conn.execute(
                update(refunds)
                .where(refunds.c.id == refund.id, refunds.c.state == RefundState.PENDING.value)
                .values(state=RefundState.SUCCEEDED.value, refund_id=refund_id, completed_at=at)
            )
            if result.rowcount != 1:
                refund = self._refund_by_no(conn, out_refund_no)
                if refund.state is RefundState.SUCCEEDED:
                    return RefundOutcome(refund, _load_sale(conn, refund.sale_id), already_done=True)
                raise RefundRefused(f"refund {out_refund_no} is {refund.state}, it cannot succeed now")
            fee = refund.refund_fee
            conn.execute(
                update(sales)
                .where(
                    sales.c.id == refund.sale_id,
                    sales.c.state.in_([SaleState.PAID.value, SaleState.PARTLY_REFUNDED.value]),
                )
                .values(
                    refunded_fee=sales.c.refunded_fee + fee,
                    state=case(
                        (sales.c.refunded_fee + fee >= sales.c.total_fee, SaleState.REFUNDED.value),
                        else_=SaleState.PARTLY_REFUNDED.value,
                    ),
                    updated_at=at,
                )
            )
            job_id = None
            if print_slip:
                job_id = _enqueue(
                    conn, JobKind.REFUND_SLIP, refund.sale_id, {"out_refund_no": out_refund_no}, at
                )
            _event(conn, refund.sale_id, "refunded", {"out_refund_no": out_refund_no, "refund_fee": fee}, at)
            outcome = RefundOutcome(
                self._refund_by_no(conn, out_refund_no), _load_sale(conn, refund.sale_id), False, job_id
            )
        log.info("refunded", sale=refund.sale_id, out_refund_no=out_refund_no, state=outcome.sale.state)
        return outcome

    def fail_refund(self, out_refund_no: str, message: str, *, now: datetime | None = None) -> Refund:
        """WeChat closed the refund (REFUNDCLOSE, CHANGE): PENDING -> FAILED, the reserved amount is
        released, and the manager gets a flag. A refund that merely errored (SYSTEMERROR) stays
        PENDING: retry it with the same out_refund_no instead."""
        at = self._now(now)
        with self._write() as conn:
            refund = self._refund_by_no(conn, out_refund_no)
            result = conn.execute(
                update(refunds)
                .where(refunds.c.id == refund.id, refunds.c.state == RefundState.PENDING.value)
                .values(state=RefundState.FAILED.value, failure=message, completed_at=at)
            )
            if result.rowcount != 1:
                current = self._refund_by_no(conn, out_refund_no)
                if current.state is RefundState.FAILED:
                    return current
                raise RefundRefused(f"refund {out_refund_no} is {current.state}, it cannot fail now")
            conn.execute(
                update(sales)
                .where(sales.c.id == refund.sale_id)
                .values(refund_reserved_fee=sales.c.refund_reserved_fee - refund.refund_fee, updated_at=at)
            )
            otn = conn.execute(select(sales.c.out_trade_no).where(sales.c.id == refund.sale_id)).scalar_one()
            _flag(
                conn,
                FlagKind.REFUND_FAILED,
                refund.sale_id,
                otn,
                {"out_refund_no": out_refund_no, "refund_fee": refund.refund_fee, "message": message},
                f"refund_failed:{out_refund_no}",
                at,
            )
            _event(
                conn,
                refund.sale_id,
                "refund_failed",
                {"out_refund_no": out_refund_no, "message": message},
                at,
            )
            failed = self._refund_by_no(conn, out_refund_no)
        log.warning("refund_failed", sale=refund.sale_id, out_refund_no=out_refund_no, message=message)
        return failed

    def refunds_for_sale(self, sale_id: int) -> list[Refund]:
        with self._read() as conn:
            rows = conn.execute(select(refunds).where(refunds.c.sale_id == sale_id).order_by(refunds.c.id))
            return [_refund(r) for r in rows]

    def get_refund(self, out_refund_no: str) -> Refund:
        with self._read() as conn:
            return self._refund_by_no(conn, out_refund_no)

    @staticmethod
    def _refund_by_no(conn: Connection, out_refund_no: str) -> Refund:
        row = conn.execute(select(refunds).where(refunds.c.out_refund_no == out_refund_no)).first()
        if row is None:
            raise UnknownRefund(out_refund_no)
        return _refund(row)

    # -- reading sales ------------------------------------------------------------------

    def get_sale(self, sale_id: int) -> Sale:
        """The sale with its items; raises :class:`UnknownSale`."""
        with self._read() as conn:
            return _load_sale(conn, sale_id)

    def sale_by_out_trade_no(self, out_trade_no: str) -> Sale:
        """The sale with its items; raises :class:`UnknownSale`."""
        with self._read() as conn:
            row = _SALE_BY_OUT_TRADE_NO.first(conn, {"b_out_trade_no": out_trade_no})
            if row is None:
                raise UnknownSale(out_trade_no)
            return _sale(row, _load_items(conn, row.id))

    def payment_summary(self, out_trade_no: str) -> PaymentSummary | None:
        """What a payment notice is checked against before anything is written (the order's sign
        type, its total, whether and by which transaction it is paid), in one small read; None for
        an unknown out_trade_no. A snapshot for deciding what to do: only :meth:`mark_paid` decides
        a payment."""
        # One statement is its own consistent snapshot: no BEGIN/COMMIT round (on SQLite the driver
        # runs it in autocommit; elsewhere the connection's implicit transaction ends at its return).
        with self.engine.connect() as conn:
            row = _SUMMARY_BY_OUT_TRADE_NO.first(conn, {"b_out_trade_no": out_trade_no})
        if row is None:
            return None
        return PaymentSummary(
            row.id, row.out_trade_no, row.sign_type, row.total_fee, SaleState(row.state), row.transaction_id
        )

    def sales_for_day(self, day: date, *, store: str | None = None, lane: str | None = None) -> list[Sale]:
        """Every sale of a business day (the store's calendar day), in the order they were rung up."""
        where = [sales.c.business_date == day]
        if store is not None:
            where.append(sales.c.store == store)
        if lane is not None:
            where.append(sales.c.lane == lane)
        return self._sales(and_(*where))

    def pending_sales(self) -> list[Sale]:
        """NEW and AWAITING_PAYMENT sales: what the watcher resumes after a restart.

        Sales with a void request come first (oldest request first: a customer
        must not be able to pay them any longer), then the rest, oldest first.
        """
        # The watcher asks on every pass: both statements compiled once (pos.ledger.prepared).
        with self._read() as conn:
            by_sale: dict[int, list[SaleItem]] = {}
            for item in _PENDING_ITEMS.rows(conn, {}):
                by_sale.setdefault(item.sale_id, []).append(_item(item))
            return [_sale(row, by_sale.get(row.id, ())) for row in _PENDING_SALES.rows(conn, {})]

    def _sales(self, where: Any, *, order_by: Sequence[Any] = (sales.c.id,)) -> list[Sale]:
        with self._read() as conn:
            rows = conn.execute(select(sales).where(where).order_by(*order_by)).all()
            item_rows = conn.execute(
                select(sale_items)
                .where(sale_items.c.sale_id.in_(select(sales.c.id).where(where)))
                .order_by(sale_items.c.sale_id, sale_items.c.position)
            )
            by_sale: dict[int, list[SaleItem]] = {}
            for item in item_rows:
                by_sale.setdefault(item.sale_id, []).append(_item(item))
            return [_sale(row, by_sale.get(row.id, ())) for row in rows]

    # -- print queue --------------------------------------------------------------------

    def enqueue_job(
        self,
        kind: JobKind | str,
        *,
        sale_id: int | None = None,
        payload: Mapping[str, Any] | None = None,
        now: datetime | None = None,
    ) -> PrintJob:
        """Queue a document for the spooler; ``payload`` (JSON-able) says what to print for jobs
        without a sale (a Z report's date, a label's product)."""
        at = self._now(now)
        kind = _enum(JobKind, kind, "kind")
        with self._write() as conn:
            job_id = _enqueue(conn, kind, sale_id, payload, at)
            return _load_job(conn, job_id)

    def claim_next_job(self, *, now: datetime | None = None) -> PrintJob | None:
        """Take the oldest queued job and mark it printing, atomically: two spoolers never get
        the same job. None when the queue is empty."""
        at = self._now(now)
        with self._write() as conn:
            while True:
                # One statement: the oldest queued job becomes "printing" and comes back (RETURNING).
                row = _CLAIM_JOB.first(conn, {"b_at": at})
                if row is not None:
                    return _job(row)
                # Nothing claimed: the queue is empty, or (PostgreSQL, READ COMMITTED) another
                # spooler took the job between the subquery and the UPDATE; look again then.
                if _ANY_QUEUED.first(conn, {}) is None:
                    return None

    def job_done(self, job_id: int, *, now: datetime | None = None) -> PrintJob:
        """The job's bytes were written to the printer: printing -> done."""
        at = self._now(now)
        with self._write() as conn:
            row = _JOB_DONE.first(conn, {"b_id": job_id, "b_at": at})
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

    def requeue_interrupted_jobs(self, *, now: datetime | None = None) -> list[PrintJob]:
        """Put jobs left "printing" by a crash back in the queue; call it once when THE spooler starts.

        A job is "printing" between :meth:`claim_next_job` and :meth:`job_done`. If
        the process died in between, we cannot know whether the bytes reached the
        paper. We print again: a duplicate receipt is a nuisance, a lost payment
        confirmation is a customer arguing with the cashier. Nothing is printed
        twice *on purpose*: this is the only path, it counts as an attempt, and its
        last_error says so. Only the process that owns the printer may call this
        (never the listener, never at :func:`open_ledger`), or it would re-queue a
        job that is printing right now.
        """
        at = self._now(now)
        with self._write() as conn:
            left = conn.execute(
                select(print_jobs.c.id, print_jobs.c.sale_id, print_jobs.c.kind, print_jobs.c.sent_at)
                .where(print_jobs.c.state == JobState.PRINTING.value)
                .order_by(print_jobs.c.id)
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
                        _event(conn, row.sale_id, "reprint", detail, at)
                log.warning("jobs_requeued", jobs=",".join(map(str, ids)), reason="interrupted")
            return [_load_job(conn, job_id) for job_id in ids]

    def reprint(
        self, sale_id: int, kind: JobKind | str, *, by: str = "", now: datetime | None = None
    ) -> PrintJob:
        """Queue a new copy of the sale's latest ``kind`` document, linked to it by ``reprint_of``;
        the event log keeps who asked (``by``: the signed-in cashier, when there is one)."""
        at = self._now(now)
        kind = _enum(JobKind, kind, "kind")
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
            job_id = _enqueue(conn, kind, sale_id, payload, at, reprint_of=original.id)
            detail: dict[str, Any] = {"kind": kind, "of": original.id}
            if by:
                detail["by"] = by[:64]
            _event(conn, sale_id, "reprint", detail, at)
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

    def unfinished_jobs(self) -> list[PrintJob]:
        """Queued and printing jobs, oldest first (the spooler's status page)."""
        with self._read() as conn:
            rows = conn.execute(
                select(print_jobs).where(print_jobs.c.state != JobState.DONE.value).order_by(print_jobs.c.id)
            )
            return [_job(r) for r in rows]

    def _job_transition(self, job_id: int, action: str, expected: JobState, **values: Any) -> PrintJob:
        with self._write() as conn:
            result = conn.execute(
                update(print_jobs)
                .where(print_jobs.c.id == job_id, print_jobs.c.state == expected.value)
                .values(**values)
            )
            if result.rowcount != 1:
                _refuse_job(conn, job_id, action)
            return _load_job(conn, job_id)

    # -- audit: messages, events, flags -------------------------------------------------

    def record_message(
        self,
        kind: MessageKind | str,
        raw: Raw,
        *,
        verdict: str,
        out_trade_no: str | None = None,
        now: datetime | None = None,
    ) -> int:
        """Keep a received message as it came (bytes, text or fields) with what we made of it
        (``verdict``: "bad_signature", "not_paid", ...). Messages passed to :meth:`mark_paid` as
        ``raw`` are recorded there; use this for the rest."""
        at = self._now(now)
        kind = _enum(MessageKind, kind, "kind")
        with self._write() as conn:
            return _message(conn, kind, out_trade_no, raw, verdict, at)

    def messages_for(self, out_trade_no: str) -> list[Message]:
        with self._read() as conn:
            rows = conn.execute(
                select(messages).where(messages.c.out_trade_no == out_trade_no).order_by(messages.c.id)
            )
            return [
                Message(r.id, MessageKind(r.kind), r.out_trade_no, r.raw, r.verdict, r.received_at)
                for r in rows
            ]

    def log_event(
        self,
        event: str,
        *,
        sale_id: int | None = None,
        detail: Mapping[str, Any] | None = None,
        now: datetime | None = None,
    ) -> int:
        """Add a line to the event log (e.g. "close_failed" with WeChat's err_code); transitions log
        their own events."""
        at = self._now(now)
        with self._write() as conn:
            return _event(conn, sale_id, event, detail, at)

    def events_for_sale(self, sale_id: int) -> list[Event]:
        with self._read() as conn:
            rows = conn.execute(select(events).where(events.c.sale_id == sale_id).order_by(events.c.id))
            return [Event(r.id, r.sale_id, r.event, _loads(r.detail), r.at) for r in rows]

    def open_flags(self) -> list[Flag]:
        """Anomalies not yet resolved by the manager, oldest first."""
        return self._flags(flags.c.resolved_at.is_(None))

    def flags_for_sale(self, sale_id: int) -> list[Flag]:
        return self._flags(flags.c.sale_id == sale_id)

    def resolve_flag(self, flag_id: int, *, by: str, note: str = "", now: datetime | None = None) -> Flag:
        """The manager looked at it. Resolving twice keeps the first resolution."""
        at = self._now(now)
        with self._write() as conn:
            conn.execute(
                update(flags)
                .where(flags.c.id == flag_id, flags.c.resolved_at.is_(None))
                .values(resolved_at=at, resolved_by=by, resolution=note)
            )
            row = conn.execute(select(flags).where(flags.c.id == flag_id)).first()
            if row is None:
                raise LedgerError(f"no flag {flag_id}")
            return _flag_record(row)

    def _flags(self, where: Any) -> list[Flag]:
        with self._read() as conn:
            return [_flag_record(r) for r in conn.execute(select(flags).where(where).order_by(flags.c.id))]


# -- helpers that run inside a caller's transaction ---------------------------------------


def _next_sequence(conn: Connection, store: str, lane: str, day: date) -> int:
    """The day's next number for the lane, atomically: an upsert that returns the new value."""
    if conn.dialect.name not in ("postgresql", "sqlite"):  # pragma: no cover - SQLite and PostgreSQL only
        raise LedgerError(f"unsupported database {conn.dialect.name}")
    return _sequence_upsert(conn.dialect.name).scalar(conn, {"b_store": store, "b_lane": lane, "b_day": day})


@functools.cache
def _sequence_upsert(dialect: str) -> Prepared:
    """The upsert behind :func:`_next_sequence`, built once per dialect."""
    columns = day_sequences.c
    statement = (
        _upsert(dialect)(day_sequences)
        .values(
            store=bindparam("b_store", type_=columns.store.type),
            lane=bindparam("b_lane", type_=columns.lane.type),
            business_date=bindparam("b_day", type_=columns.business_date.type),
            last=1,
        )
        .on_conflict_do_update(
            index_elements=[columns.store, columns.lane, columns.business_date],
            set_={"last": columns.last + 1},
        )
        .returning(columns.last)
    )
    return Prepared(statement)


@functools.cache
def _transition_statement(allowed: tuple[str, ...], target: str, columns: tuple[str, ...]) -> Prepared:
    """A sale's conditional UPDATE (state in ``allowed`` -> ``target``, setting ``columns`` from
    ``v_<column>`` parameters), built once per shape; it returns the updated row."""
    state = sales.c.state
    condition = state == allowed[0] if len(allowed) == 1 else or_(*(state == value for value in allowed))
    values: dict[str, Any] = {
        "state": target,
        "updated_at": bindparam("b_at", type_=sales.c.updated_at.type),
    }
    values.update({name: bindparam(f"v_{name}", type_=sales.c[name].type) for name in columns})
    return Prepared(
        update(sales).where(sales.c.id == bindparam("b_id"), condition).values(**values).returning(*sales.c)
    )


def _refuse_job(conn: Connection, job_id: int, action: str) -> None:
    """A job's conditional UPDATE touched no row: say why (no such job, or the wrong state)."""
    current = conn.execute(select(print_jobs.c.state).where(print_jobs.c.id == job_id)).scalar()
    if current is None:
        raise UnknownJob(job_id)
    raise InvalidJobState(job_id=job_id, action=action, current=JobState(current))


def _upsert(dialect: str) -> Any:
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as upsert
    else:
        from sqlalchemy.dialects.sqlite import insert as upsert
    return upsert


def _insert_ignore(conn: Connection, table: Any, values: dict[str, Any], conflict: list[Any]) -> None:
    upsert = _upsert(conn.dialect.name)
    conn.execute(upsert(table).values(**values).on_conflict_do_nothing(index_elements=conflict))


_PAYMENT_COLUMNS = (
    "sale_id",
    "transaction_id",
    "total_fee",
    "cash_fee",
    "openid",
    "time_end",
    "source",
    "accepted",
    "recorded_at",
)


@functools.cache
def _payment_insert(dialect: str) -> Prepared:
    """INSERT a payment unless its transaction_id is stored already; built once per dialect."""
    statement = _upsert(dialect)(payments).on_conflict_do_nothing(index_elements=[payments.c.transaction_id])
    return Prepared(statement, column_keys=_PAYMENT_COLUMNS)


def _store_payment(
    conn: Connection, sale_id: int, report: dict[str, Any], *, accepted: bool, at: datetime
) -> None:
    _payment_insert(conn.dialect.name).execute(
        conn,
        {
            "sale_id": sale_id,
            "transaction_id": report["transaction_id"],
            "total_fee": report["total_fee"],
            "cash_fee": report["cash_fee"],
            "openid": report["openid"],
            "time_end": report["time_end"],
            "source": report["source"].value,
            "accepted": accepted,
            "recorded_at": at,
        },
    )


def _flag(
    conn: Connection,
    kind: FlagKind,
    sale_id: int | None,
    out_trade_no: str | None,
    detail: Mapping[str, Any],
    dedupe_key: str,
    at: datetime,
) -> int:
    """Raise an anomaly once: the same report repeated finds the flag already there."""
    _insert_ignore(
        conn,
        flags,
        {
            "sale_id": sale_id,
            "out_trade_no": out_trade_no,
            "kind": kind.value,
            "detail": _dumps(detail),
            "dedupe_key": f"{kind.value}:{dedupe_key}"[:160],
            "raised_at": at,
        },
        [flags.c.dedupe_key],
    )
    if sale_id is not None:
        conn.execute(update(sales).where(sales.c.id == sale_id).values(flagged=True))
    log.warning("flag", kind=kind.value, sale=sale_id or "-", out_trade_no=out_trade_no)
    return conn.execute(
        select(flags.c.id).where(flags.c.dedupe_key == f"{kind.value}:{dedupe_key}"[:160])
    ).scalar_one()


# Statements the payment path runs on every report, built and compiled once (see pos.ledger.prepared:
# on SQLite they skip SQLAlchemy's per-execution work, which was most of mark_paid's cost).
_ENQUEUE = Prepared(
    insert(print_jobs).returning(print_jobs.c.id),
    column_keys=("sale_id", "kind", "state", "payload", "reprint_of", "created_at"),
)
_EVENT = Prepared(insert(events).returning(events.c.id), column_keys=("sale_id", "event", "detail", "at"))
_pending = or_(sales.c.state == SaleState.NEW.value, sales.c.state == SaleState.AWAITING_PAYMENT.value)
_PENDING_SALES = Prepared(
    select(sales)
    .where(_pending)
    .order_by(sales.c.void_requested_at.is_(None), sales.c.void_requested_at, sales.c.id)
)
_PENDING_ITEMS = Prepared(
    select(sale_items)
    .where(sale_items.c.sale_id.in_(select(sales.c.id).where(_pending)))
    .order_by(sale_items.c.sale_id, sale_items.c.position)
)
# The checkout path: a new sale and its lines, each returned as stored; the spooler's claim and done.
_INSERT_SALE = Prepared(
    insert(sales).returning(*sales.c),
    column_keys=(
        "out_trade_no",
        "store",
        "lane",
        "cashier",
        "business_date",
        "body",
        "total_fee",
        "state",
        "sign_type",
        "created_at",
        "updated_at",
        "items_text",
    ),
)
_INSERT_ITEM = Prepared(
    insert(sale_items).returning(*sale_items.c),
    column_keys=("sale_id", "position", "name", "qty", "unit_price", "amount"),
)
_queued = print_jobs.alias("queued")
_CLAIM_JOB = Prepared(
    update(print_jobs)
    .where(
        print_jobs.c.id
        == select(_queued.c.id)
        .where(_queued.c.state == JobState.QUEUED.value)
        .order_by(_queued.c.id)
        .limit(1)
        .scalar_subquery(),
        print_jobs.c.state == JobState.QUEUED.value,
    )
    .values(
        state=JobState.PRINTING.value,
        claimed_at=bindparam("b_at", type_=print_jobs.c.claimed_at.type),
    )
    .returning(*print_jobs.c)
)
_ANY_QUEUED = Prepared(select(print_jobs.c.id).where(print_jobs.c.state == JobState.QUEUED.value).limit(1))
_JOB_DONE = Prepared(
    update(print_jobs)
    .where(print_jobs.c.id == bindparam("b_id"), print_jobs.c.state == JobState.PRINTING.value)
    .values(state=JobState.DONE.value, printed_at=bindparam("b_at", type_=print_jobs.c.printed_at.type))
    .returning(*print_jobs.c)
)
_MESSAGE = Prepared(
    insert(messages).returning(messages.c.id),
    column_keys=("kind", "out_trade_no", "raw", "verdict", "received_at"),
)
_SALE_BY_ID = Prepared(select(sales).where(sales.c.id == bindparam("b_id")))
_SALE_BY_OUT_TRADE_NO = Prepared(select(sales).where(sales.c.out_trade_no == bindparam("b_out_trade_no")))
_ITEMS = Prepared(
    select(sale_items).where(sale_items.c.sale_id == bindparam("b_id")).order_by(sale_items.c.position)
)
_known = payments.alias("known")
_SALE_WITH_PAYMENT = Prepared(
    select(
        sales,
        _known.c.sale_id.label("known_sale_id"),
        _known.c.total_fee.label("known_total_fee"),
        _known.c.accepted.label("known_accepted"),
    )
    .select_from(sales.outerjoin(_known, _known.c.transaction_id == bindparam("b_transaction_id")))
    .where(sales.c.out_trade_no == bindparam("b_out_trade_no"))
)
_PAY_SALE = Prepared(
    update(sales)
    .where(sales.c.id == bindparam("b_id"), sales.c.state == bindparam("b_observed"))
    .values(
        state=SaleState.PAID.value,
        paid_at=bindparam("b_at", type_=sales.c.paid_at.type),
        transaction_id=bindparam("b_transaction_id", type_=sales.c.transaction_id.type),
        updated_at=bindparam("b_at", type_=sales.c.updated_at.type),
    )
    .returning(*sales.c)
)
_SUMMARY_BY_OUT_TRADE_NO = Prepared(
    select(
        sales.c.id,
        sales.c.out_trade_no,
        sales.c.sign_type,
        sales.c.total_fee,
        sales.c.state,
        sales.c.transaction_id,
    ).where(sales.c.out_trade_no == bindparam("b_out_trade_no"))
)


def _enqueue(
    conn: Connection,
    kind: JobKind,
    sale_id: int | None,
    payload: Mapping[str, Any] | None,
    at: datetime,
    *,
    reprint_of: int | None = None,
) -> int:
    return _ENQUEUE.scalar(
        conn,
        {
            "sale_id": sale_id,
            "kind": kind.value,
            "state": JobState.QUEUED.value,
            "payload": _dumps(payload) if payload is not None else None,
            "reprint_of": reprint_of,
            "created_at": at,
        },
    )


def _event(
    conn: Connection, sale_id: int | None, event: str, detail: Mapping[str, Any] | None, at: datetime
) -> int:
    return _EVENT.scalar(
        conn, {"sale_id": sale_id, "event": event, "detail": _dumps(detail) if detail else None, "at": at}
    )


def _message(
    conn: Connection, kind: MessageKind, out_trade_no: str | None, raw: Raw, verdict: str, at: datetime
) -> int:
    if isinstance(raw, bytes):
        text = raw.decode("utf-8", errors="replace")
    elif isinstance(raw, str):
        text = raw
    else:
        text = _dumps(raw)
    return _MESSAGE.scalar(
        conn,
        {
            "kind": kind.value,
            "out_trade_no": out_trade_no,
            "raw": text,
            "verdict": verdict[:64],
            "received_at": at,
        },
    )


def _load_sale(conn: Connection, sale_id: int) -> Sale:
    row = _SALE_BY_ID.first(conn, {"b_id": sale_id})
    if row is None:
        raise UnknownSale(sale_id)
    return _sale(row, _load_items(conn, sale_id))


def _load_items(conn: Connection, sale_id: int) -> list[SaleItem]:
    return [_item(i) for i in _ITEMS.rows(conn, {"b_id": sale_id})]


def _load_job(conn: Connection, job_id: int) -> PrintJob:
    row = conn.execute(select(print_jobs).where(print_jobs.c.id == job_id)).first()
    if row is None:
        raise UnknownJob(job_id)
    return _job(row)


# -- rows to records ------------------------------------------------------------------------


def _sale(row: Row[Any], items: Iterable[SaleItem]) -> Sale:
    return Sale(
        id=row.id,
        out_trade_no=row.out_trade_no,
        store=row.store,
        lane=row.lane,
        cashier=row.cashier,
        business_date=row.business_date,
        body=row.body,
        total_fee=row.total_fee,
        state=SaleState(row.state),
        sign_type=row.sign_type,
        code_url=row.code_url,
        prepay_id=row.prepay_id,
        created_at=row.created_at,
        ordered_at=row.ordered_at,
        expires_at=row.expires_at,
        paid_at=row.paid_at,
        closed_at=row.closed_at,
        transaction_id=row.transaction_id,
        failure=row.failure,
        refund_reserved_fee=row.refund_reserved_fee,
        refunded_fee=row.refunded_fee,
        flagged=bool(row.flagged),
        updated_at=row.updated_at,
        items=tuple(items),
        void_requested_at=row.void_requested_at,
        void_requested_by=row.void_requested_by,
    )


def _item(row: Row[Any]) -> SaleItem:
    return SaleItem(row.id, row.sale_id, row.position, row.name, row.qty, row.unit_price, row.amount)


def _payment(row: Row[Any]) -> Payment:
    return Payment(
        id=row.id,
        sale_id=row.sale_id,
        transaction_id=row.transaction_id,
        total_fee=row.total_fee,
        cash_fee=row.cash_fee,
        openid=row.openid,
        time_end=row.time_end,
        source=PaymentSource(row.source),
        accepted=bool(row.accepted),
        recorded_at=row.recorded_at,
    )


def _refund(row: Row[Any]) -> Refund:
    return Refund(
        id=row.id,
        sale_id=row.sale_id,
        out_refund_no=row.out_refund_no,
        refund_fee=row.refund_fee,
        state=RefundState(row.state),
        refund_id=row.refund_id,
        reason=row.reason,
        failure=row.failure,
        requested_at=row.requested_at,
        completed_at=row.completed_at,
    )


def _job(row: Row[Any]) -> PrintJob:
    return PrintJob(
        id=row.id,
        sale_id=row.sale_id,
        kind=JobKind(row.kind),
        state=JobState(row.state),
        attempts=row.attempts,
        last_error=row.last_error,
        payload=_loads(row.payload),
        reprint_of=row.reprint_of,
        created_at=row.created_at,
        claimed_at=row.claimed_at,
        printed_at=row.printed_at,
        sent_at=row.sent_at,
        interrupted_at=row.interrupted_at,
    )


def _flag_record(row: Row[Any]) -> Flag:
    return Flag(
        id=row.id,
        sale_id=row.sale_id,
        out_trade_no=row.out_trade_no,
        kind=FlagKind(row.kind),
        detail=_loads(row.detail),
        raised_at=row.raised_at,
        resolved_at=row.resolved_at,
        resolved_by=row.resolved_by,
        resolution=row.resolution,
    )


# -- small checks ---------------------------------------------------------------------------


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _loads(text: str | None) -> Any:
    return json.loads(text) if text else None


def _check_fen(value: Any, name: str, *, allow_zero: bool = False) -> int:
    low = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_FEN:
        raise InvalidInput(f"{name} must be whole fen from {low} to {MAX_FEN}, not {value!r}")
    return value


def _check_item(index: int, item: LineItem) -> LineItem:
    if not isinstance(item, LineItem):
        raise InvalidInput(f"item {index + 1} must be a LineItem, not {item!r}")
    if not isinstance(item.name, str) or not item.name.strip() or len(item.name) > 128:
        raise InvalidInput(f"item {index + 1} needs a name of 1-128 characters, not {item.name!r}")
    _check_fen(item.unit_price, f"item {index + 1} unit_price", allow_zero=True)
    if isinstance(item.qty, bool) or not isinstance(item.qty, int) or not 1 <= item.qty <= 9999:
        raise InvalidInput(f"item {index + 1} qty must be a whole number from 1 to 9999, not {item.qty!r}")
    return item


def _enum(cls: Any, value: Any, name: str) -> Any:
    try:
        return cls(value)
    except ValueError:
        raise InvalidInput(
            f"{name} must be one of {', '.join(m.value for m in cls)}, not {value!r}"
        ) from None


def _log(event: str, sale: Sale, **fields: Any) -> None:
    extra = {key: value for key, value in fields.items() if value not in (None, "")}
    log.info(event, sale=sale.id, out_trade_no=sale.out_trade_no, state=sale.state, **extra)
