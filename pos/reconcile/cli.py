"""``pos reconcile [--date YYYY-MM-DD] [--print]``: match a day's WeChat bill against the ledger.

Downloads the day's ALL bill (gzip) with the config's merchant, matches it
against the ledger named by ``[database] url``, stores the run (the manager's
day view shows it), prints the verdict and each difference with its
out_trade_no, and with ``--print`` queues it on the till's printer.

The day defaults to yesterday in the store's time zone (WeChat serves day D's
bill from about 10:00 on D+1; the systemd timer runs this at 10:15).

Exit status: 0 the day matches (or had no WeChat trade and no ledger payment),
1 differences were found, 2 usage or configuration error, 3 the bill cannot be
had yet (not ready, WeChat unreachable or refusing, unreadable) or the ledger
failed mid-run: try again later.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from pos.config import Config, ConfigError, load
from pos.i18n import translator
from pos.money import format_price

if TYPE_CHECKING:  # the ledger is imported when the command runs, not for `pos --help`
    from pos.ledger.reconciliation import Reconciliation

EXIT_MATCHED = 0
EXIT_DIFFERENCES = 1
EXIT_USAGE = 2
EXIT_NO_BILL_YET = 3
# By pos.ledger.reconciliation.ReconciliationStatus (a StrEnum: its values compare equal to these).
EXIT_CODES = {
    "matched": EXIT_MATCHED,
    "no_bill": EXIT_MATCHED,
    "differences": EXIT_DIFFERENCES,
    "not_ready": EXIT_NO_BILL_YET,
    "error": EXIT_NO_BILL_YET,
}


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-11-27") from None


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "reconcile",
        help="match a day's WeChat Pay bill against the ledger",
        description=(
            "Download WeChat Pay's bill for a day, match it against the ledger, store and print the result. "
            "Exit 0 when the day matches, 1 when there are differences, 2 for usage or configuration "
            "errors, 3 when the bill cannot be had yet (not ready, WeChat unreachable)."
        ),
    )
    parser.add_argument(
        "--date",
        type=_day,
        metavar="YYYY-MM-DD",
        help="the bill day (default: yesterday in the store's time zone)",
    )
    parser.add_argument(
        "--print",
        dest="print_slip",
        action="store_true",
        help="also print the result on the till's printer (queued for the till's spooler)",
    )
    parser.set_defaults(func=run_reconcile)


def run_reconcile(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from pos.ledger import LedgerError, open_ledger
    from pos.ledger.reconciliation import ReconciliationStatus
    from pos.reconcile.runner import reconcile_day
    from pos.reconcile.slip import queue_print
    from pos.wechatpay.factory import client_for

    try:
        config = load(args.config)
    except ConfigError as exc:
        return _usage(f"configuration error: {exc}")
    today = datetime.now(config.store.zone).date()
    day = args.date or today - timedelta(days=1)
    if day > today:
        return _usage(f"{day} has not happened yet: WeChat has no bill for it")
    try:
        ledger = open_ledger(config.database.url, timezone=config.store.timezone)
    except (LedgerError, ValueError, OSError) as exc:
        return _usage(f"cannot open the ledger ([database] url in {config.source}): {exc}")
    except Exception as exc:  # the driver's own errors (no such host, bad password, ...)
        return _usage(
            f"cannot open the ledger ([database] url in {config.source}): {type(exc).__name__}: {exc}"
        )
    try:
        with client_for(config.merchant) as client:
            result = reconcile_day(ledger, client, config, day)
        show(result, config)
        if args.print_slip:
            job = queue_print(ledger, result, store=config.store.id, lane=config.till.lane)
            print(translator(config.store.language)("reconcile.queued", job=job.id))
    except (LedgerError, SQLAlchemyError) as exc:  # e.g. the database locked or gone mid-run
        print(f"pos reconcile: the ledger failed during the run, try again later: {exc}", file=sys.stderr)
        return EXIT_NO_BILL_YET
    finally:
        ledger.close()
    return EXIT_CODES[ReconciliationStatus(result.status)]


def show(result: Reconciliation, config: Config, out=None) -> None:  # type: ignore[no-untyped-def]
    """The verdict on one line, then one line per difference: kind, store, out_trade_no, both amounts,
    detail. The bill covers the merchant's whole account, so each difference names its store ("-"
    for a number that is not one of ours)."""
    out = out or sys.stdout
    t = translator(config.store.language)
    print(result.message, file=out)
    for d in result.differences:
        number = d.out_trade_no + (f" {d.out_refund_no}" if d.out_refund_no else "")
        amounts = "  ".join(
            f"{t('reconcile.' + side)} {format_price(fee) if fee is not None else '-'}"
            for side, fee in (("ledger", d.ledger_fee), ("wechat", d.bill_fee))
        )
        store = t("recon.store", store=d.store) if d.store else "-"
        print(f"  {d.kind:<20} {store}  {number}  {amounts}  {d.detail}", file=out)
    out.flush()


def _usage(message: str) -> int:
    print(f"pos reconcile: {message}", file=sys.stderr)
    return EXIT_USAGE
