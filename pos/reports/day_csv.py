"""The day's sales as CSV: UTF-8 with a BOM, amounts in yuan, streamed a batch at a time.

Split from :mod:`pos.reports.day` (which re-exports every name here, so callers keep using
``report.csv_chunks``); the figures and the rules the CSV follows are described there. The
columns are :data:`CSV_COLUMNS`; since revision 0010 the last three are what the customer paid,
the coupon and what the merchant settles (empty for unpaid sales).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime
from typing import IO
from zoneinfo import ZoneInfo

from pos.i18n import translator
from pos.ledger import Ledger, SaleState, queries
from pos.money import format_yuan

BOM = "\ufeff"

# -- CSV -------------------------------------------------------------------------------------------

# The CSV's columns in order; each one's header is the word ``csv.<column>`` of pos.i18n.
CSV_COLUMNS = (
    "time",
    "out_trade_no",
    "transaction_id",
    "items",
    "amount",
    "refunded",
    "state",
    "lane",
    "cashier",
    "paid_at",
    # What the customer paid, the coupons, what the merchant settles (应结订单金额): filled for
    # paid sales (a sale without a coupon: the amount, 0.00, the amount), empty otherwise.
    "cash_paid",
    "coupon",
    "settled",
)

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
) -> Iterator[bytes]:
    """The day's CSV as UTF-8 byte chunks, BOM first, header, then one row per sale in id order.

    Made as it is sent: the header goes out before any sale is read (the download starts at
    once), then one chunk per batch of sales (:data:`pos.ledger.queries.CSV_BATCH`), all read in
    one snapshot of the day. A generator the caller iterates (Flask's response, ``pos report
    --csv``): at most one batch is held, so a 100,000-sale day takes the memory of a 5,000-sale
    one, on SQLite and PostgreSQL alike. A client that goes away closes it, which ends the read.
    """
    yield csv_header(language)
    writer = CsvRowWriter(zone, csv_words(state_words))
    for batch in queries.csv_batches(ledger, day, store=store, lane=lane):
        yield writer.rows(batch)


def csv_header(language: str) -> bytes:
    """The CSV's first bytes: the BOM and the header row in ``language``."""
    t = translator(language)
    header = io.StringIO()
    header.write(BOM)
    csv.writer(header, lineterminator="\r\n").writerow([t(f"csv.{column}") for column in CSV_COLUMNS])
    return header.getvalue().encode("utf-8")


def csv_words(state_words: dict[SaleState, str] | None) -> dict[str, str]:
    """Each state's stored value to the word the CSV prints for it (the value itself if none)."""
    given = state_words or {}
    return {state.value: given.get(state, state.value) for state in SaleState}


class CsvRowWriter:
    """Turns the CSV query's rows into UTF-8 text, remembering what it learnt across calls.

    Lean on purpose: the items come as the one listing text the ledger stored with each sale;
    times stay text, converted to the store's zone once per minute seen, not once per sale;
    amounts, words and names become cells once per distinct value; each row is one f-string over
    the driver's plain tuples; rows are encoded a batch at a time. ``words`` maps each
    state's value to the word printed for it. The cells follow the csv module's rules (see
    :class:`_Cells`).
    """

    def __init__(self, zone: ZoneInfo, words: dict[str, str]) -> None:
        self.local = _LocalText(zone)
        self.yuan = _YuanText()
        self.cell = _Cells()
        self.words = {state: self.cell(word) for state, word in words.items()}

    def rows(self, batch: Iterable[Sequence[object]]) -> bytes:
        """One batch of :func:`pos.ledger.queries.csv_batches`'s rows as CSV lines, ``\r\n`` after each."""
        local, yuan, cell, words = self.local, self.yuan, self.cell, self.words
        known, minute, amount = cell.get, local.get, yuan.get
        # The coupon figures are NULL for unpaid sales: an empty cell (yuan(None) is never called).
        amount_of = self.optional
        # out_trade_no and lane are letters, digits and dashes by the ledger's own rules;
        # WeChat's transaction ids are digits (anything else goes through cell()).
        lines = [
            f"{minute(created[:16]) or local.learn(created)}{created[16:19]},{out_trade_no},"
            f"{(tid if tid.isalnum() else cell(tid)) if tid else ''},{known(items) or cell(items)},"
            f"{amount(total) or yuan(total)},{amount(refunded) or yuan(refunded)},"
            f"{words.get(state) or cell(state)},{lane_id},{known(cashier) or cell(cashier)},"
            f"{(minute(paid[:16]) or local.learn(paid)) + paid[16:19] if paid else ''},"
            f"{amount_of(cash)},{amount_of(coupon)},{amount_of(settled)}"
            for (
                created,
                out_trade_no,
                tid,
                items,
                total,
                refunded,
                state,
                lane_id,
                cashier,
                paid,
                cash,
                coupon,
                settled,
                _,
            ) in batch  # type: ignore[misc]
        ]
        lines.append("")
        return "\r\n".join(lines).encode("utf-8")

    def optional(self, fen: int | None) -> str:
        """An amount cell, empty for None."""
        if fen is None:
            return ""
        return self.yuan.get(fen) or self.yuan(fen)


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
