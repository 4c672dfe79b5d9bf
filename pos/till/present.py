"""Ledger records as the API's JSON: fen ints plus "￥12.50" text, times ISO 8601 in the store's zone.

One place decides the shape every endpoint answers with, so the page, ``pos
sale`` and other helpers' tests read the same fields everywhere.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pos.i18n import Translator
from pos.i18n.states import STATUS_BY_STATE
from pos.ledger import PrintJob, Sale, SaleState
from pos.money import format_price, format_yuan
from pos.till.validation import CatalogueEntry


def iso(moment: datetime | None, zone: ZoneInfo) -> str | None:
    """``2026-11-27T12:34:56+08:00``: the store's wall clock with its offset, seconds precision."""
    if moment is None:
        return None
    return moment.astimezone(zone).isoformat(timespec="seconds")


def sale_status(sale: Sale) -> str:
    """The cashier's word for where the sale is: the ledger state, or "voiding" while a void waits
    for WeChat's 5-minute rule (the sale is still AWAITING_PAYMENT and may yet be paid)."""
    if sale.void_requested and sale.state in (SaleState.NEW, SaleState.AWAITING_PAYMENT):
        return "voiding"
    return STATUS_BY_STATE[sale.state.value]


def sale_json(sale: Sale, zone: ZoneInfo, t: Translator) -> dict[str, Any]:
    status = sale_status(sale)
    return {
        "id": sale.id,
        "out_trade_no": sale.out_trade_no,
        "state": sale.state.value,
        "status": status,
        "status_text": t(f"status.{status}"),
        "final": not sale.state.is_pending,
        "total_fee": sale.total_fee,
        "total": format_yuan(sale.total_fee),
        "total_text": format_price(sale.total_fee),
        "body": sale.body,
        "items": [
            {
                "name": item.name,
                "qty": item.qty,
                "unit_price": item.unit_price,
                "unit_price_text": format_price(item.unit_price),
                "amount": item.amount,
                "amount_text": format_price(item.amount),
            }
            for item in sale.items
        ],
        "code_url": sale.code_url,
        # The on-screen QR exists while the customer may still pay; never for a settled sale.
        "qr_svg_url": f"/api/sales/{sale.id}/qr.svg" if sale.code_url and sale.state.is_pending else None,
        "expires_at": iso(sale.expires_at, zone),
        "failure": sale.failure,
        "transaction_id": sale.transaction_id,
        "cashier": sale.cashier,
        "store": sale.store,
        "lane": sale.lane,
        "business_date": sale.business_date.isoformat(),
        "created_at": iso(sale.created_at, zone),
        "ordered_at": iso(sale.ordered_at, zone),
        "paid_at": iso(sale.paid_at, zone),
        "closed_at": iso(sale.closed_at, zone),
        "updated_at": iso(sale.updated_at, zone),
        "flagged": sale.flagged,
        "void_requested_at": iso(sale.void_requested_at, zone),
    }


def day_summary(sales: list[Sale]) -> dict[str, Any]:
    """Counts and totals of a business day, for the page's "today" panel."""
    paid = [s for s in sales if s.state.is_paid]
    paid_fee = sum(s.total_fee for s in paid)
    return {
        "count": len(sales),
        "paid_count": len(paid),
        "paid_fee": paid_fee,
        "paid_text": format_price(paid_fee),
        "awaiting_count": sum(1 for s in sales if s.state.is_pending),
    }


def product_json(product: CatalogueEntry) -> dict[str, Any]:
    return {
        "id": product.id,
        "name": product.name,
        "price_fen": product.price_fen,
        "price": format_yuan(product.price_fen),
        "price_text": format_price(product.price_fen),
        "barcode": product.barcode or None,
    }


def job_json(job: PrintJob, zone: ZoneInfo) -> dict[str, Any]:
    return {
        "id": job.id,
        "sale_id": job.sale_id,
        "kind": job.kind.value,
        "state": job.state.value,
        "reprint_of": job.reprint_of,
        "created_at": iso(job.created_at, zone),
    }


def printer_json(status: Any, zone: ZoneInfo, t: Translator) -> dict[str, Any]:
    """Spooler.status() for the page: the state, a word for it, the queue and the last problem."""
    state = str(getattr(status, "printer", "unknown") or "unknown")
    key = f"printer.{state}" if f"printer.{state}" in _PRINTER_KEYS else "printer.unknown"
    queued = int(getattr(status, "queued", 0) or 0)
    last_printed = getattr(status, "last_printed_at", None)
    current = getattr(status, "current_job", None)
    return {
        "printer": state,
        "text": t(key),
        "ok": state in ("online", "virtual"),
        "queued": queued,
        "queued_text": t("printer.queued", n=queued),
        "last_error": getattr(status, "last_error", None),
        "last_printed_at": iso(last_printed, zone) if isinstance(last_printed, datetime) else last_printed,
        "current_job": current if current is None or isinstance(current, int | str) else str(current),
    }


_PRINTER_KEYS = {
    "printer.online",
    "printer.offline",
    "printer.paper_out",
    "printer.cover_open",
    "printer.unknown",
    "printer.virtual",
}
