"""The chain's reads: a business day's takings by store and lane, and the day's sales of every
store for the chain's CSV.

A chain's tills (one per store and lane) share one ledger; the chain manager's day view adds a
day up per store and lane in one ``GROUP BY store, lane`` (both databases), and the chain's CSV
reads every store's sales of the day in one snapshot, one store after the other, with the same
batched query as one store's CSV (:func:`pos.ledger.queries.csv_statement`). As for every table
of the ledger, only this package runs SQL on ``sales``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from pos.ledger.database import read_only
from pos.ledger.models import PAID_STATES
from pos.ledger.queries import CSV_BATCH, csv_statement
from pos.ledger.schema import flags, sales

if TYPE_CHECKING:
    from pos.ledger import Ledger

__all__ = ["LaneTakings", "StoreTakings", "chain_csv_batches", "day_stores", "flag_store", "takings_by_lane"]


@dataclass(frozen=True, slots=True)
class LaneTakings:
    """What one lane of one store rang up on a day (fees in fen)."""

    store: str
    lane: str
    sales: int
    paid_count: int
    paid_fee: int
    refunded_fee: int

    @property
    def net_fee(self) -> int:
        return self.paid_fee - self.refunded_fee


@dataclass(frozen=True, slots=True)
class StoreTakings:
    """One store's day: its lanes and their sums."""

    store: str
    lanes: tuple[LaneTakings, ...]

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


def takings_by_lane(ledger: Ledger, day: date) -> list[StoreTakings]:
    """The business day's sales per store and lane, stores and lanes in id order; only those
    with sales. "Paid" counts the paid states, as the day view's totals do."""
    paid = sales.c.state.in_([s.value for s in PAID_STATES])
    query = (
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
    with read_only(ledger.engine) as conn:
        rows = [
            LaneTakings(r[0], r[1], int(r[2]), int(r[3]), int(r[4]), int(r[5])) for r in conn.execute(query)
        ]
    stores: dict[str, list[LaneTakings]] = {}
    for row in rows:
        stores.setdefault(row.store, []).append(row)
    return [StoreTakings(store, tuple(lanes)) for store, lanes in stores.items()]


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
