"""The ledger's reads for a business day: the manager's day view, the Z report and the day's CSV.

The ledger is the only code that runs SQL on its tables (see DESIGN.md), so the day's
report asks here and formats what it gets (:mod:`pos.reports.day`). Every read runs
in :func:`pos.ledger.database.read_only`: one snapshot, never blocking a writer.

Rows come back as the driver gives them (plain tuples, times as UTC text where the
caller formats them), because the day's CSV reads every sale of the day, 100,000 on a
chain's big day, and a Python object per value would be most of its time.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, String, and_, case, func, literal, or_, select, type_coerce
from sqlalchemy.sql.elements import ColumnElement

from pos.ledger.database import read_only
from pos.ledger.models import PAID_STATES, Flag, FlagKind, RefundState, SaleState
from pos.ledger.schema import flags, refunds, sales

if TYPE_CHECKING:
    from pos.ledger import Ledger

__all__ = [
    "CSV_BATCH",
    "count_sales",
    "csv_batches",
    "csv_statement",
    "day_flags",
    "day_state_totals",
    "hourly_minutes",
    "sale_rows",
]

CSV_BATCH = 5000  # sales read at a time for the CSV: the memory it holds, whatever the day's size
_PAID = [s.value for s in SaleState if s in PAID_STATES]

# One row per state: count, total, refunded, refund pending, flagged, closing count, closing total,
# and (revision 0010) what customers paid, the coupons, and what the merchant settles.
StateTotals = tuple[int, int, int, int, int, int, int, int, int, int]


def _day_filter(day: date, store: str, lane: str | None) -> ColumnElement[bool]:
    where = [sales.c.business_date == day, sales.c.store == store]
    if lane:
        where.append(sales.c.lane == lane)
    return and_(*where)


def _filters(
    day: date, store: str, lane: str | None, states: Iterable[SaleState], flagged_only: bool
) -> list[Any]:
    where: list[Any] = [_day_filter(day, store, lane)]
    wanted = [s.value for s in states]
    if wanted:
        where.append(sales.c.state.in_(wanted))
    if flagged_only:
        where.append(sales.c.flagged.is_(True))
    return where


def day_state_totals(
    ledger: Ledger, day: date, *, store: str, lane: str | None = None, now: datetime | None = None
) -> dict[SaleState, StateTotals]:
    """The day's sales by state, added up by the database in one ``GROUP BY`` (nothing loads every
    sale); with ``now``, the awaiting sales past their deadline (closing) counted apart."""
    closing = (
        and_(sales.c.expires_at.is_not(None), sales.c.expires_at <= now)
        if now is not None
        else literal(False)
    )
    statement = (
        select(
            sales.c.state,
            func.count(),
            func.coalesce(func.sum(sales.c.total_fee), 0),
            func.coalesce(func.sum(sales.c.refunded_fee), 0),
            func.coalesce(func.sum(sales.c.refund_reserved_fee - sales.c.refunded_fee), 0),
            func.coalesce(func.sum(case((sales.c.flagged, 1), else_=0)), 0),
            func.coalesce(func.sum(case((closing, 1), else_=0)), 0),
            func.coalesce(func.sum(case((closing, sales.c.total_fee), else_=0)), 0),
            # A paid sale without the figures (none since revision 0010 filled them in) counts at its price.
            func.coalesce(func.sum(func.coalesce(sales.c.cash_fee, sales.c.total_fee)), 0),
            func.coalesce(func.sum(func.coalesce(sales.c.coupon_fee, 0)), 0),
            func.coalesce(func.sum(func.coalesce(sales.c.settlement_total_fee, sales.c.total_fee)), 0),
        )
        .where(_day_filter(day, store, lane))
        .group_by(sales.c.state)
    )
    with read_only(ledger.engine) as conn:
        return {SaleState(r[0]): tuple(int(v) for v in r[1:]) for r in conn.execute(statement)}  # type: ignore[misc]


def day_settled_refunds(ledger: Ledger, day: date, *, store: str, lane: str | None = None) -> int:
    """What the merchant gave back (应结退款金额, fen) for the confirmed refunds of ``day``'s sales.

    A refund without WeChat's settlement figure (NULL: no coupon, or before revision 0014) gave
    back its refund_fee; so this equals the day's refunded figure unless a coupon was refunded.
    """
    statement = (
        select(
            func.coalesce(func.sum(func.coalesce(refunds.c.settlement_refund_fee, refunds.c.refund_fee)), 0)
        )
        .select_from(refunds.join(sales, sales.c.id == refunds.c.sale_id))
        .where(
            refunds.c.state == RefundState.SUCCEEDED.value,
            sales.c.state.in_(_PAID),
            _day_filter(day, store, lane),
        )
    )
    with read_only(ledger.engine) as conn:
        return int(conn.execute(statement).scalar_one())


def hourly_minutes(
    ledger: Ledger, days: Sequence[date], *, store: str, lane: str | None = None
) -> list[tuple[date, str, int]]:
    """Paid amounts (fen) of ``days`` by business day and UTC minute of payment (``YYYY-MM-DD HH:MM``):
    at most 1,440 rows a day, which the caller moves to any zone (whole hours or not)."""
    if not days:
        return []
    moment = func.coalesce(sales.c.paid_at, sales.c.created_at)
    where = [sales.c.business_date.in_(list(days)), sales.c.store == store, sales.c.state.in_(_PAID)]
    if lane:
        where.append(sales.c.lane == lane)
    with read_only(ledger.engine) as conn:
        minute = _minute_text(conn, moment)
        statement = (
            select(sales.c.business_date, minute, func.sum(sales.c.total_fee))
            .where(*where)
            .group_by(sales.c.business_date, minute)
        )
        rows = conn.execute(statement).all()
    return [
        (date.fromisoformat(day) if isinstance(day, str) else day, bucket, int(fee))
        for day, bucket, fee in rows
    ]


def _minute_text(conn: Connection, moment: Any) -> Any:
    """``YYYY-MM-DD HH:MM`` of a UTC timestamp column, in SQL, on SQLite and PostgreSQL."""
    if conn.dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", moment), "YYYY-MM-DD HH24:MI")
    return func.substr(type_coerce(moment, String), 1, 16)  # stored as "YYYY-MM-DD HH:MM:SS.ffffff" UTC


def sale_rows(
    ledger: Ledger,
    day: date,
    *,
    store: str,
    lane: str | None = None,
    states: Iterable[SaleState] = (),
    flagged_only: bool = False,
    offset: int = 0,
    limit: int | None = None,
) -> Iterator[tuple[Any, ...]]:
    """The day's sales in id order (a page with ``limit``), one tuple each: id, created_at, paid_at,
    out_trade_no, transaction_id, items, total_fee, refunded_fee, refund_reserved_fee, lane, cashier,
    state, flagged, void requested, expires_at, cash_fee, coupon_fee, settlement_total_fee (the last
    three NULL while unpaid). Times are stored values (UTC text on SQLite)."""
    where = _filters(day, store, lane, states, flagged_only)
    with read_only(ledger.engine) as conn:
        statement = (
            select(
                sales.c.id,
                type_coerce(sales.c.created_at, String),
                type_coerce(sales.c.paid_at, String),
                sales.c.out_trade_no,
                sales.c.transaction_id,
                func.coalesce(sales.c.items_text, sales.c.body),
                sales.c.total_fee,
                sales.c.refunded_fee,
                sales.c.refund_reserved_fee,
                sales.c.lane,
                sales.c.cashier,
                sales.c.state,
                sales.c.flagged,
                sales.c.void_requested_at.is_not(None),
                type_coerce(sales.c.expires_at, String),
                sales.c.cash_fee,
                sales.c.coupon_fee,
                sales.c.settlement_total_fee,
            )
            .where(*where)
            .order_by(sales.c.id)
            .offset(max(0, offset))
        )
        if limit is not None:
            statement = statement.limit(max(0, limit))
        for row in conn.execution_options(yield_per=2000).execute(statement):
            yield tuple(row)


def count_sales(
    ledger: Ledger,
    day: date,
    *,
    store: str,
    lane: str | None = None,
    states: Iterable[SaleState] = (),
    flagged_only: bool = False,
) -> int:
    """How many rows :func:`sale_rows` gives with the same filters (for paging)."""
    where = _filters(day, store, lane, states, flagged_only)
    with read_only(ledger.engine) as conn:
        return int(conn.execute(select(func.count()).select_from(sales).where(*where)).scalar_one())


def csv_batches(
    ledger: Ledger, day: date, *, store: str, lane: str | None = None, batch: int | None = None
) -> Iterator[Sequence[tuple[Any, ...]]]:
    """The day's sales for its CSV, :data:`CSV_BATCH` at a time in id order, all read in one
    read-only transaction (one snapshot: the file is the day at one moment, however slowly the
    manager's browser takes it). Each batch is one query that starts after the last id of the one
    before (keyset, not OFFSET): the same short index walk for the first batch and the last, and
    the memory of one batch whatever the day's size, on SQLite and PostgreSQL alike.

    A row is :func:`csv_statement`'s columns: created_at (UTC text), out_trade_no, transaction_id,
    items, total_fee, refunded_fee, state, lane, cashier, paid_at (UTC text), cash_fee, coupon_fee,
    settlement_total_fee (NULL while unpaid), id.
    """
    size = batch or CSV_BATCH
    with read_only(ledger.engine) as conn:
        after: int | None = None
        while True:
            result = conn.execute(csv_statement(conn, day, store=store, lane=lane, after=after, limit=size))
            # The driver's own tuples: no Row object per sale (every column is already what is printed).
            rows = result.cursor.fetchall()
            result.close()
            if rows:
                yield rows
            if len(rows) < size:
                return
            after = rows[-1][-1]


def csv_statement(
    conn: Connection,
    day: date,
    *,
    store: str,
    lane: str | None = None,
    after: int | None = None,
    limit: int | None = None,
) -> Any:
    """The CSV's query: exactly the columns it prints (and the id, for the next batch), in id order
    (the order of the day's index, so no sort), a sale's lines from its stored listing text, no join."""
    where = [_day_filter(day, store, lane)]
    if after is not None:
        where.append(sales.c.id > after)
    statement = (
        select(
            _utc_text(conn, sales.c.created_at),
            sales.c.out_trade_no,
            sales.c.transaction_id,
            func.coalesce(sales.c.items_text, sales.c.body),
            sales.c.total_fee,
            sales.c.refunded_fee,
            sales.c.state,
            sales.c.lane,
            sales.c.cashier,
            _utc_text(conn, sales.c.paid_at),
            sales.c.cash_fee,
            sales.c.coupon_fee,
            sales.c.settlement_total_fee,
            sales.c.id,
        )
        .where(*where)
        .order_by(sales.c.id)
    )
    return statement.limit(limit) if limit is not None else statement


def _utc_text(conn: Connection, column: Any) -> Any:
    """A UTC timestamp column as ``YYYY-MM-DD HH:MM:SS...`` text, on SQLite and PostgreSQL."""
    if conn.dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD HH24:MI:SS")
    return type_coerce(column, String)  # SQLite keeps them as UTC text already


def day_flags(ledger: Ledger, day: date, *, store: str, zone: ZoneInfo) -> list[Flag]:
    """Flags raised about ``day``'s sales, and flags without a sale (unknown orders) raised that day,
    open ones first, each group oldest first."""
    start = datetime(day.year, day.month, day.day, tzinfo=zone)
    end = start + timedelta(days=1)
    # Flags are few: walk them and look each one's sale up by its key, rather than list the day's sales.
    statement = (
        select(flags)
        .outerjoin(sales, sales.c.id == flags.c.sale_id)
        .where(
            or_(
                and_(sales.c.business_date == day, sales.c.store == store),
                and_(flags.c.sale_id.is_(None), flags.c.raised_at >= start, flags.c.raised_at < end),
            )
        )
        .order_by(flags.c.resolved_at.is_not(None), flags.c.id)
    )
    with read_only(ledger.engine) as conn:
        return [
            Flag(
                id=row.id,
                sale_id=row.sale_id,
                out_trade_no=row.out_trade_no,
                kind=_flag_kind(row.kind),
                detail=json.loads(row.detail) if row.detail else None,
                raised_at=row.raised_at,
                resolved_at=row.resolved_at,
                resolved_by=row.resolved_by,
                resolution=row.resolution,
            )
            for row in conn.execute(statement)
        ]


def _flag_kind(value: str) -> FlagKind | str:
    try:
        return FlagKind(value)
    except ValueError:  # a kind newer than this code: shown by its name
        return value
