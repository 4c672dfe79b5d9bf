"""Reconciliation with WeChat's bill: the results kept per business day, and the ledger's side of the match.

WeChat's guidance is to download day D's bill on D+1 and match it against the
shop's own books (see :mod:`pos.reconcile`, which does the matching). This
module is the ledger's part of that:

- the **results**: each run is one row in ``reconciliations`` with its
  differences in ``reconciliation_differences`` (revision 0003; both tables in
  :mod:`pos.ledger.schema`), written in one
  transaction, so a run is either fully there or not at all; the day view reads
  :func:`latest_reconciliation`;
- the **ledger's side**, read in bulk without loading every sale's items:
  sales by out_trade_no, payments and refunds of one bill day;
- the one **state change** a reconciliation makes: a sale WeChat's bill shows
  paid that the ledger does not have as paid is marked PAID (``source="bill"``)
  and flagged ``missed_payment`` in the same transaction
  (:func:`record_bill_payment`).

A bill day is Beijing's calendar day (WeChat's bills are cut at midnight
Beijing time), whatever the store's own time zone.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, insert, select

from pos.ledger.audit import raise_flag, write_event
from pos.ledger.core import check_enum
from pos.ledger.identifiers import check_aware, store_of
from pos.ledger.ledger import Ledger
from pos.ledger.models import FlagKind, PaidOutcome, PaidStatus, PaymentSource, RefundState, SaleState
from pos.ledger.payments import decide_payment, log_outcomes
from pos.ledger.sales import load_sale
from pos.ledger.schema import (
    payments,
    reconciliation_differences,
    reconciliations,
    refunds,
    sales,
)
from pos.log import get_logger

log = get_logger(__name__)

BEIJING = ZoneInfo("Asia/Shanghai")
# A payment's sale is looked for among sales rung up this many days around the bill day (an index
# on sales.business_date instead of a scan of every payment ever made): an order lives two hours.
SALE_DAYS_BEFORE, SALE_DAYS_AFTER = 2, 1
_CHUNK = 500  # out_trade_nos per IN (...) query: far below every backend's parameter limit


class ReconciliationStatus(enum.StrEnum):
    """How a run ended."""

    MATCHED = "matched"  # the bill and the ledger agree (other channels' orders aside)
    DIFFERENCES = "differences"  # at least one difference; see the run's differences
    NO_BILL = "no_bill"  # WeChat has no bill for the day (no trade) and the ledger has none either
    NOT_READY = "not_ready"  # "Bill Creating": WeChat builds day D's bill from 09:00 on D+1
    ERROR = "error"  # the bill could not be had or read (WeChat unreachable, refused, garbled)

    @property
    def conclusive(self) -> bool:
        """The run compared the day (as opposed to failing to get the bill)."""
        return self in _CONCLUSIVE


class DifferenceKind(enum.StrEnum):
    """What kind of disagreement a :class:`Difference` is."""

    MISSING_IN_LEDGER = "missing_in_ledger"  # in WeChat's bill, unknown to the ledger
    PAID_AT_WECHAT_ONLY = "paid_at_wechat_only"  # paid at WeChat, not paid in the ledger (now fixed)
    MISSING_AT_WECHAT = "missing_at_wechat"  # paid in the ledger, absent from WeChat's bill
    AMOUNT = "amount"  # both know it, the amounts differ
    STATE = "state"  # both know it, the states differ (refunds, another transaction)
    OTHER_CHANNEL = "other_channel"  # another sales channel's order: reported, not a difference
    # Same order amount, but the bill's 应结订单金额 is not what the ledger says the merchant settles
    # (a coupon the ledger does not know of, or one it counts otherwise). Revision 0010.
    SETTLEMENT = "settlement"


_CONCLUSIVE = frozenset(
    {ReconciliationStatus.MATCHED, ReconciliationStatus.DIFFERENCES, ReconciliationStatus.NO_BILL}
)


@dataclass(frozen=True, slots=True)
class Difference:
    """One disagreement between WeChat's bill and the ledger. Fees are integer fen (None: that side
    has no amount for it); ``detail`` says what was found and what was done, in the store's language."""

    kind: DifferenceKind
    out_trade_no: str
    transaction_id: str
    ledger_fee: int | None
    bill_fee: int | None
    detail: str
    out_refund_no: str = ""  # set for differences about one refund

    @property
    def is_difference(self) -> bool:
        """False for another channel's order: shown, but the day still matches."""
        return self.kind is not DifferenceKind.OTHER_CHANNEL

    @property
    def store(self) -> str:
        """The store whose sale this is, from its out_trade_no ("" for another channel's or a
        number not ours): the bill covers the whole merchant account, every store of the ledger."""
        return "" if self.kind is DifferenceKind.OTHER_CHANNEL else store_of(self.out_trade_no)


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """One run for one business (bill) day. ``matched`` counts the bill's rows that agree with the ledger;
    ``differences`` lists every disagreement, and other channels' orders (``kind="other_channel"``)."""

    day: date
    ran_at: datetime
    status: ReconciliationStatus
    message: str
    matched: int
    differences: tuple[Difference, ...] = ()
    bill_rows: int = 0  # detail rows in WeChat's bill (0 without a bill)
    store: str = ""  # the store whose `pos reconcile` (or manager) ran it
    id: int | None = None  # set once stored

    @property
    def problems(self) -> tuple[Difference, ...]:
        """The differences proper (other channels' orders left out)."""
        return tuple(d for d in self.differences if d.is_difference)

    @property
    def other_channel(self) -> tuple[Difference, ...]:
        return tuple(d for d in self.differences if not d.is_difference)


# -- storing and reading results ---------------------------------------------------------------


def save_reconciliation(ledger: Ledger, result: Reconciliation) -> Reconciliation:
    """Store a run and its differences in one transaction; returns it with its ``id``."""
    check_aware(result.ran_at, "ran_at")
    status = check_enum(ReconciliationStatus, result.status, "status")
    kinds = [check_enum(DifferenceKind, d.kind, "kind") for d in result.differences]
    with ledger._write() as conn:
        run_id = conn.execute(
            insert(reconciliations)
            .values(
                business_date=result.day,
                ran_at=result.ran_at,
                status=status.value,
                message=result.message,
                matched=result.matched,
                bill_rows=result.bill_rows,
                store=result.store,
            )
            .returning(reconciliations.c.id)
        ).scalar_one()
        if result.differences:
            conn.execute(
                insert(reconciliation_differences),
                [
                    {
                        "reconciliation_id": run_id,
                        "position": position,
                        "kind": kind.value,
                        "out_trade_no": d.out_trade_no,
                        "transaction_id": d.transaction_id or "",
                        "out_refund_no": d.out_refund_no or "",
                        "ledger_fee": d.ledger_fee,
                        "bill_fee": d.bill_fee,
                        "detail": d.detail,
                    }
                    for position, (d, kind) in enumerate(zip(result.differences, kinds, strict=True), start=1)
                ],
            )
    log.info(
        "reconciled",
        day=result.day,
        status=status.value,
        matched=result.matched,
        differences=len(result.problems),
        run=run_id,
    )
    return replace(result, id=run_id, status=status)


def latest_reconciliation(ledger: Ledger, day: date) -> Reconciliation | None:
    """The run the day view shows for ``day``: the newest one that compared the day (matched,
    differences, no_bill); if none did, the newest attempt (not_ready, error); None if never run.

    So a later "WeChat unreachable" does not hide the differences an earlier run found.
    """
    with ledger._read() as conn:
        rows = conn.execute(
            select(reconciliations)
            .where(reconciliations.c.business_date == day)
            .order_by(reconciliations.c.id.desc())
        ).all()
        if not rows:
            return None
        chosen = next((r for r in rows if ReconciliationStatus(r.status).conclusive), rows[0])
        return _load(conn, chosen)


def reconciliations_for_day(ledger: Ledger, day: date) -> list[Reconciliation]:
    """Every run for ``day``, oldest first (the history behind :func:`latest_reconciliation`)."""
    with ledger._read() as conn:
        rows = conn.execute(
            select(reconciliations)
            .where(reconciliations.c.business_date == day)
            .order_by(reconciliations.c.id)
        ).all()
        return [_load(conn, r) for r in rows]


def _load(conn: Any, row: Any) -> Reconciliation:
    found = conn.execute(
        select(reconciliation_differences)
        .where(reconciliation_differences.c.reconciliation_id == row.id)
        .order_by(reconciliation_differences.c.position)
    )
    differences = tuple(
        Difference(
            kind=DifferenceKind(d.kind),
            out_trade_no=d.out_trade_no,
            transaction_id=d.transaction_id,
            ledger_fee=d.ledger_fee,
            bill_fee=d.bill_fee,
            detail=d.detail,
            out_refund_no=d.out_refund_no,
        )
        for d in found
    )
    return Reconciliation(
        day=row.business_date,
        ran_at=row.ran_at,
        status=ReconciliationStatus(row.status),
        message=row.message,
        matched=row.matched,
        differences=differences,
        bill_rows=row.bill_rows,
        store=row.store,
        id=row.id,
    )


# -- the ledger's side of the match ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KnownSale:
    """What the match needs of a sale (no items). ``paid_fee``/``time_end`` come from its accepted
    payment, when it has one."""

    id: int
    out_trade_no: str
    store: str
    state: SaleState
    total_fee: int
    transaction_id: str | None
    paid_fee: int | None = None
    time_end: datetime | None = None
    # What the merchant settles for it (the accepted payment's 应结订单金额; the total when WeChat
    # sent none), and what the customer paid: None while unpaid.
    settlement_total_fee: int | None = None
    cash_fee: int | None = None

    @property
    def settled_fee(self) -> int:
        """What the bill's 应结订单金额 should say for this sale: its settlement, else its total."""
        return self.settlement_total_fee if self.settlement_total_fee is not None else self.total_fee


@dataclass(frozen=True, slots=True)
class LedgerRefund:
    out_refund_no: str
    out_trade_no: str
    sale_id: int
    refund_fee: int
    state: RefundState
    refund_id: str | None
    requested_at: datetime
    resolution: str | None = None  # how the manager settled a HELD refund (pos.ledger.held)
    # 应结退款金额 as WeChat said (revision 0014); None: the same as refund_fee.
    settlement_refund_fee: int | None = None

    @property
    def settled_refund_fee(self) -> int:
        """What the refund gives back of the merchant's settlement (the bill's 退款金额)."""
        return self.refund_fee if self.settlement_refund_fee is None else self.settlement_refund_fee


def bill_window(day: date) -> tuple[datetime, datetime]:
    """Day ``day`` of WeChat's bills: midnight to midnight, Beijing time, as aware UTC datetimes."""
    start = datetime.combine(day, time(0), BEIJING)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


def sales_by_out_trade_no(ledger: Ledger, numbers: Iterable[str]) -> dict[str, KnownSale]:
    """The ledger's sales with these out_trade_nos, whatever their store or day (one mch_id, one ledger)."""
    wanted = sorted({n for n in numbers if n})
    found: dict[str, KnownSale] = {}
    with ledger._read() as conn:
        for chunk in _chunks(wanted):
            rows = conn.execute(_sale_columns().where(sales.c.out_trade_no.in_(chunk)))
            found.update((r.out_trade_no, _known(r)) for r in rows)
    return found


def paid_on_bill_day(ledger: Ledger, day: date) -> list[KnownSale]:
    """Sales whose accepted payment completed (WeChat's time_end) on bill day ``day``, oldest first."""
    start, end = bill_window(day)
    query = (
        _sale_columns()
        .add_columns(payments.c.total_fee.label("paid_fee"), payments.c.time_end)
        .join(payments, and_(payments.c.sale_id == sales.c.id, payments.c.accepted))
        .where(
            sales.c.business_date.between(
                day - timedelta(days=SALE_DAYS_BEFORE), day + timedelta(days=SALE_DAYS_AFTER)
            ),
            payments.c.time_end >= start,
            payments.c.time_end < end,
        )
        .order_by(payments.c.time_end, sales.c.id)
    )
    with ledger._read() as conn:
        return [_known(r) for r in conn.execute(query)]


def refunds_by_number(ledger: Ledger, out_refund_nos: Iterable[str]) -> dict[str, LedgerRefund]:
    wanted = sorted({n for n in out_refund_nos if n})
    found: dict[str, LedgerRefund] = {}
    with ledger._read() as conn:
        for chunk in _chunks(wanted):
            found.update((r.out_refund_no, r) for r in _refund_rows(conn, refunds.c.out_refund_no.in_(chunk)))
    return found


def refunds_on_bill_day(ledger: Ledger, day: date) -> list[LedgerRefund]:
    """Refunds the ledger started on bill day ``day`` (WeChat lists a refund on the day it was asked for)."""
    start, end = bill_window(day)
    with ledger._read() as conn:
        return _refund_rows(conn, and_(refunds.c.requested_at >= start, refunds.c.requested_at < end))


def _sale_columns() -> Any:
    return select(
        sales.c.id,
        sales.c.out_trade_no,
        sales.c.store,
        sales.c.state,
        sales.c.total_fee,
        sales.c.transaction_id,
        sales.c.settlement_total_fee,
        sales.c.cash_fee,
    )


def _known(row: Any) -> KnownSale:
    mapping = row._mapping
    return KnownSale(
        id=row.id,
        out_trade_no=row.out_trade_no,
        store=row.store,
        state=SaleState(row.state),
        total_fee=row.total_fee,
        transaction_id=row.transaction_id,
        paid_fee=mapping.get("paid_fee"),
        time_end=mapping.get("time_end"),
        settlement_total_fee=row.settlement_total_fee,
        cash_fee=row.cash_fee,
    )


def _refund_rows(conn: Any, where: Any) -> list[LedgerRefund]:
    rows = conn.execute(
        select(refunds, sales.c.out_trade_no)
        .join(sales, sales.c.id == refunds.c.sale_id)
        .where(where)
        .order_by(refunds.c.id)
    )
    return [
        LedgerRefund(
            out_refund_no=r.out_refund_no,
            out_trade_no=r.out_trade_no,
            sale_id=r.sale_id,
            refund_fee=r.refund_fee,
            state=RefundState(r.state),
            refund_id=r.refund_id,
            requested_at=r.requested_at,
            resolution=r.resolution,
            settlement_refund_fee=r.settlement_refund_fee,
        )
        for r in rows
    ]


def _chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


# -- the one state change ----------------------------------------------------------------------


def record_bill_payment(
    ledger: Ledger,
    out_trade_no: str,
    *,
    transaction_id: str,
    total_fee: int,
    time_end: datetime,
    openid: str | None = None,
    raw: str | None = None,
    now: datetime | None = None,
    coupon_fee: int | None = None,
    settlement_total_fee: int | None = None,
) -> PaidOutcome:
    """WeChat's bill shows ``out_trade_no`` paid: :meth:`Ledger.mark_paid` with ``source="bill"`` and,
    when that made the sale PAID, a ``missed_payment`` flag, in ONE transaction.

    mark_paid flags a payment after a void or expiry (``paid_after_close``), a wrong
    amount and a second transaction itself; a sale that was still waiting (or NEW,
    or FAILED) it simply marks PAID. Found only by the bill, that payment slipped
    past both the notice and the watcher's queries: the manager must know (the
    customer may have left without goods), hence the flag. The payment and its flag
    commit together or not at all, so no crash can leave a paid sale the manager is
    not told about (the next run finds it unpaid and tries again). Repeats change
    nothing.
    """
    at = ledger._now(now)
    report = ledger.payment_report(
        out_trade_no,
        transaction_id=transaction_id,
        total_fee=total_fee,
        time_end=time_end,
        source=PaymentSource.BILL,
        openid=openid or None,
        raw=raw,
        coupon_fee=coupon_fee,
        settlement_total_fee=settlement_total_fee,
    )
    with ledger._write() as conn:
        outcome = decide_payment(conn, report, at)
        if outcome.status is PaidStatus.PAID and outcome.sale is not None:
            sale_id = outcome.sale.id
            detail = {
                "out_trade_no": out_trade_no,
                "transaction_id": transaction_id,
                "total_fee": total_fee,
                "time_end": time_end,
                "found_by": "bill",
            }
            flag_id = raise_flag(
                conn, FlagKind.MISSED_PAYMENT, sale_id, out_trade_no, detail, f"missed:{transaction_id}", at
            )
            write_event(conn, sale_id, "paid_found_by_bill", {"transaction_id": transaction_id}, at)
            outcome = replace(outcome, sale=load_sale(conn, sale_id), flag_id=flag_id)
    log_outcomes([report], [outcome])
    return outcome


__all__ = [
    "BEIJING",
    "Difference",
    "DifferenceKind",
    "KnownSale",
    "LedgerRefund",
    "Reconciliation",
    "ReconciliationStatus",
    "bill_window",
    "latest_reconciliation",
    "paid_on_bill_day",
    "reconciliation_differences",
    "reconciliations",
    "reconciliations_for_day",
    "record_bill_payment",
    "refunds_by_number",
    "refunds_on_bill_day",
    "sales_by_out_trade_no",
    "save_reconciliation",
]
