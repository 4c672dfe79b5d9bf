"""The figures of one business day, computed in one place for every reader.

The manager's day view, its CSV export, ``pos report`` and the printed Z report
all take their numbers from here, so they cannot disagree by a fen:

- :func:`day_figures`: counts and amounts by state, paid / refunded / net, in
  one ``GROUP BY`` (the database adds up; nothing loads every sale);
- :func:`hourly_takings`: paid amounts by hour of the day (store time zone),
  for the day and the same weekday of earlier weeks, for the chart;
- :func:`sale_lines`: the day's sales one row each (time, numbers, items,
  amount, lane, cashier, state), streamed from the database in id order, a
  page at a time or all of them;
- :func:`csv_chunks` / :func:`write_csv` (in :mod:`pos.reports.day_csv`, re-exported
  here): the day's sales as UTF-8 CSV with a BOM (spreadsheet programs then read
  Chinese correctly), amounts as yuan strings, streamed a batch of sales at a time
  from one snapshot of the day;
- :func:`z_report_data`: the Z report's input from :func:`day_figures`.

The rules: a sale belongs to the business day it was rung up on (its
``business_date``, the store's calendar day). "Paid" is the total of sales that
were paid (PAID, PARTLY_REFUNDED, REFUNDED); "refunded" is what WeChat confirmed
went back on those sales (``refunded_fee``), whenever that happened; "net" is
paid less refunded. Refunds started but not yet confirmed are shown apart
(``refund_pending_fee``) and are not in the net; so are refunds WeChat could not return to the
customer (``CHANGE``: held until the manager acts, ``refund_held_fee``), which are neither
pending nor refunded.

Coupons (which figure is the right one where): a sale's price is its ``total_fee``, the
order amount WeChat charged against (订单金额); "paid", "refunded" and "net" are in that figure,
so the takings match the goods sold and the receipts, whatever coupon a customer used. Beside
them, for the paid sales: what the customers paid out of pocket (``cash_fee``), the coupons
(``coupon_fee``), and what the merchant settles (``settled_fee``, WeChat's 应结订单金额: the
price less the merchant's own 免充值 coupons; a WeChat-funded coupon is paid to the merchant).
The settled figure is what WeChat's bill and the bank statement show, so reconciliation matches
on it (and on the order amount); it is the paid sales' settlement before refunds. The day view,
the Z report and the CSV show all three where a coupon was used (:attr:`DayFigures.used_coupons`).
A refund of a coupon payment gives back less of the settlement than its amount (WeChat's
应结退款金额, kept per refund since revision 0014): ``settled_refunds`` adds those up and
``settled_net_fee`` is what the merchant keeps; the day view, ``pos report`` and the Z report
show them; the CSV's columns stay as they were (the refunds at order amounts, the settlement
before refunds), so its bytes for sales without coupons do not change.

The SQL is the ledger's (:mod:`pos.ledger.queries`): this module asks it and
formats what comes back; it runs no query of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from pos.config import Config
from pos.i18n import translator
from pos.ledger import Flag, Ledger, SaleState, queries
from pos.ledger.models import PAID_STATES
from pos.money import format_price
from pos.receipts import templates
from pos.reports.day_csv import (
    BOM,
    CSV_COLUMNS,
    CsvRowWriter,
    csv_chunks,
    csv_header,
    csv_words,
    write_csv,
)

__all__ = [
    "BOM",
    "CLOSING",
    "CSV_COLUMNS",
    "CsvRowWriter",
    "DayFigures",
    "SaleLine",
    "StateCount",
    "count_sales",
    "csv_chunks",
    "csv_header",
    "csv_words",
    "day_figures",
    "day_flags",
    "hourly_takings",
    "is_closing",
    "sale_lines",
    "same_weekdays",
    "states_with_closing",
    "write_csv",
    "z_report_data",
]

CLOSING = "CLOSING"  # not a ledger state: an AWAITING_PAYMENT sale past its deadline (is_closing)


@dataclass(frozen=True, slots=True)
class StateCount:
    """Sales of the day in one state: how many and their total (fen)."""

    state: SaleState
    count: int
    total_fee: int


@dataclass(frozen=True, slots=True)
class DayFigures:
    """A business day's totals. Money in fen; ``net_fee`` = paid - refunded."""

    day: date
    store: str
    lane: str | None
    by_state: tuple[StateCount, ...]  # in the state machine's order, only states that occur
    paid_count: int
    paid_fee: int
    refunded_fee: int  # confirmed by WeChat
    refund_pending_fee: int  # started, not yet confirmed (not in the net)
    flagged_count: int  # sales with an anomaly raised (see the ledger's flags)
    # Of the AWAITING_PAYMENT sales, those past their deadline whose close at WeChat is pending
    # (see SaleLine.closing); counted only when day_figures is given ``now``.
    closing_count: int = 0
    closing_fee: int = 0
    # Refunds of the day's sales WeChat could not return (CHANGE): reserved, not refunded, not in
    # refund_pending_fee; the manager must act (pos.ledger.held).
    refund_held_count: int = 0
    refund_held_fee: int = 0
    # Of the paid sales (see the module docstring): what customers paid, the coupons, and what the
    # merchant settles (应结订单金额). Without coupons: paid_fee, 0, paid_fee.
    cash_fee: int = 0
    coupon_fee: int = 0
    settled_fee: int = 0
    # What the merchant gave back for the confirmed refunds (应结退款金额: a refund less a
    # merchant-funded coupon's share). Without coupons: refunded_fee. None: not computed (= refunded).
    settled_refunded_fee: int | None = None

    @property
    def used_coupons(self) -> bool:
        """A coupon was used in a paid sale, or some settlement is not the price: show every figure."""
        return (
            bool(self.coupon_fee)
            or self.settled_fee != self.paid_fee
            or self.cash_fee != self.paid_fee
            or self.settled_refunds != self.refunded_fee
        )

    @property
    def settled_refunds(self) -> int:
        """The settled figure of the refunds (refunded_fee where it was not computed)."""
        return self.refunded_fee if self.settled_refunded_fee is None else self.settled_refunded_fee

    @property
    def settled_net_fee(self) -> int:
        """What the merchant keeps: the paid sales' settlement less what the refunds gave back."""
        return self.settled_fee - self.settled_refunds

    @property
    def count(self) -> int:
        return sum(line.count for line in self.by_state)

    @property
    def net_fee(self) -> int:
        return self.paid_fee - self.refunded_fee

    def count_of(self, state: SaleState) -> int:
        return next((line.count for line in self.by_state if line.state is state), 0)


@dataclass(frozen=True, slots=True)
class SaleLine:
    """One sale as the day view and the CSV show it. Times are aware, in the store's zone."""

    id: int
    created_at: datetime
    paid_at: datetime | None
    out_trade_no: str
    transaction_id: str | None
    items: str  # "拿铁×2; 柠檬茶×1", or the description of a keyed-in amount
    total_fee: int
    refunded_fee: int
    refund_reserved_fee: int
    lane: str
    cashier: str
    state: SaleState
    flagged: bool
    void_requested: bool
    expires_at: datetime | None = None
    # What the customer paid, the coupons, what the merchant settles: None while unpaid.
    cash_fee: int | None = None
    coupon_fee: int | None = None
    settlement_total_fee: int | None = None

    @property
    def used_coupon(self) -> bool:
        """The customer paid less than the price, or the merchant settles other than the price."""
        return bool(self.coupon_fee) or (
            self.settlement_total_fee is not None and self.settlement_total_fee != self.total_fee
        )

    def closing(self, now: datetime) -> bool:
        """Past its deadline, still awaiting payment: the customer's time is up, and the order is
        being closed at WeChat (which refuses a close in an order's first 5 minutes, and the watcher
        closes at its next pass). Neither "awaiting payment" nor expired yet."""
        return is_closing(self.state, self.expires_at, now)

    @property
    def refundable_fee(self) -> int:
        """What a refund may still take back (the total less refunds started and not failed)."""
        return self.total_fee - self.refund_reserved_fee if self.state in PAID_STATES else 0


def is_closing(state: SaleState, expires_at: datetime | None, now: datetime) -> bool:
    """See :meth:`SaleLine.closing`; one rule for the day view, the Z report and the cashier."""
    return state is SaleState.AWAITING_PAYMENT and expires_at is not None and expires_at <= now


# -- totals ------------------------------------------------------------------------------------------


def day_figures(
    ledger: Ledger, day: date, *, store: str, lane: str | None = None, now: datetime | None = None
) -> DayFigures:
    """Counts and totals of ``day`` for ``store`` (and ``lane``), in one aggregate query; with
    ``now``, also the awaiting sales that are closing (past their deadline) at that moment."""
    rows = queries.day_state_totals(ledger, day, store=store, lane=lane, now=now)
    paid = [rows[s] for s in SaleState if s in PAID_STATES and s in rows]
    held_count, held_fee = ledger.day_held_refunds(day, store=store, lane=lane)
    return DayFigures(
        day=day,
        store=store,
        lane=lane or None,
        by_state=tuple(StateCount(s, rows[s][0], rows[s][1]) for s in SaleState if s in rows),
        paid_count=sum(r[0] for r in paid),
        paid_fee=sum(r[1] for r in paid),
        refunded_fee=sum(r[2] for r in paid),
        refund_pending_fee=sum(r[3] for r in paid) - held_fee,
        flagged_count=sum(r[4] for r in rows.values()),
        closing_count=rows.get(SaleState.AWAITING_PAYMENT, (0,) * 10)[5],
        closing_fee=rows.get(SaleState.AWAITING_PAYMENT, (0,) * 10)[6],
        cash_fee=sum(r[7] for r in paid),
        coupon_fee=sum(r[8] for r in paid),
        settled_fee=sum(r[9] for r in paid),
        settled_refunded_fee=queries.day_settled_refunds(ledger, day, store=store, lane=lane),
        refund_held_count=held_count,
        refund_held_fee=held_fee,
    )


def states_with_closing(figures: DayFigures) -> list[tuple[str, int, int]]:
    """``(state, count, total_fee)`` by state, the closing sales (:data:`CLOSING`) on their own line
    after the rest of AWAITING_PAYMENT: what a printed or terminal report lists."""
    out = []
    for line in figures.by_state:
        count, total = line.count, line.total_fee
        closing = line.state is SaleState.AWAITING_PAYMENT and figures.closing_count > 0
        if closing:
            count, total = count - figures.closing_count, total - figures.closing_fee
        if count:
            out.append((line.state.value, count, total))
        if closing:
            out.append((CLOSING, figures.closing_count, figures.closing_fee))
    return out


def same_weekdays(day: date, weeks: int) -> list[date]:
    """The same weekday in each of the ``weeks`` weeks before ``day``, nearest first."""
    return [day - timedelta(days=7 * n) for n in range(1, weeks + 1)]


def hourly_takings(
    ledger: Ledger, days: Sequence[date], *, store: str, zone: ZoneInfo, lane: str | None = None
) -> dict[date, tuple[int, ...]]:
    """Paid amounts (fen) of each day in ``days`` by hour of payment in the store's zone: 24 values.

    The database adds up by minute of payment (UTC), so any zone offset -- whole hours or
    not, summer time or not -- is applied to at most 1,440 buckets a day, not to every sale.
    """
    days = list(dict.fromkeys(days))
    if not days:
        return {}
    result = {d: [0] * 24 for d in days}
    for business_day, bucket, fee in queries.hourly_minutes(ledger, days, store=store, lane=lane):
        at = datetime.strptime(bucket, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
        result[business_day][at.astimezone(zone).hour] += fee
    return {d: tuple(hours) for d, hours in result.items()}


# -- the sales, one line each ----------------------------------------------------------------------


def sale_lines(
    ledger: Ledger,
    day: date,
    *,
    store: str,
    zone: ZoneInfo,
    lane: str | None = None,
    states: Iterable[SaleState] = (),
    flagged_only: bool = False,
    offset: int = 0,
    limit: int | None = None,
) -> Iterator[SaleLine]:
    """The day's sales in the order they were rung up, streamed (a page of them with ``limit``).

    Times are read as stored text and converted here with a per-hour offset cache, so a day
    of 100,000 sales is not 200,000 datetime round trips through the ORM's type machinery.
    """
    local = _LocalTimes(zone)
    rows = queries.sale_rows(
        ledger, day, store=store, lane=lane, states=states, flagged_only=flagged_only,
        offset=offset, limit=limit,
    )  # fmt: skip
    for row in rows:
        yield SaleLine(
            id=row[0],
            created_at=local(row[1]),
            paid_at=local(row[2]) if row[2] is not None else None,
            out_trade_no=row[3],
            transaction_id=row[4],
            items=row[5],
            total_fee=row[6],
            refunded_fee=row[7],
            refund_reserved_fee=row[8],
            lane=row[9],
            cashier=row[10],
            state=SaleState(row[11]),
            flagged=bool(row[12]),
            void_requested=bool(row[13]),
            expires_at=local(row[14]) if row[14] is not None else None,
            cash_fee=row[15],
            coupon_fee=row[16],
            settlement_total_fee=row[17],
        )


def count_sales(
    ledger: Ledger,
    day: date,
    *,
    store: str,
    lane: str | None = None,
    states: Iterable[SaleState] = (),
    flagged_only: bool = False,
) -> int:
    """How many lines :func:`sale_lines` gives with the same filters (for paging)."""
    return queries.count_sales(ledger, day, store=store, lane=lane, states=states, flagged_only=flagged_only)


class _LocalTimes:
    """Stored UTC timestamps (text on SQLite, datetimes on PostgreSQL) as aware store-zone times."""

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone
        self._offsets: dict[str, timezone] = {}

    def __call__(self, value: str | datetime) -> datetime:
        if isinstance(value, datetime):
            moment = value if value.tzinfo else value.replace(tzinfo=UTC)
            return moment.astimezone(self.zone)
        hour = value[:13]
        fixed = self._offsets.get(hour)
        if fixed is None:  # zones change offset on the hour at the finest; one lookup per hour seen
            at = datetime.fromisoformat(hour + ":00").replace(tzinfo=UTC).astimezone(self.zone)
            offset = at.utcoffset() or timedelta(0)
            fixed = self._offsets[hour] = timezone(offset, at.tzname())
        naive = datetime.fromisoformat(value[:19])
        return (naive + fixed.utcoffset(None)).replace(tzinfo=fixed)


# -- the Z report ----------------------------------------------------------------------------------


def z_report_data(
    ledger: Ledger, config: Config, day: date, *, printed_at: datetime, lane: str | None = None
) -> templates.ZReportData:
    """The printed Z report's figures: the same :func:`day_figures` the page and the CSV show."""
    figures = day_figures(ledger, day, store=config.store.id, lane=lane, now=printed_at)
    return templates.ZReportData(
        store_name=config.store.name,
        business_day=day,
        printed_at=printed_at,
        by_state=tuple(templates.StateTotal(*line) for line in states_with_closing(figures)),
        paid_fen=figures.paid_fee,
        refunded_fen=figures.refunded_fee,
        lane=lane or "",
        timezone=config.store.timezone,
        extra=held_rows(figures, config.store.language),
        coupons=(
            (figures.cash_fee, figures.coupon_fee, figures.settled_fee) if figures.used_coupons else None
        ),
        settled_refunded_fen=figures.settled_refunds,
    )


def held_rows(figures: DayFigures, language: str) -> tuple[tuple[str, str], ...]:
    """The Z report's line for refunds held (CHANGE), when there are any: not in "refunded"."""
    if not figures.refund_held_count:
        return ()
    t = translator(language)
    return ((t("slip.refund_held", n=figures.refund_held_count), format_price(figures.refund_held_fee)),)


# -- anomalies -------------------------------------------------------------------------------------


def day_flags(ledger: Ledger, day: date, *, store: str, zone: ZoneInfo) -> list[Flag]:
    """Flags raised about ``day``'s sales, and flags without a sale (unknown orders) raised that day,
    open ones first, each group oldest first (read by :func:`pos.ledger.queries.day_flags`)."""
    return queries.day_flags(ledger, day, store=store, zone=zone)
