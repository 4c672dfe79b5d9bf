"""What the manager does from the day view: print the Z report, resolve a flag, reconcile with
WeChat's bill now, refund a sale. Each answers with a redirect back to the day and a notice.
"""

from __future__ import annotations

from flask import Response, request

from pos.ledger import JobKind, LedgerError
from pos.ledger.chain import flag_store
from pos.ledger.identifiers import store_of
from pos.ledger.models import PAID_STATES
from pos.manager.blueprint import back_to_day, bp, by, day_arg, log, notice, page_error, state, till, words
from pos.manager.held import resolve
from pos.manager.scope import may_see, own_store, shown_store
from pos.money import AmountTooLarge, MoneyError, format_price, max_price, parse_yuan
from pos.orders.refunds import RefundError, RefundService
from pos.reconcile import reconcile_day


@bp.post("/z-report")
def print_z_report() -> Response:
    service = till()
    day = day_arg()
    if shown_store() != own_store():  # the till prints its own store's Z report, never another's
        notice("error", words()("chain.z_own_store", store=own_store()))
        return back_to_day(day)
    job = service.spooler.enqueue(JobKind.Z_REPORT, payload={"business_date": day.isoformat()})
    log.info("manager_z_report", day=day, job=job.id)
    notice("info", words()("day.z_queued", job=job.id))
    return back_to_day(day)


@bp.post("/flags/<id:flag_id>/resolve")
def resolve_flag(flag_id: int) -> Response:
    service = till()
    day = day_arg()
    note = (request.form.get("note") or "").strip()[:500]
    if (store := flag_store(service.ledger, flag_id)) is None or (store and not may_see(store)):
        return page_error(404, service.t("error.not_found"))  # none, or another store's
    try:
        service.ledger.resolve_flag(flag_id, by=by(), note=note)
    except LedgerError:
        return page_error(404, service.t("error.not_found"))
    notice("info", words()("flags.resolved_now"))
    return back_to_day(day)


@bp.post("/refunds/<out_refund_no>/resolve")
def resolve_held_refund(out_refund_no: str) -> Response:
    """The manager paid back a held (CHANGE) refund: see pos.manager.held for the rules. Another
    store's refund (its number is its sale's, ``<out_trade_no>-R<n>``) is as if there were none."""
    if not may_see(store_of(out_refund_no.rpartition("-R")[0])):
        return page_error(404, till().t("error.not_found"))
    verdict = resolve(till().ledger, out_refund_no, request.form, by=by(), w=words())
    if not verdict.ok:
        return page_error(verdict.status, verdict.text)
    notice("info", verdict.text)
    return back_to_day(day_arg())


@bp.post("/reconcile")
def reconcile_now() -> Response:
    service = till()
    w = words()
    day = day_arg()
    try:
        result = reconcile_day(service.ledger, service.client, service.config, day, now=service.now())
    except Exception as exc:  # the page must say what happened, not crash
        log.exception("manager_reconcile_failed", day=day)
        notice("error", w("recon.failed", detail=str(exc) or type(exc).__name__))
        return back_to_day(day)
    status = str(getattr(result.status, "value", result.status))
    problems = [d for d in result.differences if str(getattr(d.kind, "value", d.kind)) != "other_channel"]
    kind = "info" if status in ("matched", "no_bill") else "error"
    notice(
        kind, w(f"recon.status.{status}", n=len(problems)) + (f" {result.message}" if result.message else "")
    )
    return back_to_day(day)


@bp.post("/sales/<id:sale_id>/refund")
def refund_sale(sale_id: int) -> Response:
    service = till()
    w = words()
    day = day_arg()
    back = {"show": request.form.get("show"), "page": request.form.get("page")}
    try:
        sale = service.ledger.get_sale(sale_id)
    except LedgerError:
        return page_error(404, service.t("error.no_sale", id=sale_id))
    if not may_see(sale.store):  # another store's sale: as if there were none
        return page_error(404, service.t("error.no_sale", id=sale_id))
    if sale.state not in PAID_STATES:
        notice("error", w("refund.not_paid", out_trade_no=sale.out_trade_no, state=w.status(sale.state)))
        return back_to_day(day, **back)
    try:
        fee = parse_yuan(request.form.get("amount", "").strip().lstrip("￥¥"))
    except MoneyError as exc:
        notice("error", w("refund.bad_amount", problem=service.t(_money_problem(exc), max=max_price())))
        return back_to_day(day, **back)
    if fee > sale.refundable_fee:
        left = format_price(sale.refundable_fee)
        notice("error", w("refund.too_much", amount=format_price(fee), left=left))
        return back_to_day(day, **back)
    refunds = _refund_service()
    reason = (request.form.get("reason") or "").strip()[:80]
    try:
        refund = refunds.refund(sale_id, fee, reason=reason, by=by())
    except RefundError as exc:  # its text is already a sentence for the manager
        log.warning("manager_refund_refused", sale=sale_id, fee=fee, error=exc.code)
        notice("error", w("refund.refused", detail=str(exc)))
        return back_to_day(day, **back)
    notice("info", f"{sale.out_trade_no}: {refunds.describe(refund)}")
    return back_to_day(day, **back)


def _refund_service() -> RefundService:
    """The till's refund service (the one whose open refunds its watcher follows up)."""
    manager = state()
    if manager.refunds is None:
        manager.refunds = till().refunds
    return manager.refunds


def _money_problem(exc: MoneyError) -> str:
    if isinstance(exc, AmountTooLarge):
        return "money.too_large"
    text = str(exc).lower()
    if "zero" in text or "more than" in text:
        return "money.zero"
    if "negative" in text:
        return "money.negative"
    if "large" in text or "too" in text:
        return "money.too_large"
    return "money.format"
