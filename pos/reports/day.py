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
- :func:`csv_chunks` / :func:`write_csv`: those rows as UTF-8 CSV with a BOM
  (spreadsheet programs then read Chinese correctly), amounts as yuan strings;
- :func:`z_report_data`: the Z report's input from :func:`day_figures`.

The rules: a sale belongs to the business day it was rung up on (its
``business_date``, the store's calendar day). "Paid" is the total of sales that
were paid (PAID, PARTLY_REFUNDED, REFUNDED); "refunded" is what WeChat confirmed
went back on those sales (``refunded_fee``), whenever that happened; "net" is
paid less refunded. Refunds started but not yet confirmed are shown apart
(``refund_pending_fee``) and are not in the net.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import IO, TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, String, and_, case, func, literal, or_, select, type_coerce
from sqlalchemy.sql.elements import ColumnElement

from pos.config import Config
from pos.ledger import Flag, FlagKind, Ledger, SaleState
from pos.ledger.database import READ_ONLY
from pos.ledger.models import PAID_STATES
from pos.ledger.schema import DAY_REVISION_BLOCK, day_revisions, flags, sales
from pos.money import format_yuan
from pos.receipts import templates

if TYPE_CHECKING:
    from pos.till.csv_helper import CsvHelper

log = logging.getLogger(__name__)

__all__ = [
    "CLOSING",
    "CSV_COLUMNS",
    "CsvBlock",
    "CsvRowWriter",
    "DayFigures",
    "SaleLine",
    "StateCount",
    "block_rows",
    "count_sales",
    "counts_changes",
    "csv_chunks",
    "csv_header",
    "csv_rows",
    "csv_statement",
    "csv_words",
    "day_figures",
    "day_flags",
    "day_versions",
    "hourly_takings",
    "is_closing",
    "sale_lines",
    "same_weekdays",
    "split_blocks",
    "states_with_closing",
    "write_csv",
    "z_report_data",
]

BOM = "\ufeff"
CSV_BATCH = 5000  # rows fetched and written at a time
CSV_SPLIT_FROM = 20_000  # sales in a day (ids it spans) from which csv_chunks gives half to a helper
CSV_HELPER_PATIENCE = 60.0  # seconds to wait for the helper's half (it takes well under one)
_PAID = [s.value for s in SaleState if s in PAID_STATES]
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


def _day_filter(day: date, store: str, lane: str | None) -> ColumnElement[bool]:
    where = [sales.c.business_date == day, sales.c.store == store]
    if lane:
        where.append(sales.c.lane == lane)
    return and_(*where)


def _read(ledger: Ledger) -> AbstractContextManager[Connection]:
    return _reading(ledger.engine)


@contextmanager
def _reading(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction (a plain BEGIN on SQLite: never blocks the writers)."""
    with engine.connect() as conn:
        conn.execution_options(**READ_ONLY)
        with conn.begin():
            yield conn


def day_figures(
    ledger: Ledger, day: date, *, store: str, lane: str | None = None, now: datetime | None = None
) -> DayFigures:
    """Counts and totals of ``day`` for ``store`` (and ``lane``), in one aggregate query; with
    ``now``, also the awaiting sales that are closing (past their deadline) at that moment."""
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
        )
        .where(_day_filter(day, store, lane))
        .group_by(sales.c.state)
    )
    with _read(ledger) as conn:
        rows = {SaleState(r[0]): tuple(int(v) for v in r[1:]) for r in conn.execute(statement)}
    paid = [rows[s] for s in SaleState if s in PAID_STATES and s in rows]
    return DayFigures(
        day=day,
        store=store,
        lane=lane or None,
        by_state=tuple(StateCount(s, rows[s][0], rows[s][1]) for s in SaleState if s in rows),
        paid_count=sum(r[0] for r in paid),
        paid_fee=sum(r[1] for r in paid),
        refunded_fee=sum(r[2] for r in paid),
        refund_pending_fee=sum(r[3] for r in paid),
        flagged_count=sum(r[4] for r in rows.values()),
        closing_count=rows.get(SaleState.AWAITING_PAYMENT, (0,) * 7)[5],
        closing_fee=rows.get(SaleState.AWAITING_PAYMENT, (0,) * 7)[6],
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
    result = {d: [0] * 24 for d in days}
    if not days:
        return {}
    moment = func.coalesce(sales.c.paid_at, sales.c.created_at)
    where = [
        sales.c.business_date.in_(days),
        sales.c.store == store,
        sales.c.state.in_(_PAID),
    ]
    if lane:
        where.append(sales.c.lane == lane)
    with _read(ledger) as conn:
        minute = _minute_text(conn, moment)
        statement = (
            select(sales.c.business_date, minute, func.sum(sales.c.total_fee))
            .where(*where)
            .group_by(sales.c.business_date, minute)
        )
        rows = conn.execute(statement).all()
    for business_day, bucket, fee in rows:
        if isinstance(business_day, str):
            business_day = date.fromisoformat(business_day)
        at = datetime.strptime(bucket, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
        result[business_day][at.astimezone(zone).hour] += int(fee)
    return {d: tuple(hours) for d, hours in result.items()}


def _minute_text(conn: Connection, moment: Any) -> Any:
    """``YYYY-MM-DD HH:MM`` of a UTC timestamp column, in SQL, on SQLite and PostgreSQL."""
    if conn.dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", moment), "YYYY-MM-DD HH24:MI")
    return func.substr(type_coerce(moment, String), 1, 16)  # stored as "YYYY-MM-DD HH:MM:SS.ffffff" UTC


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
    where = [_day_filter(day, store, lane)]
    wanted = [s.value for s in states]
    if wanted:
        where.append(sales.c.state.in_(wanted))
    if flagged_only:
        where.append(sales.c.flagged.is_(True))
    local = _LocalTimes(zone)
    with _read(ledger) as conn:
        statement = _sale_lines_statement(conn, where, offset, limit)
        result = conn.execution_options(yield_per=2000).execute(statement)
        for row in result:
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
            )


def _sale_lines_statement(conn: Connection, where: list[Any], offset: int, limit: int | None) -> Any:
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
        )
        .where(*where)
        .order_by(sales.c.id)
        .offset(max(0, offset))
    )
    if limit is not None:
        statement = statement.limit(max(0, limit))
    return statement


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
    where = [_day_filter(day, store, lane)]
    wanted = [s.value for s in states]
    if wanted:
        where.append(sales.c.state.in_(wanted))
    if flagged_only:
        where.append(sales.c.flagged.is_(True))
    with _read(ledger) as conn:
        return int(conn.execute(select(func.count()).select_from(sales).where(*where)).scalar_one())


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


# -- CSV -------------------------------------------------------------------------------------------

CSV_COLUMNS: dict[str, tuple[str, str]] = {
    # key: (zh-CN header, en header)
    "time": ("下单时间", "Time"),
    "out_trade_no": ("商户订单号", "out_trade_no"),
    "transaction_id": ("微信支付订单号", "WeChat transaction_id"),
    "items": ("商品", "Items"),
    "amount": ("金额(元)", "Amount (yuan)"),
    "refunded": ("已退款(元)", "Refunded (yuan)"),
    "state": ("状态", "State"),
    "lane": ("机号", "Lane"),
    "cashier": ("收银员", "Cashier"),
    "paid_at": ("支付时间", "Paid at"),
}

# Cells a spreadsheet would run as a formula (CSV injection): shown as text instead.
_FORMULA_START = frozenset("=+-@\t\r")


def csv_chunks(
    ledger: Ledger,
    day: date,
    *,
    store: str,
    zone: ZoneInfo,
    language: str = "zh-CN",
    lane: str | None = None,
    state_words: dict[SaleState, str] | None = None,
    helper: CsvHelper | None = None,
    blocks: list[CsvBlock] | None = None,
) -> Iterator[bytes]:
    """The day's CSV as UTF-8 byte chunks, BOM first, header, then one row per sale in id order.

    With a ``helper`` (the till keeps one: :class:`pos.till.csv_helper.CsvHelper`) a day of
    :data:`CSV_SPLIT_FROM` sales or more is written in two halves at once: this process writes the
    first, the helper's process the second, and the second follows the first. A day that big
    is otherwise bound by one core (bench/report.py). The two halves are read in two
    transactions a few milliseconds apart, so a payment landing in between may show in one half
    and not yet in the other, as it would in a file written a moment earlier. If the helper
    fails, this process writes the second half itself: the file is the same either way.

    ``blocks``, when given (and the ledger counts its changes, see :func:`day_versions`), receives
    the rows again as :class:`CsvBlock`, one per block of ids in order, each with the count it was
    read at: what pos.till.kept_csv keeps, to write again only the blocks that change.
    """
    yield csv_header(language)
    words = csv_words(state_words)
    rows = functools.partial(csv_rows, day=day, store=store, zone=zone, lane=lane, words=words, blocks=blocks)
    split = (
        _split_point(ledger.engine, day, on_a_block_edge=blocks is not None) if helper is not None else None
    )
    if helper is None or split is None:
        yield from rows(ledger.engine)
        return
    later = helper.rows(day=day, store=store, zone=zone, lane=lane, words=words, after=split)
    yield from rows(ledger.engine, through=split)
    try:
        data, table = later.result(timeout=CSV_HELPER_PATIENCE)
    except Exception as error:  # the helper's process died, failed or hangs: write that half here
        log.warning("event=csv_helper_failed day=%s error=%s", day, type(error).__name__)
        yield from rows(ledger.engine, after=split)
        return
    if not table:  # a ledger that does not count its changes: one chunk
        yield data
        return
    # Block by block (a chunk of half the file would be copied whole into the server's buffer).
    for block in split_blocks(data, table):
        if blocks is not None:
            blocks.append(block)
        yield block.data


def csv_header(language: str) -> bytes:
    """The CSV's first bytes: the BOM and the header row in ``language`` (zh-CN, else English)."""
    index = 0 if language == "zh-CN" else 1
    header = io.StringIO()
    header.write(BOM)
    csv.writer(header, lineterminator="\r\n").writerow([headers[index] for headers in CSV_COLUMNS.values()])
    return header.getvalue().encode("utf-8")


def csv_words(state_words: dict[SaleState, str] | None) -> dict[str, str]:
    """Each state's stored value to the word the CSV prints for it (the value itself if none)."""
    given = state_words or {}
    return {state.value: given.get(state, state.value) for state in SaleState}


def counts_changes(dialect_name: str) -> bool:
    """Whether a ledger on this database counts the changes to its days' sales (revision 0006's
    triggers: SQLite only), so that rows made from it can be known to be unchanged."""
    return dialect_name == "sqlite"


def day_versions(conn: Connection, day: date, store: str) -> dict[int, int] | None:
    """Each block of ids holding ``day``'s sales of ``store`` (``id // DAY_REVISION_BLOCK``) and how
    many times its sales have changed, read in ``conn``'s transaction; None where the ledger does
    not count them (PostgreSQL, see revision 0006), so nothing can be known to be unchanged."""
    if not counts_changes(conn.dialect.name):
        return None
    counted = select(day_revisions.c.block, day_revisions.c.revision).where(
        day_revisions.c.business_date == day, day_revisions.c.store == store
    )
    return {block: revision for block, revision in conn.execute(counted)}


@dataclass(frozen=True, slots=True)
class CsvBlock:
    """The CSV's rows of the sales of one block of ids, and the block's count when they were read
    (None: only part of the block, or a ledger that does not count)."""

    block: int
    revision: int | None
    data: bytes


def split_blocks(data: bytes, table: Sequence[tuple[int, int | None, int]]) -> Iterator[CsvBlock]:
    """``data`` cut back into blocks by ``table``: (block, revision, length) for each, in order."""
    start = 0
    for block, revision, length in table:
        yield CsvBlock(block, revision, data[start : start + length])
        start += length
    if start != len(data):
        raise ValueError(f"the blocks' lengths add up to {start} bytes, not {len(data)}")


def csv_rows(
    engine: Engine,
    *,
    day: date,
    store: str,
    zone: ZoneInfo,
    lane: str | None,
    words: dict[str, str],
    after: int | None = None,
    through: int | None = None,
    blocks: list[CsvBlock] | None = None,
) -> Iterator[bytes]:
    """The CSV's rows of the day's sales with ``after < id <= through``, in UTF-8 chunks, read in
    one transaction. With ``blocks`` on a ledger that counts changes (:func:`day_versions`), one
    chunk per block of ids, each also appended there as a :class:`CsvBlock`.

    This is the one path that reads every sale of the day (100,000 on a big day), so it stays
    lean (see :class:`CsvRowWriter`).
    """
    writer = CsvRowWriter(zone, words)
    with _reading(engine) as conn:
        # The transaction's first read: its snapshot is the rows' snapshot.
        versions = day_versions(conn, day, store) if blocks is not None else None
        if versions is None:
            yield from writer.rows(conn, csv_statement(conn, day, store=store, lane=lane, after=after,
                                                       through=through))  # fmt: skip
            return
        for block in sorted(versions):
            first, last = block * DAY_REVISION_BLOCK, (block + 1) * DAY_REVISION_BLOCK - 1
            low = first - 1 if after is None else max(first - 1, after)
            high = last if through is None else min(last, through)
            if low >= high:
                continue  # outside the range asked for
            data = block_rows(
                conn, writer, day=day, store=store, lane=lane, block=block, after=low, through=high
            )
            whole = low == first - 1 and high == last
            blocks.append(CsvBlock(block, versions[block] if whole else None, data))  # type: ignore[union-attr]
            yield data


def block_rows(
    conn: Connection,
    writer: CsvRowWriter,
    *,
    day: date,
    store: str,
    lane: str | None,
    block: int,
    after: int | None = None,
    through: int | None = None,
) -> bytes:
    """The CSV's rows of one block of ids (all of it, or ``after < id <= through`` within it), read
    in ``conn``'s transaction."""
    first, last = block * DAY_REVISION_BLOCK, (block + 1) * DAY_REVISION_BLOCK - 1
    statement = csv_statement(
        conn, day, store=store, lane=lane,
        after=first - 1 if after is None else after, through=last if through is None else through,
    )  # fmt: skip
    return b"".join(writer.rows(conn, statement))


class CsvRowWriter:
    """Turns the CSV query's rows into UTF-8 text, remembering what it learnt across calls.

    Lean on purpose: the items come as the one listing text the ledger stored with each sale;
    times stay text, converted to the store's zone once per minute seen, not once per sale;
    amounts, words and names become cells once per distinct value; each row is one f-string over
    the driver's plain tuples; rows are encoded a few thousand at a time. ``words`` maps each
    state's value to the word printed for it. The cells follow the csv module's rules (see
    :class:`_Cells`).
    """

    def __init__(self, zone: ZoneInfo, words: dict[str, str]) -> None:
        self.local = _LocalText(zone)
        self.yuan = _YuanText()
        self.cell = _Cells()
        self.words = {state: self.cell(word) for state, word in words.items()}

    def rows(self, conn: Connection, statement: Any) -> Iterator[bytes]:
        local, yuan, cell, words = self.local, self.yuan, self.cell, self.words
        known, minute, amount = cell.get, local.get, yuan.get
        result = conn.execute(statement)  # not stream_results: its strategy reads a row ahead
        # The driver's own cursor: plain tuples, no Row objects for a whole day (every column is
        # already what we print: text, ints, or datetimes that _LocalText takes as they come).
        cursor = result.cursor
        while partition := cursor.fetchmany(CSV_BATCH):
            # out_trade_no and lane are letters, digits and dashes by the ledger's own rules;
            # WeChat's transaction ids are digits (anything else goes through cell()).
            lines = [
                f"{minute(created[:16]) or local.learn(created)}{created[16:19]},{out_trade_no},"
                f"{(tid if tid.isalnum() else cell(tid)) if tid else ''},{known(items) or cell(items)},"
                f"{amount(total) or yuan(total)},{amount(refunded) or yuan(refunded)},"
                f"{words.get(state) or cell(state)},{lane_id},{known(cashier) or cell(cashier)},"
                f"{(minute(paid[:16]) or local.learn(paid)) + paid[16:19] if paid else ''}"
                for created, out_trade_no, tid, items, total, refunded, state, lane_id, cashier, paid in (
                    partition
                )
            ]
            lines.append("")
            yield "\r\n".join(lines).encode("utf-8")
        result.close()


def _split_point(engine: Engine, day: date, *, on_a_block_edge: bool = False) -> int | None:
    """The id halfway through the day's ids, when they span at least CSV_SPLIT_FROM (else None).

    Two lookups at the ends of the day's index (``ix_sales_business_date`` keeps a day's ids in
    order) instead of counting the day's sales (25 ms on 100,000). The span
    counts every store's sales of the day, an upper bound on this store's: at worst a small
    store in a shared database uses the helper when it need not. Any split point gives the same
    file; the middle of the span gives halves of about equal size.
    """
    by_id = select(sales.c.id).where(sales.c.business_date == day)
    with _reading(engine) as conn:
        first = conn.execute(by_id.order_by(sales.c.id).limit(1)).scalar()
        last = conn.execute(by_id.order_by(sales.c.id.desc()).limit(1)).scalar()
    if first is None or last is None or last - first + 1 < CSV_SPLIT_FROM:
        return None
    middle = int(first) + (int(last) - int(first)) // 2
    if not on_a_block_edge:
        return middle
    # The last id of the block nearest the middle: each half then has whole blocks (which
    # pos.till.kept_csv keeps), and a 20,000-sale day spans five blocks or more.
    return round(middle / DAY_REVISION_BLOCK) * DAY_REVISION_BLOCK - 1


def csv_statement(
    conn: Connection,
    day: date,
    *,
    store: str,
    lane: str | None = None,
    after: int | None = None,
    through: int | None = None,
) -> Any:
    """The CSV's query: exactly the columns it prints, in id order (the order of the day's index,
    so no sort), a sale's lines from its stored listing text, no join. bench/report.py times it.

    A covering index for the sales' columns too (measured on a day of 100,000 sales) saved about
    15 ms of a 340 ms read, for a fifth more database and a slower update of every sale: not kept."""
    where = [_day_filter(day, store, lane)]
    if after is not None:
        where.append(sales.c.id > after)
    if through is not None:
        where.append(sales.c.id <= through)
    return (
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
        )
        .where(*where)
        .order_by(sales.c.id)
    )


class _Cells(dict[str, str]):
    """A text as a CSV cell, the way the csv module writes it (quoted only when it must be), and
    never as a formula a spreadsheet would run; remembered, since a day's names and words repeat."""

    def __call__(self, text: str) -> str:
        done = self.get(text)
        if done is None:
            done = "'" + text if text[:1] in _FORMULA_START else text
            if '"' in done or "," in done or "\n" in done or "\r" in done:
                done = '"' + done.replace('"', '""') + '"'
            if len(self) < 50_000:  # transaction ids are unique: do not keep a whole day of them
                self[text] = done
        return done


class _LocalText(dict[str, str]):
    """UTC ``YYYY-MM-DD HH:MM`` -> the store's local ``YYYY-MM-DD HH:MM``, learnt once per minute seen.

    Offsets are whole minutes in every zone in use, so the seconds are copied over as they are.
    """

    def __init__(self, zone: ZoneInfo) -> None:
        super().__init__()
        self.zone = zone

    def learn(self, utc_text: str) -> str:
        minute = utc_text[:16]
        at = datetime.fromisoformat(minute).replace(tzinfo=UTC).astimezone(self.zone)
        local = self[minute] = at.strftime("%Y-%m-%d %H:%M")
        return local


def _utc_text(conn: Connection, column: Any) -> Any:
    """A UTC timestamp column as ``YYYY-MM-DD HH:MM:SS...`` text, on SQLite and PostgreSQL."""
    if conn.dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD HH24:MI:SS")
    return type_coerce(column, String)  # SQLite keeps them as UTC text already


class _YuanText(dict[int, str]):
    """format_yuan with a memory: a day's amounts repeat (the same products, the same prices)."""

    def __call__(self, fen: int) -> str:
        text = self.get(fen)
        if text is None:
            text = self[fen] = format_yuan(fen)
        return text


def write_csv(out: IO[bytes], chunks: Iterable[bytes]) -> int:
    """Write :func:`csv_chunks` to a binary file; returns the number of bytes written."""
    written = 0
    for chunk in chunks:
        out.write(chunk)
        written += len(chunk)
    return written


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
    )


# -- anomalies -------------------------------------------------------------------------------------


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
    with _read(ledger) as conn:
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
