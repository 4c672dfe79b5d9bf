"""From a print job in the ledger to the receipt Document the spooler encodes and prints.

The receipts templates take plain input dataclasses and never read the database;
this module is the one place that fills them from the ledger's records (the sale,
its items, payment, refund, the day's sales) and the store's ``[store]`` config
(name, address, phone, footer, time zone, language). Lane and cashier come from
the sale, so a slip always says where it was rung up, not where it is printed.

What each job kind prints, and what it needs::

    sale_slip       the sale (code_url, expires_at)         -> templates.sale_slip
    confirmation    the sale, paid (transaction_id, paid_at) -> templates.paid_slip
    void_notice     the sale (closed_at)                    -> templates.void_slip
    expired_notice  the sale (closed_at)                    -> templates.void_slip(expired=True)
    refund_slip     payload {"out_refund_no": ...}          -> templates.refund_slip
    z_report        payload {"business_date": "YYYY-MM-DD", -> templates.z_report
                             "lane": optional}
    label           payload {"product_id", "name",          -> templates.product_label
                             "price" (yuan "12.50") or "price_fen",
                             "code_url"}; name/price default to the [[products]]
                             entry with that id, and a missing code_url is signed
                             here (mode one, pos.wechatpay.modeone)
    test            nothing                                 -> templates.calibration_slip

A copy that may not be the first on paper (``job.may_have_printed_before``: a manual reprint,
or a job a crash cut short after its bytes began to go out) starts with a REPRINT mark and the
first copy's time in the store's zone (``templates.reprint_mark``), except shelf labels and the
calibration slip.

Rendering is deterministic: the same job and records give the same Document
(times printed on a slip come from the records; a Z report's "printed at" is
the moment the job was claimed), so a test can compare printed bytes with
``encode(render_job(...))``.

A job that cannot become a Document -- its sale is gone, its kind is unknown,
its payload is wrong, its records do not fit the template -- raises
:class:`RenderError`. Retrying such a job cannot help, so the spooler parks it
(see :mod:`pos.till.spooler`) instead of letting it block the queue.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from pos.config import Config, Product
from pos.ledger import JobKind, Ledger, LedgerError, PrintJob, Refund, RefundState, Sale
from pos.money import MoneyError, parse_yuan
from pos.printing.profiles import PrinterProfile
from pos.receipts import templates
from pos.receipts.document import Document
from pos.reconcile.slip import rows_for_job
from pos.reports.day import z_report_data  # the day's figures, the same the manager's page shows
from pos.till.exceptions import TillError

__all__ = ["RenderError", "render_job"]

# Kinds that print one sale's record and so need job.sale_id.
SALE_KINDS = frozenset(
    {
        JobKind.SALE_SLIP,
        JobKind.CONFIRMATION,
        JobKind.VOID_NOTICE,
        JobKind.EXPIRED_NOTICE,
        JobKind.REFUND_SLIP,
    }
)


# A shelf label and the calibration slip are no sale's paper: a second copy misleads nobody, and a
# REPRINT mark on a shelf label would stay there for good. Every other kind prints the mark.
UNMARKED_KINDS = frozenset({JobKind.LABEL, JobKind.TEST})


class RenderError(TillError, ValueError):
    """This job cannot be turned into a slip; the message names the job and what is wrong.

    It is a property of the job's data, not of the printer: printing it again later gives
    the same error.
    """


def render_job(
    job: PrintJob,
    ledger: Ledger,
    config: Config,
    columns: int | PrinterProfile,
    *,
    profile_name: str = "",
) -> Document:
    """The Document for ``job``, laid out for ``columns`` (or a printer profile's columns).

    ``profile_name`` is printed on the calibration slip (``test`` jobs); with a profile
    passed as ``columns`` its name is used. Raises :class:`RenderError` for a job that
    cannot be printed; database trouble (not a LedgerError) propagates unchanged,
    because it is worth retrying.
    """
    if isinstance(columns, PrinterProfile):
        profile_name = profile_name or columns.name
        columns = columns.columns
    where = f"print job {job.id} ({job.kind})"
    try:
        kind = JobKind(job.kind)
    except ValueError:
        known = ", ".join(k.value for k in JobKind)
        raise RenderError(f"{where}: unknown kind {job.kind!r}; this till prints {known}") from None
    try:
        sale = _sale_for(job, kind, ledger)
        document = _build(kind, job, sale, ledger, config, columns, profile_name)
        if job.may_have_printed_before and kind not in UNMARKED_KINDS:
            store = config.store
            first_at = _first_printed_at(job, ledger)
            document = templates.reprint_mark(document, first_at, store.timezone, store.language)
    except RenderError:
        raise
    except LedgerError as exc:  # UnknownSale, UnknownRefund, ...: a record this job points at is gone
        raise RenderError(f"{where}: {exc}") from exc
    except (ValueError, TypeError, KeyError) as exc:  # a template refused the values
        raise RenderError(f"{where}: {exc}") from exc
    return document


def _first_printed_at(job: PrintJob, ledger: Ledger) -> datetime:
    """When the first copy went to the printer: the original's time for a manual reprint, else the
    time this job's bytes began to go out before a crash cut it short."""
    if job.reprint_of is not None:
        original = ledger.get_job(job.reprint_of)
        return original.printed_at or original.interrupted_at or original.created_at
    assert job.interrupted_at is not None
    return job.interrupted_at


def _sale_for(job: PrintJob, kind: JobKind, ledger: Ledger) -> Sale | None:
    if kind not in SALE_KINDS:
        return None
    if job.sale_id is None:
        raise RenderError(f"print job {job.id} ({kind}) belongs to no sale; there is nothing to print")
    return ledger.get_sale(job.sale_id)


def _build(
    kind: JobKind,
    job: PrintJob,
    sale: Sale | None,
    ledger: Ledger,
    config: Config,
    columns: int,
    profile_name: str,
) -> Document:
    store = config.store
    language = store.language
    if kind is JobKind.SALE_SLIP:
        assert sale is not None
        return templates.sale_slip(_sale_slip_data(job, sale, config), columns, language)
    if kind is JobKind.CONFIRMATION:
        assert sale is not None
        if sale.transaction_id is None or sale.paid_at is None or not sale.state.is_paid:
            raise RenderError(
                f"print job {job.id} (confirmation): sale {sale.id} ({sale.out_trade_no}) is {sale.state}, "
                "with no recorded payment to confirm"
            )
        data = templates.PaidSlipData(
            store_name=store.name,
            out_trade_no=sale.out_trade_no,
            total_fen=sale.total_fee,
            transaction_id=sale.transaction_id,
            paid_at=sale.paid_at,
            timezone=store.timezone,
            lane=sale.lane,
            footer=store.footer,
        )
        return templates.paid_slip(data, columns, language)
    if kind in (JobKind.VOID_NOTICE, JobKind.EXPIRED_NOTICE):
        assert sale is not None
        expired = kind is JobKind.EXPIRED_NOTICE
        void = templates.VoidSlipData(
            store_name=store.name,
            out_trade_no=sale.out_trade_no,
            total_fen=sale.total_fee,
            at=sale.closed_at or job.created_at,
            expired=expired,
            reason="" if expired else _void_reason(ledger, sale),
            timezone=store.timezone,
        )
        return templates.void_slip(void, columns, language)
    if kind is JobKind.REFUND_SLIP:
        assert sale is not None
        refund = _refund_for(job, sale, ledger)
        refund_data = templates.RefundSlipData(
            store_name=store.name,
            out_trade_no=sale.out_trade_no,
            out_refund_no=refund.out_refund_no,
            refund_fen=refund.refund_fee,
            total_fen=sale.total_fee,
            refunded_at=refund.completed_at or refund.requested_at,
            refund_id=refund.refund_id or "",
            reason=refund.reason,
            timezone=store.timezone,
        )
        return templates.refund_slip(refund_data, columns, language)
    if kind is JobKind.Z_REPORT:
        return templates.z_report(_z_report_data(job, ledger, config), columns, language)
    if kind is JobKind.LABEL:
        return templates.product_label(_label_data(job, config), columns, language)
    if kind is JobKind.TEST:
        return templates.calibration_slip(profile_name or "?", columns, language)
    raise RenderError(f"print job {job.id}: no template for kind {kind!r}")  # pragma: no cover


def _sale_slip_data(job: PrintJob, sale: Sale, config: Config) -> templates.SaleSlipData:
    if not sale.code_url or sale.expires_at is None:
        raise RenderError(
            f"print job {job.id} (sale_slip): sale {sale.id} ({sale.out_trade_no}) is {sale.state} "
            "and has no WeChat order (code_url) to print"
        )
    if sale.items:
        items = tuple(templates.LineItem(i.name, i.qty, i.unit_price) for i in sale.items)
    else:  # an amount keyed in: its description is the one line
        items = (templates.LineItem(sale.body, 1, sale.total_fee),)
    store = config.store
    return templates.SaleSlipData(
        store_name=store.name,
        lane=sale.lane,
        cashier=sale.cashier,
        out_trade_no=sale.out_trade_no,
        items=items,
        total_fen=sale.total_fee,
        code_url=sale.code_url,
        expires_at=sale.expires_at,
        timezone=store.timezone,
        created_at=sale.created_at,
        store_address=store.address,
        store_phone=store.phone,
        footer=store.footer,
    )


def _void_reason(ledger: Ledger, sale: Sale) -> str:
    """The reason the cashier gave when voiding, as the ledger's "voided" event keeps it."""
    for event in reversed(ledger.events_for_sale(sale.id)):
        if event.event == "voided":
            detail = event.detail or {}
            return str(detail.get("reason") or "")
    return ""


def _refund_for(job: PrintJob, sale: Sale, ledger: Ledger) -> Refund:
    payload = _payload(job)
    number = payload.get("out_refund_no")
    if number is not None:
        if not isinstance(number, str) or not number:
            raise RenderError(f"print job {job.id} (refund_slip): out_refund_no {number!r} is not valid")
        refund = ledger.get_refund(number)
        if refund.sale_id != sale.id:
            raise RenderError(
                f"print job {job.id} (refund_slip): refund {number} belongs to sale {refund.sale_id}, "
                f"not {sale.id}"
            )
    else:  # no payload: the sale's latest refund WeChat confirmed
        done = [r for r in ledger.refunds_for_sale(sale.id) if r.state is RefundState.SUCCEEDED]
        if not done:
            raise RenderError(f"print job {job.id} (refund_slip): sale {sale.id} has no completed refund")
        refund = done[-1]
    if refund.state is not RefundState.SUCCEEDED:
        raise RenderError(
            f"print job {job.id} (refund_slip): refund {refund.out_refund_no} is {refund.state}, "
            "not SUCCEEDED"
        )
    return refund


def _z_report_data(job: PrintJob, ledger: Ledger, config: Config) -> templates.ZReportData:
    payload = _payload(job)
    raw = payload.get("business_date", payload.get("business_day", payload.get("date")))
    if not isinstance(raw, str):
        raise RenderError(
            f'print job {job.id} (z_report): the payload must name the day, e.g. {{"business_date": '
            f'"2026-11-27"}}, not {payload!r}'
        )
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise RenderError(f"print job {job.id} (z_report): {raw!r} is not a date (YYYY-MM-DD)") from None
    lane = payload.get("lane") or None
    if lane is not None and not isinstance(lane, str):
        raise RenderError(f"print job {job.id} (z_report): lane must be a string, not {lane!r}")
    data = z_report_data(ledger, config, day, printed_at=job.claimed_at or job.created_at, lane=lane)
    # A reconciliation prints as its day's Z report with the run's verdict and differences below.
    extra = rows_for_job(ledger, payload, config.store.language)
    return dataclasses.replace(data, extra=data.extra + extra) if extra else data


def _label_data(job: PrintJob, config: Config) -> templates.LabelData:
    payload = _payload(job)
    where = f"print job {job.id} (label)"
    product_id = payload.get("product_id", payload.get("id", ""))
    if not isinstance(product_id, str):
        raise RenderError(f"{where}: product_id must be a string, not {product_id!r}")
    product = _product(config, product_id)
    name = payload.get("name") or (product.name if product else None)
    if not isinstance(name, str) or not name.strip():
        raise RenderError(f"{where}: no product name (give name, or a product_id from [[products]])")
    price_fen = _price_fen(payload, product, where)
    url = payload.get("code_url", payload.get("url"))
    if url is None:
        url = _signed_bizpayurl(job, product_id, config, where)
    if not isinstance(url, str) or not url:
        raise RenderError(f"{where}: code_url must be a non-empty string, not {url!r}")
    return templates.LabelData(product_name=name, price_fen=price_fen, code_url=url, product_id=product_id)


def _product(config: Config, product_id: str) -> Product | None:
    return config.find_product(product_id) if product_id else None


def _price_fen(payload: Mapping[str, Any], product: Product | None, where: str) -> int:
    if "price_fen" in payload:
        value = payload["price_fen"]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise RenderError(f"{where}: price_fen must be whole fen (0 or more), not {value!r}")
        return value
    raw = payload.get("price", product.price if product else None)
    if raw is None:
        raise RenderError(f'{where}: no price (give "price": "12.50" or "price_fen", or a known product_id)')
    try:
        return parse_yuan(str(raw))
    except MoneyError as exc:
        raise RenderError(f"{where}: price {raw!r}: {exc}") from None


def _signed_bizpayurl(job: PrintJob, product_id: str, config: Config, where: str) -> str:
    """The product's mode-one link, signed now; nonce and timestamp come from the job so a retry
    of the same job prints the same QR."""
    from pos.wechatpay.modeone import bizpayurl

    if not product_id:
        raise RenderError(f"{where}: no code_url and no product_id to sign one for")
    merchant = config.merchant
    nonce = hashlib.sha256(f"{job.id}:{product_id}:{job.created_at.isoformat()}".encode()).hexdigest()[:32]
    try:
        return bizpayurl(
            product_id,
            appid=merchant.appid,
            mch_id=merchant.mch_id,
            api_key=merchant.api_key,
            time_stamp=int(job.created_at.timestamp()),
            nonce_str=nonce,
        )
    except ValueError as exc:
        raise RenderError(f"{where}: {exc}") from None


def _payload(job: PrintJob) -> Mapping[str, Any]:
    if job.payload is None:
        return {}
    if not isinstance(job.payload, Mapping):
        raise RenderError(
            f"print job {job.id} ({job.kind}): payload must be a JSON object, not {job.payload!r}"
        )
    return job.payload
