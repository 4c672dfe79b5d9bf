"""The chain's reads: a business day's takings by store and lane, and the day's sales of every
store for the chain's CSV.

A chain's tills (one per store and lane) share one ledger; the chain manager's day view adds a
day up per store and lane in one ``GROUP BY store, lane`` (both databases), and the chain's CSV
reads every store's sales of the day in one snapshot, one store after the other, with the same
batched query as one store's CSV (:func:`pos.ledger.queries.csv_statement`). As for every table
of the ledger, only this package runs SQL on ``sales``.

The day view also lists the lanes that rang up nothing that day but did on one of the
:data:`RECENT_DAYS` before (a till down, a store closed): the ledger has no register of stores,
so "S07 took nothing" would otherwise look like "there is no S07". They come from
``day_sequences``, the table that numbers each lane's sales: one row per store, lane and day
with a sale, written in the sale's own transaction, so a lane has a row for a day exactly when
it rang up a sale that day. Its primary key (store, lane, business_date) answers the question
with a few index probes per lane ever seen (:func:`_quiet_lanes_statement`), however many sales
or days the ledger holds; no index of ``sales`` could, as none has the lane.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, bindparam, case, cast, func, literal, select

from pos.ledger.database import read_only
from pos.ledger.models import PAID_STATES
from pos.ledger.queries import CSV_BATCH, csv_statement
from pos.ledger.schema import day_sequences, flags, sales

if TYPE_CHECKING:
    from pos.ledger import Ledger

__all__ = [
    "RECENT_DAYS",
    "LaneTakings",
    "StoreTakings",
    "chain_csv_batches",
    "day_stores",
    "flag_store",
    "takings_by_lane",
]

RECENT_DAYS = 28
"""How far back the chain's day looks for lanes that went quiet: four weeks. Long enough that a
store open only some weekdays, a till down for days or a store shut for a fortnight's holiday
(the Spring Festival) still shows, with nothing taken, on every day it rang up nothing; short
enough that a store closed for good, or renumbered, leaves the page after a month instead of
burying the live ones for ever."""


@dataclass(frozen=True, slots=True)
class LaneTakings:
    """What one lane of one store rang up on a day (fees in fen).

    A quiet lane (:attr:`quiet`) rang up nothing that day but did on one of the
    :data:`RECENT_DAYS` before: its figures are zero and ``last_sale_day`` is its latest day with
    a sale. For a lane with sales that day ``last_sale_day`` is None."""

    store: str
    lane: str
    sales: int
    paid_count: int
    paid_fee: int
    refunded_fee: int
    last_sale_day: date | None = None

    @property
    def quiet(self) -> bool:
        return self.last_sale_day is not None

    @property
    def net_fee(self) -> int:
        return self.paid_fee - self.refunded_fee


@dataclass(frozen=True, slots=True)
class StoreTakings:
    """One store's day: its lanes and their sums."""

    store: str
    lanes: tuple[LaneTakings, ...]

    @property
    def quiet(self) -> bool:
        """No lane of the store rang up anything that day (each did on a recent day)."""
        return all(lane.quiet for lane in self.lanes)

    @property
    def sales(self) -> int:
        return sum(lane.sales for lane in self.lanes)

    @property
    def paid_count(self) -> int:
        return sum(lane.paid_count for lane in self.lanes)

    @property
    def paid_fee(self) -> int:
        return sum(lane.paid_fee for lane in self.lanes)

    @property
    def refunded_fee(self) -> int:
        return sum(lane.refunded_fee for lane in self.lanes)

    @property
    def net_fee(self) -> int:
        return self.paid_fee - self.refunded_fee


def takings_by_lane(ledger: Ledger, day: date, *, recent_days: int = RECENT_DAYS) -> list[StoreTakings]:
    """The business day's sales per store and lane, stores and lanes in id order (code points, as
    the chain's CSV, whatever the database's collation): those with sales, and the quiet ones (no
    sale that day, one on the ``recent_days`` before) with zeros. "Paid" counts the paid states,
    as the day view's totals do. Both reads see one snapshot, so a lane ringing up its first sale
    of the day meanwhile is in one list or the other."""
    with read_only(ledger.engine) as conn:
        rows = [
            LaneTakings(r[0], r[1], int(r[2]), int(r[3]), int(r[4]), int(r[5]))
            for r in conn.execute(_takings_statement(day))
        ]
        if recent_days > 0:
            since = day - timedelta(days=recent_days)
            quiet = conn.execute(_quiet_lanes_statement(), {"b_day": day, "b_since": since})
            rows.extend(LaneTakings(r[0], r[1], 0, 0, 0, 0, r[2]) for r in quiet)
    stores: dict[str, list[LaneTakings]] = {}
    for row in sorted(rows, key=lambda r: (r.store, r.lane)):
        stores.setdefault(row.store, []).append(row)
    return [StoreTakings(store, tuple(lanes)) for store, lanes in stores.items()]


def _takings_statement(day: date) -> Select[Any]:
    """The day's ``GROUP BY store, lane`` (an index on ``business_date`` finds the day's sales)."""
    paid = sales.c.state.in_([s.value for s in PAID_STATES])
    return (
        select(
            sales.c.store,
            sales.c.lane,
            func.count(),
            func.count().filter(paid),
            func.coalesce(func.sum(sales.c.total_fee).filter(paid), 0),
            func.coalesce(func.sum(sales.c.refunded_fee), 0),
        )
        .where(sales.c.business_date == day)
        .group_by(sales.c.store, sales.c.lane)
        .order_by(sales.c.store, sales.c.lane)
    )


@functools.cache
def _quiet_lanes_statement() -> Select[Any]:
    """Each lane whose latest day with a sale up to ``b_day`` is before ``b_day`` but not before
    ``b_since``: ``(store, lane, that day)``, in id order. Built once.

    A loose index scan of ``day_sequences``' primary key (store, lane, business_date), written as
    a recursive query both databases run. From the empty store (ids are never empty) each step
    seeks the store's next lane, or when there is none the next store (its lane empty, which the
    next step follows with the store's first lane): one or two index seeks a step, a step per lane
    and per store the ledger has ever seen. Then one backward seek a lane finds its latest day up
    to ``b_day`` (``max`` on the key's last column). A plain ``GROUP BY`` of the recent days would
    read every lane's every one of those days, and of all its days on a database that cannot
    range over the key's last column (SQLite without statistics)."""
    seq = day_sequences.c
    walk = select(
        cast(literal(""), seq.store.type).label("store"), cast(literal(""), seq.lane.type).label("lane")
    ).cte("lanes", recursive=True)
    after = day_sequences.alias("after")
    next_lane = (
        select(after.c.lane)
        .where(after.c.store == walk.c.store, after.c.lane > walk.c.lane)
        .order_by(after.c.lane)
        .limit(1)
        .scalar_subquery()
    )
    next_store = (
        select(after.c.store)
        .where(after.c.store > walk.c.store)
        .order_by(after.c.store)
        .limit(1)
        .scalar_subquery()
    )
    step = select(
        case((next_lane.is_not(None), walk.c.store), else_=next_store),
        cast(func.coalesce(next_lane, ""), seq.lane.type),  # PostgreSQL: the seed's type exactly
    ).where(walk.c.store.is_not(None))
    walk = walk.union_all(step)
    days = day_sequences.alias("days")
    day = bindparam("b_day", type_=seq.business_date.type)
    last = (
        select(func.max(days.c.business_date))
        .where(days.c.store == walk.c.store, days.c.lane == walk.c.lane, days.c.business_date <= day)
        .scalar_subquery()
    )
    lanes = select(walk.c.store, walk.c.lane, last.label("last_day")).where(walk.c.lane != "").subquery()
    return (
        select(lanes.c.store, lanes.c.lane, lanes.c.last_day)
        .where(
            lanes.c.last_day < day,
            lanes.c.last_day >= bindparam("b_since", type_=seq.business_date.type),
        )
        .order_by(lanes.c.store, lanes.c.lane)
    )


def day_stores(conn: Any, day: date) -> list[str]:
    """The stores with sales on ``day``, in id order."""
    query = select(sales.c.store).where(sales.c.business_date == day).group_by(sales.c.store)
    return sorted(r[0] for r in conn.execute(query))


def chain_csv_batches(
    ledger: Ledger, day: date, *, batch: int | None = None
) -> Iterator[tuple[str, Sequence[tuple[Any, ...]]]]:
    """Every store's sales of ``day`` for the chain's CSV: ``(store, rows)`` a batch at a time,
    stores in id order and each store's sales in id order, all in one read-only transaction (one
    snapshot of the chain's day). Rows are :func:`pos.ledger.queries.csv_statement`'s columns."""
    size = batch or CSV_BATCH
    with read_only(ledger.engine) as conn:
        for store in day_stores(conn, day):
            after: int | None = None
            while True:
                result = conn.execute(csv_statement(conn, day, store=store, after=after, limit=size))
                rows = result.cursor.fetchall()
                result.close()
                if rows:
                    yield store, rows
                if len(rows) < size:
                    break
                after = rows[-1][-1]


def flag_store(ledger: Ledger, flag_id: int) -> str | None:
    """The store of the sale flag ``flag_id`` is about ("" for a flag about no sale of ours, an
    unknown order), or None when there is no such flag: a store's manager resolves their own."""
    query = select(flags.c.id, sales.c.store).outerjoin(sales, sales.c.id == flags.c.sale_id)
    with read_only(ledger.engine) as conn:
        row = conn.execute(query.where(flags.c.id == flag_id)).first()
    return None if row is None else (row[1] or "")
