"""Payments: WeChat says a sale was paid, and the database decides what that means, once.

:meth:`Payments.mark_paid` is THE function for the listener and the watcher
(and, through :func:`pos.ledger.reconciliation.record_bill_payment`, for the
bill). Each report is decided by a compare-and-set on the sale's state inside
one transaction with everything that goes with it: the payment row, the
confirmation slip, the event, the raw message and any flag. However many
reports of one payment race, exactly one makes the sale PAID and queues its
slip.

Coupons (reference/wechatpay-micropay.md §5): ``total_fee`` is the order's amount, the sale's price,
and is what a payment is checked against. With it each payment keeps ``cash_fee`` (what the
customer paid), ``coupon_fee`` (the coupons' total) and ``settlement_total_fee`` (应结订单金额, what
the merchant settles: the total less the merchant's own 免充值 coupons; the total when WeChat sends
none), and the sale keeps its accepted payment's three, written with the paid state. See
:func:`coupon_figures` for how a report that names only some of them is completed.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, bindparam, select, update

from pos.ledger.audit import raise_flag, write_event, write_message
from pos.ledger.core import LedgerCore, Raw, check_enum, check_fen, upsert
from pos.ledger.errors import InvalidInput
from pos.ledger.identifiers import check_aware
from pos.ledger.jobs import enqueue
from pos.ledger.models import (
    PAID_STATES,
    FlagKind,
    JobKind,
    MessageKind,
    PaidOutcome,
    PaidStatus,
    Payment,
    PaymentSource,
    SaleState,
)
from pos.ledger.sales import load_items, load_sale, sale_record
from pos.ledger.schema import payments, sales
from pos.log import get_logger

# The listener demotes this logger's INFO mark_paid events with source=notice (pos.listener.reply).
log = get_logger(__name__)

_MESSAGE_KINDS = {
    PaymentSource.NOTICE: MessageKind.NOTICE,
    PaymentSource.QUERY: MessageKind.QUERY,
    PaymentSource.BILL: MessageKind.BILL,
}


@dataclass(frozen=True, slots=True)
class PaymentReport:
    """WeChat says ``out_trade_no`` was paid: one checked report (see :meth:`Payments.payment_report`)."""

    out_trade_no: str
    transaction_id: str
    total_fee: int
    time_end: datetime
    source: PaymentSource
    cash_fee: int | None = None
    openid: str | None = None
    raw: Raw | None = None
    coupon_fee: int | None = None
    settlement_total_fee: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """The payment's facts as stored in the payments table and in flags' details."""
        return {
            "transaction_id": self.transaction_id,
            "total_fee": self.total_fee,
            "cash_fee": self.cash_fee,
            "coupon_fee": self.coupon_fee,
            "settlement_total_fee": self.settlement_total_fee,
            "openid": self.openid,
            "time_end": self.time_end,
            "source": self.source,
        }


@dataclass(frozen=True, slots=True)
class PaymentSummary:
    """The few facts of a sale a payment notice needs before it is verified (see
    :meth:`Payments.payment_summary`); a snapshot, like every record."""

    id: int
    out_trade_no: str
    sign_type: str
    total_fee: int
    state: SaleState
    transaction_id: str | None


class Payments(LedgerCore):
    """Deciding payment reports, and reading payments (see the module docstring)."""

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
        coupon_fee: int | None = None,
        settlement_total_fee: int | None = None,
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
        audit log with the outcome, in the same transaction. ``cash_fee``,
        ``coupon_fee`` and ``settlement_total_fee`` are kept as :func:`coupon_figures`
        completes them; ``total_fee`` alone decides whether the amount is right.
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
            coupon_fee=coupon_fee,
            settlement_total_fee=settlement_total_fee,
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
        coupon_fee: int | None = None,
        settlement_total_fee: int | None = None,
    ) -> PaymentReport:
        """:meth:`mark_paid`'s arguments, checked (InvalidInput), as one report for :meth:`mark_paid_many`."""
        source = check_enum(PaymentSource, source, "source")
        if not isinstance(transaction_id, str) or not transaction_id or len(transaction_id) > 32:
            raise InvalidInput(f"transaction_id must be 1-32 characters, not {transaction_id!r}")
        check_fen(total_fee, "total_fee")
        for name, value in (
            ("cash_fee", cash_fee),
            ("coupon_fee", coupon_fee),
            ("settlement_total_fee", settlement_total_fee),
        ):
            if value is not None:
                check_fen(value, name, allow_zero=True)
        check_aware(time_end, "time_end")
        cash_fee, coupon_fee, settlement_total_fee = coupon_figures(
            total_fee, cash_fee, coupon_fee, settlement_total_fee
        )
        return PaymentReport(
            out_trade_no, transaction_id, total_fee, time_end, source, cash_fee, openid, raw,
            coupon_fee=coupon_fee, settlement_total_fee=settlement_total_fee,
        )  # fmt: skip

    def mark_paid_many(
        self, reports: Sequence[PaymentReport], *, now: datetime | None = None
    ) -> list[PaidOutcome]:
        """:meth:`mark_paid` for several reports in ONE transaction (group commit: one BEGIN, one
        COMMIT, one turn of SQLite's write lock for all of them). Each report is decided exactly as
        mark_paid decides it, so a later report of a sale sees what an earlier one wrote (the same
        payment twice: PAID, then ALREADY_PAID). Either every outcome is stored or, if the
        transaction fails, none is. Outcomes come back in the order of ``reports``.

        The reports are decided in out_trade_no order (a stable sort: one sale's reports keep
        theirs), whatever order they came in. On PostgreSQL each decision locks its sale's row to
        the end of the transaction; two listener processes writing batches of the same notices in
        the orders they arrived would each hold a row the other waits for, and the database would
        abort one batch as a deadlock. Taken in one order everywhere, a batch only ever waits.
        """
        at = self._now(now)
        order = sorted(range(len(reports)), key=lambda i: reports[i].out_trade_no)
        decided: dict[int, PaidOutcome] = {}
        with self._write() as conn:
            for i in order:
                decided[i] = decide_payment(conn, reports[i], at)
        outcomes = [decided[i] for i in range(len(reports))]
        log_outcomes(reports, outcomes)
        return outcomes

    def payments_for_sale(self, sale_id: int) -> list[Payment]:
        """Every payment reported for the sale, accepted or kept for the manager, oldest first."""
        with self._read() as conn:
            rows = conn.execute(select(payments).where(payments.c.sale_id == sale_id).order_by(payments.c.id))
            return [_payment(r) for r in rows]

    def payment_summary(self, out_trade_no: str) -> PaymentSummary | None:
        """What a payment notice is checked against before anything is written (the order's sign
        type, its total, whether and by which transaction it is paid), in one small read; None for
        an unknown out_trade_no. A snapshot for deciding what to do: only :meth:`mark_paid` decides
        a payment."""
        # One statement is its own consistent snapshot: no BEGIN/COMMIT round (on SQLite the driver
        # runs it in autocommit; elsewhere the connection's implicit transaction ends at its return).
        with self.engine.connect() as conn:
            row = conn.execute(_SUMMARY, {"b_out_trade_no": out_trade_no}).first()
        if row is None:
            return None
        return PaymentSummary(
            row.id, row.out_trade_no, row.sign_type, row.total_fee, SaleState(row.state), row.transaction_id
        )


def coupon_figures(
    total_fee: int, cash_fee: int | None, coupon_fee: int | None, settlement_total_fee: int | None
) -> tuple[int, int, int]:
    """``(cash_fee, coupon_fee, settlement_total_fee)`` of a payment of ``total_fee``, completed from
    what WeChat sent, by its own relations (reference/wechatpay-micropay.md §5.1): the coupons are
    ``total_fee - cash_fee`` when only the cash is given (0 when neither is: no coupon); the cash is
    ``total_fee - coupon_fee`` when only the coupons are given (as on the bill); the settlement is
    ``total_fee`` when absent (WeChat sends it only for a merchant's own 免充值 coupon).

    What WeChat did send is kept as it came, even when it does not add up: the report is signed,
    the money moved, and reconciliation is where a wrong figure shows (never dropped here).
    """
    if coupon_fee is None:
        coupon_fee = max(0, total_fee - cash_fee) if cash_fee is not None else 0
    if cash_fee is None:
        cash_fee = max(0, total_fee - coupon_fee)
    if settlement_total_fee is None:
        settlement_total_fee = total_fee
    return cash_fee, coupon_fee, settlement_total_fee


# -- inside a caller's transaction ---------------------------------------------------------------


def decide_payment(conn: Connection, report: PaymentReport, at: datetime) -> PaidOutcome:
    """Decide one report as :meth:`Payments.mark_paid` describes, and keep its raw message, in the
    caller's transaction (which must commit for any of it to count)."""
    outcome = _mark_paid(conn, report.out_trade_no, report.as_dict(), at)
    if report.raw is not None:
        kind = _MESSAGE_KINDS[report.source]
        write_message(conn, kind, report.out_trade_no, report.raw, outcome.status.value, at)
    return outcome


def log_outcomes(reports: Sequence[PaymentReport], outcomes: Sequence[PaidOutcome]) -> None:
    """One line per decided report, once its transaction has committed."""
    for report, outcome in zip(reports, outcomes, strict=True):
        quiet = outcome.status in (PaidStatus.PAID, PaidStatus.ALREADY_PAID)
        log.log(
            logging.INFO if quiet else logging.WARNING,
            "mark_paid",
            outcome=outcome.status.value,
            sale=outcome.sale.id if outcome.sale else "-",
            out_trade_no=report.out_trade_no,
            transaction_id=report.transaction_id,
            source=report.source.value,
        )


def _mark_paid(conn: Connection, out_trade_no: str, report: dict[str, Any], at: datetime) -> PaidOutcome:
    transaction_id = report["transaction_id"]
    total_fee = report["total_fee"]
    detail = {"out_trade_no": out_trade_no, **report}
    # The sale and any payment already stored under this transaction_id, in one read.
    row = conn.execute(
        _SALE_WITH_PAYMENT, {"b_out_trade_no": out_trade_no, "b_transaction_id": transaction_id}
    ).first()
    if row is None:
        flag_id = raise_flag(
            conn, FlagKind.UNKNOWN_ORDER, None, out_trade_no, detail, f"unknown:{transaction_id}", at
        )
        return PaidOutcome(PaidStatus.UNKNOWN_SALE, None, flag_id=flag_id)
    sale_id = row.id
    if row.known_sale_id is not None and (row.known_sale_id != sale_id or row.known_total_fee != total_fee):
        # One WeChat transaction reported for two sales or with two amounts: forged or corrupt.
        flag_id = raise_flag(
            conn,
            FlagKind.SECOND_PAYMENT,
            sale_id,
            out_trade_no,
            {**detail, "known_sale_id": row.known_sale_id, "known_total_fee": row.known_total_fee},
            f"conflict:{transaction_id}:{sale_id}:{total_fee}",
            at,
        )
        return PaidOutcome(PaidStatus.CONFLICTING_PAYMENT, load_sale(conn, sale_id), flag_id=flag_id)
    if row.known_sale_id is not None and row.known_accepted:
        return PaidOutcome(PaidStatus.ALREADY_PAID, sale_record(row, load_items(conn, sale_id)))

    if total_fee != row.total_fee:
        _store_payment(conn, sale_id, report, accepted=False, at=at)
        flag_id = raise_flag(
            conn,
            FlagKind.AMOUNT_MISMATCH,
            sale_id,
            out_trade_no,
            {**detail, "sale_total_fee": row.total_fee},
            f"amount:{transaction_id}:{total_fee}",
            at,
        )
        write_event(conn, sale_id, "amount_mismatch", {"reported": total_fee, "expected": row.total_fee}, at)
        return PaidOutcome(PaidStatus.AMOUNT_MISMATCH, load_sale(conn, sale_id), flag_id=flag_id)

    observed = SaleState(row.state)
    current = row.transaction_id
    while True:
        if observed in PAID_STATES:
            if current == transaction_id:
                return PaidOutcome(PaidStatus.ALREADY_PAID, load_sale(conn, sale_id))
            _store_payment(conn, sale_id, report, accepted=False, at=at)
            flag_id = raise_flag(
                conn,
                FlagKind.SECOND_PAYMENT,
                sale_id,
                out_trade_no,
                {**detail, "paid_transaction_id": current},
                f"second:{transaction_id}",
                at,
            )
            write_event(conn, sale_id, "second_payment", {"transaction_id": transaction_id}, at)
            return PaidOutcome(PaidStatus.CONFLICTING_PAYMENT, load_sale(conn, sale_id), flag_id=flag_id)
        # Compare-and-set on the state we saw: exactly one racing report wins this UPDATE, and it
        # gets the updated row back (RETURNING) instead of reading the sale again.
        params = {
            "b_id": sale_id,
            "b_observed": observed.value,
            "b_at": at,
            "b_transaction_id": transaction_id,
            "b_cash_fee": report["cash_fee"],
            "b_coupon_fee": report["coupon_fee"],
            "b_settlement_total_fee": report["settlement_total_fee"],
        }
        paid_row = conn.execute(_PAY_SALE, params).first()
        if paid_row is not None:
            break
        # Someone else changed the state first (PostgreSQL; SQLite's BEGIN IMMEDIATE serialises).
        again = conn.execute(select(sales.c.state, sales.c.transaction_id).where(sales.c.id == sale_id)).one()
        observed, current = SaleState(again.state), again.transaction_id

    _store_payment(conn, sale_id, report, accepted=True, at=at)
    job_id = enqueue(conn, JobKind.CONFIRMATION, sale_id, None, at, till=(paid_row.store, paid_row.lane))
    write_event(
        conn,
        sale_id,
        "paid",
        {"transaction_id": transaction_id, "source": report["source"], "from": observed},
        at,
    )
    if observed in (SaleState.VOIDED, SaleState.EXPIRED):
        flag_id = raise_flag(
            conn,
            FlagKind.PAID_AFTER_CLOSE,
            sale_id,
            out_trade_no,
            {**detail, "closed_as": observed},
            f"after_close:{sale_id}",
            at,
        )
        return PaidOutcome(PaidStatus.PAID_AFTER_CLOSE, load_sale(conn, sale_id), job_id, flag_id)
    return PaidOutcome(PaidStatus.PAID, sale_record(paid_row, load_items(conn, sale_id)), job_id)


def _store_payment(
    conn: Connection, sale_id: int, report: dict[str, Any], *, accepted: bool, at: datetime
) -> None:
    """INSERT the payment unless its transaction_id is stored already."""
    values = {
        "sale_id": sale_id,
        "transaction_id": report["transaction_id"],
        "total_fee": report["total_fee"],
        "cash_fee": report["cash_fee"],
        "coupon_fee": report["coupon_fee"],
        "settlement_total_fee": report["settlement_total_fee"],
        "openid": report["openid"],
        "time_end": report["time_end"],
        "source": report["source"].value,
        "accepted": accepted,
        "recorded_at": at,
    }
    conn.execute(_payment_insert(conn.dialect.name), values)


@functools.cache
def _payment_insert(dialect: str) -> Any:
    """INSERT a payment unless its transaction_id is stored already; built once per dialect."""
    statement = upsert(dialect)(payments)
    return statement.on_conflict_do_nothing(index_elements=[payments.c.transaction_id])


# The statements every payment report runs, built once: building a statement costs more than
# SQLite takes to run it. The sale and any payment already stored under the report's transaction_id:
_known = payments.alias("known")
_SALE_WITH_PAYMENT = (
    select(
        sales,
        _known.c.sale_id.label("known_sale_id"),
        _known.c.total_fee.label("known_total_fee"),
        _known.c.accepted.label("known_accepted"),
    )
    .select_from(sales.outerjoin(_known, _known.c.transaction_id == bindparam("b_transaction_id")))
    .where(sales.c.out_trade_no == bindparam("b_out_trade_no"))
)
# What a notice is checked against before anything is written (Payments.payment_summary).
_SUMMARY = select(
    sales.c.id,
    sales.c.out_trade_no,
    sales.c.sign_type,
    sales.c.total_fee,
    sales.c.state,
    sales.c.transaction_id,
).where(sales.c.out_trade_no == bindparam("b_out_trade_no"))
# Compare-and-set: PAID only from the state the report saw.
_PAY_SALE = (
    update(sales)
    .where(sales.c.id == bindparam("b_id"), sales.c.state == bindparam("b_observed"))
    .values(
        state=SaleState.PAID.value,
        paid_at=bindparam("b_at", type_=sales.c.paid_at.type),
        transaction_id=bindparam("b_transaction_id", type_=sales.c.transaction_id.type),
        cash_fee=bindparam("b_cash_fee", type_=sales.c.cash_fee.type),
        coupon_fee=bindparam("b_coupon_fee", type_=sales.c.coupon_fee.type),
        settlement_total_fee=bindparam("b_settlement_total_fee", type_=sales.c.settlement_total_fee.type),
        updated_at=bindparam("b_at", type_=sales.c.updated_at.type),
    )
    .returning(*sales.c)
)


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
        coupon_fee=row.coupon_fee,
        settlement_total_fee=row.settlement_total_fee,
    )
