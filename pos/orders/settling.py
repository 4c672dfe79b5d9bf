"""Settling a sale's WeChat order: record a query, mark it paid, close it (and settle a late payment).

Shared by :class:`pos.orders.checkout.Checkout` (a void, an order whose outcome was unknown)
and :mod:`pos.till.watcher` (the till's own queries and the closes it was asked to wait for).
WeChat refuses closeorder in an order's first 5 minutes: :func:`close_allowed_at` says when.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pos.ledger import InvalidInput, InvalidTransition, Ledger, LedgerError, MessageKind, Sale
from pos.log import get_logger
from pos.wechatpay import BusinessError, OrderStatus, WeChatPayClient, WeChatPayError

log = get_logger("pos.orders.settling")

CLOSE_AFTER = timedelta(minutes=5)  # "订单生成后不能马上调用关单接口，最短调用时间间隔为5分钟"


# -- settling an order -----------------------------------------------------------------------


def close_allowed_at(sale: Sale) -> datetime:
    """The first moment WeChat accepts closeorder for the sale's order (5 minutes after it)."""
    ordered = sale.ordered_at or sale.created_at
    return ordered + CLOSE_AFTER


def record_query(ledger: Ledger, sale: Sale, status: OrderStatus, *, now: datetime) -> None:
    """Keep an orderquery answer in the audit log (its raw fields); never fails the caller."""
    try:
        ledger.record_message(
            MessageKind.QUERY,
            dict(status.fields),
            verdict=status.trade_state.lower() or "unknown",
            out_trade_no=sale.out_trade_no,
            now=now,
        )
    except LedgerError as exc:
        log.warning("audit_failed", sale=sale.id, out_trade_no=sale.out_trade_no, error=exc)


def settle_paid(ledger: Ledger, sale: Sale, status: OrderStatus, *, now: datetime) -> Sale | None:
    """WeChat's query says paid: :meth:`Ledger.mark_paid` with ``source="query"`` and the raw fields.

    Returns the sale as the ledger now has it, or None when the answer lacks the
    fields a payment needs (logged; the caller asks again later).
    """
    if not status.transaction_id or status.total_fee is None:
        log.warning(
            "paid_answer_incomplete",
            sale=sale.id,
            out_trade_no=sale.out_trade_no,
            transaction_id=status.transaction_id or "-",
            total_fee=status.total_fee,
        )
        return None
    try:
        outcome = ledger.mark_paid(
            sale.out_trade_no,
            transaction_id=status.transaction_id,
            total_fee=status.total_fee,
            time_end=status.time_end or now,
            source="query",
            cash_fee=status.cash_fee,
            openid=status.openid or None,
            raw=dict(status.fields),
            now=now,
            coupon_fee=status.coupon_fee,
            settlement_total_fee=status.settlement_total_fee,
        )
    except InvalidInput as exc:  # WeChat's fields do not fit a payment (e.g. a 40-char transaction_id)
        log.warning("paid_answer_invalid", sale=sale.id, out_trade_no=sale.out_trade_no, error=exc)
        return None
    return outcome.sale


@dataclass(frozen=True)
class CloseResult:
    """What :func:`close_and_settle` did: ``settled`` False means try again later (``reason`` says why)."""

    sale: Sale
    settled: bool
    reason: str = ""


def close_and_settle(ledger: Ledger, client: WeChatPayClient, sale: Sale, *, now: datetime) -> CloseResult:
    """Close the sale's order at WeChat, then VOIDED (a void was requested) or EXPIRED; ORDERPAID -> PAID.

    Call only when :func:`close_allowed_at` has passed. ORDERCLOSED (closed
    before, e.g. by us just before a crash) and ORDERNOTEXIST (nothing anyone
    could pay) count as closed. Transport trouble and other refusals leave the
    sale as it is (``settled=False``) for a later attempt.
    """
    try:
        closed = client.close_order(sale.out_trade_no)
    except BusinessError as exc:
        _record_close(ledger, sale, exc.fields, exc.err_code or "fail", now)
        if exc.err_code == "ORDERPAID":
            try:
                status = client.query_order(sale.out_trade_no)
            except WeChatPayError as query_exc:
                log_sale(log, "paid_unconfirmed", sale, error=query_exc)
                return CloseResult(sale, False, "orderpaid_query_failed")
            if not status.paid:
                record_query(ledger, sale, status, now=now)
            paid = settle_paid(ledger, sale, status, now=now) if status.paid else None
            if paid is None:
                return CloseResult(sale, False, "orderpaid_not_confirmed")
            return CloseResult(paid, paid.state.is_paid, "paid")
        if exc.err_code not in ("ORDERCLOSED", "ORDERNOTEXIST"):
            log_sale(log, "close_refused", sale, err_code=exc.err_code, err_code_des=exc.err_code_des)
            ledger.log_event(
                "close_failed",
                sale_id=sale.id,
                detail={"err_code": exc.err_code, "des": exc.err_code_des},
                now=now,
            )
            return CloseResult(sale, False, exc.err_code or "refused")
    except WeChatPayError as exc:
        log_sale(log, "close_failed", sale, error=exc)
        return CloseResult(sale, False, type(exc).__name__)
    else:
        _record_close(ledger, sale, closed.fields, "closed", now)
        unsettled = _confirm_closed(ledger, client, sale, now=now)
        if unsettled is not None:
            return unsettled
    return CloseResult(mark_closed(ledger, sale, now=now), True, "closed")


def _confirm_closed(
    ledger: Ledger, client: WeChatPayClient, sale: Sale, *, now: datetime
) -> CloseResult | None:
    """A close that answered SUCCESS is believed only when the order then reads CLOSED: an early close
    can answer normally and leave the order payable. None: it is closed; else why the sale stays.

    Paid meanwhile -> PAID; still open or no answer -> not settled (the next close, ORDERCLOSED or
    SUCCESS again, decides later)."""
    try:
        status = client.query_order(sale.out_trade_no)
    except WeChatPayError as exc:
        log_sale(log, "close_unconfirmed", sale, error=exc)
        return CloseResult(sale, False, "close_unconfirmed")
    if status.paid:
        paid = settle_paid(ledger, sale, status, now=now)
        return CloseResult(paid or sale, paid is not None and paid.state.is_paid, "paid")
    record_query(ledger, sale, status, now=now)
    if status.trade_state in ("CLOSED", "REVOKED"):
        return None
    log_sale(log, "close_not_final", sale, trade_state=status.trade_state)
    ledger.log_event("close_not_final", sale_id=sale.id, detail={"trade_state": status.trade_state}, now=now)
    return CloseResult(sale, False, "close_not_final")


def mark_closed(ledger: Ledger, sale: Sale, *, now: datetime) -> Sale:
    """The order is closed at WeChat: VOIDED if the cashier asked, else EXPIRED (notice queued either way).
    A sale that moved on meanwhile (paid by a notice) keeps its state."""
    try:
        if sale.void_requested:
            return ledger.mark_voided(sale.id, by=sale.void_requested_by or "", now=now)
        return ledger.mark_expired(sale.id, now=now)
    except InvalidTransition:
        return ledger.get_sale(sale.id)


def _record_close(ledger: Ledger, sale: Sale, fields: Mapping[str, str], verdict: str, now: datetime) -> None:
    try:
        ledger.record_message(
            MessageKind.CLOSE, dict(fields), verdict=verdict.lower(), out_trade_no=sale.out_trade_no, now=now
        )
    except LedgerError as exc:
        log.warning("audit_failed", sale=sale.id, out_trade_no=sale.out_trade_no, error=exc)


def log_sale(logger: Any, event: str, sale: Sale, **fields: object) -> None:
    """One sale event on ``logger``: the sale, its order and state, and the non-empty extras."""
    extra = {key: value for key, value in fields.items() if value not in (None, "")}
    logger.info(event, sale=sale.id, out_trade_no=sale.out_trade_no, state=sale.state, **extra)
