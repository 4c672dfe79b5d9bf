"""One reconciliation run: fetch the day's bill, read the ledger, match, fix what may be fixed, store.

:func:`reconcile_day` is what ``pos reconcile`` and the manager's "reconcile now"
call. It never raises for WeChat's side of things: a day without a bill, a bill
not yet built, WeChat unreachable, a refusal or a bill that cannot be read all
end as a stored run with its status and a message saying what to do. Database
trouble does raise (nothing could be stored anyway).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime

from pos.config import Config
from pos.i18n import translator
from pos.ledger import InvalidInput, Ledger, PaidStatus
from pos.ledger.micropay import given_up_among, sale_number
from pos.ledger.reconciliation import (
    Difference,
    DifferenceKind,
    KnownSale,
    Reconciliation,
    ReconciliationStatus,
    paid_on_bill_day,
    record_bill_payment,
    refunds_by_number,
    refunds_on_bill_day,
    sales_by_out_trade_no,
    save_reconciliation,
)
from pos.log import get_logger
from pos.reconcile.errors import ReconcileError
from pos.reconcile.matcher import (
    LedgerSide,
    bill_coupon,
    bill_settlement,
    is_refund_row,
    match,
    sentence_values,
)
from pos.wechatpay import WeChatPayClient
from pos.wechatpay.bills import BillRow, parse_bill
from pos.wechatpay.errors import BillNotReady, MessageError, NoBill, ProtocolFail, TransportError

log = get_logger(__name__)


class BillUnavailable(ReconcileError):
    """The bill could not be had; ``status`` is not_ready or error and ``message`` says why."""

    def __init__(self, status: ReconciliationStatus, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def fetch_bill_rows(
    client: WeChatPayClient, day: date, language: str = "zh-CN"
) -> tuple[BillRow, ...] | None:
    """The detail rows of ``day``'s ALL bill (gzip), or None when WeChat has no bill for the day.

    Raises :class:`BillUnavailable` when the bill cannot be had or read.
    """
    shown, t = day.isoformat(), translator(language)
    try:
        text = client.download_bill(day, "ALL", gzip=True)
    except NoBill:
        return None
    except BillNotReady:
        raise BillUnavailable(ReconciliationStatus.NOT_READY, t("reconcile.not_ready", day=shown)) from None
    except TransportError as exc:
        raise BillUnavailable(
            ReconciliationStatus.ERROR, t("reconcile.unreachable", day=shown, error=exc)
        ) from None
    except ProtocolFail as exc:
        raise BillUnavailable(
            ReconciliationStatus.ERROR, t("reconcile.refused", day=shown, error=exc.return_msg or exc)
        ) from None
    except MessageError as exc:  # an XML refusal we cannot read, e.g.
        raise BillUnavailable(
            ReconciliationStatus.ERROR, t("reconcile.unreadable", day=shown, error=exc)
        ) from None
    try:
        bill = parse_bill(text)
    except MessageError as exc:
        raise BillUnavailable(
            ReconciliationStatus.ERROR, t("reconcile.unreadable", day=shown, error=exc)
        ) from None
    if bill.summary.count != len(bill.rows):
        problem = t("reconcile.truncated", expected=bill.summary.count, got=len(bill.rows))
        raise BillUnavailable(ReconciliationStatus.ERROR, t("reconcile.unreadable", day=shown, error=problem))
    return bill.rows


def ledger_side(ledger: Ledger, day: date, rows: Sequence[BillRow]) -> LedgerSide:
    """What the ledger holds for bill day ``day`` and for the numbers ``rows`` name."""
    numbers = {r.out_trade_no for r in rows}
    sales = sales_by_out_trade_no(ledger, numbers | {sale_number(n) for n in numbers})
    return LedgerSide(
        sales=sales,
        given_up=given_up_among(ledger, sales.values(), numbers),
        paid=paid_on_bill_day(ledger, day),
        refunds=refunds_by_number(ledger, (r.out_refund_no for r in rows if is_refund_row(r))),
        day_refunds=refunds_on_bill_day(ledger, day),
    )


def reconcile_day(
    ledger: Ledger,
    client: WeChatPayClient,
    config: Config,
    day: date,
    *,
    now: datetime | None = None,
) -> Reconciliation:
    """Reconcile bill day ``day`` (Beijing's calendar day, WeChat's bill day) and store the run."""
    language = config.store.language
    shown, t = day.isoformat(), translator(language)
    ran_at = now or datetime.now(UTC)
    try:
        rows = fetch_bill_rows(client, day, language)
    except BillUnavailable as exc:
        log.warning("reconcile_no_bill", day=day, status=exc.status.value, message=exc.message)
        return save_reconciliation(
            ledger, Reconciliation(day, ran_at, exc.status, exc.message, 0, store=config.store.id)
        )
    matching = match(
        rows or (),
        ledger_side(ledger, day, rows or ()),
        other_channels=config.store.other_channels,
        language=language,
    )
    differences = list(matching.differences)
    matched = matching.matched
    fixes = [_mark_paid_from_bill(ledger, row, sale, language) for row, sale in matching.unpaid]
    matched += sum(1 for fix in fixes if fix is None)
    differences[:0] = [fix for fix in fixes if fix is not None]
    problems = [d for d in differences if d.is_difference]
    if rows is None:
        status = ReconciliationStatus.DIFFERENCES if problems else ReconciliationStatus.NO_BILL
        message = t(
            "reconcile.no_bill_differences" if problems else "reconcile.no_bill",
            day=shown,
            count=len(problems),
        )
    else:
        status = ReconciliationStatus.DIFFERENCES if problems else ReconciliationStatus.MATCHED
        message = t(f"reconcile.{status.value}", day=shown, count=len(problems), matched=matched)
    others = len(differences) - len(problems)
    if others:
        message += t("reconcile.other_channels", count=others)
    result = Reconciliation(
        day=day,
        ran_at=ran_at,
        status=status,
        message=message,
        matched=matched,
        differences=tuple(differences),
        bill_rows=len(rows or ()),
        store=config.store.id,
    )
    return save_reconciliation(ledger, result)


def _mark_paid_from_bill(ledger: Ledger, row: BillRow, sale: KnownSale, language: str) -> Difference | None:
    """Mark a sale WeChat's bill shows paid; the difference to report (None: it was paid meanwhile)."""
    t = translator(language)

    def difference(kind: DifferenceKind, key: str, **values: object) -> Difference:
        detail = t(
            f"reconcile.{key}", **sentence_values({"ledger": sale.total_fee, "bill": row.total_fee, **values})
        )
        return Difference(kind, row.out_trade_no, row.transaction_id, sale.total_fee, row.total_fee, detail)

    try:
        outcome = record_bill_payment(
            ledger,
            sale.out_trade_no,  # a payment code's row names its attempt (-M<n>): the sale's number
            transaction_id=row.transaction_id,
            total_fee=row.total_fee,
            time_end=row.trade_time,
            openid=row.openid or None,
            raw=dict(row.columns) or None,
            coupon_fee=bill_coupon(row),
            settlement_total_fee=bill_settlement(row),
        )
    except InvalidInput as exc:
        return difference(DifferenceKind.STATE, "fixed_invalid", error=exc)
    state = t.state(sale.state, in_sentence=True)
    if outcome.status in (PaidStatus.PAID, PaidStatus.PAID_AFTER_CLOSE):
        return difference(DifferenceKind.PAID_AT_WECHAT_ONLY, "fixed_paid", state=state)
    if outcome.status is PaidStatus.ALREADY_PAID:
        return None  # the watcher or a late notice got there between our read and now
    if outcome.status is PaidStatus.AMOUNT_MISMATCH:
        return difference(DifferenceKind.AMOUNT, "fixed_amount")
    if outcome.status is PaidStatus.UNKNOWN_SALE:
        return difference(DifferenceKind.MISSING_IN_LEDGER, "unknown_order")
    return difference(DifferenceKind.STATE, "fixed_conflict")
