"""The chain's day CSV: every store's sales of a day, a store column first.

The same rows as one store's CSV (:func:`pos.reports.day.csv_chunks`: same header words, same
cells, same streaming a batch at a time from one snapshot), with the sale's store in front. Store
ids are letters and digits (:data:`pos.ledger.identifiers.STORE_ID_PATTERN`), so the store's
cell needs no quoting. Times are in the zone of the till that serves the file: a chain's stores
are expected to share one.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from zoneinfo import ZoneInfo

from pos.i18n import translator
from pos.ledger import Ledger, SaleState
from pos.ledger.chain import chain_csv_batches
from pos.reports.day import BOM, CsvRowWriter, csv_header, csv_words


def chain_csv_chunks(
    ledger: Ledger,
    day: date,
    *,
    zone: ZoneInfo,
    language: str = "zh-CN",
    state_words: dict[SaleState, str] | None = None,
) -> Iterator[bytes]:
    """The chain's CSV as UTF-8 byte chunks: BOM, header (store first), then each store's sales."""
    header = csv_header(language).decode("utf-8").removeprefix(BOM)
    yield (BOM + translator(language)("csv.store") + "," + header).encode("utf-8")
    writer = CsvRowWriter(zone, csv_words(state_words))
    for store, batch in chain_csv_batches(ledger, day):
        prefix = f"{store},".encode()
        # One row at a time: a row's cells may hold quoted line breaks, so lines are not split after.
        yield b"".join(prefix + writer.rows([row]) for row in batch)
