"""Printing a reconciliation: the lines for the Z report slip, and the print job that asks for them.

The ledger's print jobs have no kind of their own for a reconciliation, so it
prints as a Z report of its day whose payload names the run
(``{"business_date": "2026-11-27", "reconciliation": 12}``); the Z report's
renderer appends :func:`slip_rows` (label, value pairs, the ``extra`` rows of
:class:`pos.receipts.templates.ZReportData`) under the day's totals.
"""

from __future__ import annotations

from datetime import date

from pos.i18n import translator
from pos.ledger import JobKind, Ledger, PrintJob
from pos.ledger.reconciliation import Reconciliation, latest_reconciliation, reconciliations_for_day
from pos.money import format_price

PAYLOAD_KEY = "reconciliation"


def slip_rows(result: Reconciliation, language: str = "zh-CN") -> tuple[tuple[str, str], ...]:
    """The reconciliation as (label, value) rows: the verdict, the counts, then one row per difference
    (its out_trade_no, and what kind of difference with the amounts the two sides have)."""
    t = translator(language)
    rows: list[tuple[str, str]] = [
        (t("reconcile.slip_title"), result.day.isoformat()),
        (t("reconcile.slip_status"), t(f"reconcile.status_{result.status}")),
        (t("reconcile.slip_matched"), str(result.matched)),
        (t("reconcile.slip_differences"), str(len(result.problems))),
    ]
    if result.other_channel:
        rows.append((t("reconcile.slip_other"), str(len(result.other_channel))))
    for difference in result.differences:
        sides = " / ".join(
            f"{t('reconcile.' + name)} {format_price(fee) if fee is not None else '-'}"
            for name, fee in (("ledger", difference.ledger_fee), ("wechat", difference.bill_fee))
        )
        label = difference.out_trade_no + (f" {difference.out_refund_no}" if difference.out_refund_no else "")
        rows.append((label, f"{t(f'reconcile.kind_{difference.kind}')} {sides}"))
    return tuple(rows)


def rows_for_job(
    ledger: Ledger, payload: dict[str, object], language: str = "zh-CN"
) -> tuple[tuple[str, str], ...]:
    """The rows a Z report job asks for with ``"reconciliation"`` in its payload (nothing if it does not,
    or if the day has no run): the run it names if that run is of its day, else the day's latest."""
    if not payload.get(PAYLOAD_KEY):
        return ()
    raw = payload.get("business_date")
    try:
        day = date.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        day = None
    if day is None:
        return ()  # the Z report itself refuses a payload without a good day
    wanted = payload.get(PAYLOAD_KEY)
    chosen = next((r for r in reconciliations_for_day(ledger, day) if r.id == wanted), None)
    chosen = chosen or latest_reconciliation(ledger, day)
    return slip_rows(chosen, language) if chosen is not None else ()


def queue_print(
    ledger: Ledger, result: Reconciliation, *, store: str | None = None, lane: str | None = None
) -> PrintJob:
    """Queue the run on the till's printer (as its day's Z report with the reconciliation appended);
    ``store`` and ``lane``: that till (else the first till to look prints it)."""
    return ledger.enqueue_job(
        JobKind.Z_REPORT,
        payload={"business_date": result.day.isoformat(), PAYLOAD_KEY: result.id or True},
        store=store,
        lane=lane,
    )
