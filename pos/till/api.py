"""The till's JSON API: ring up, look up, void, retry, reprint; the printer and the catalogue.

Every answer is JSON. Amounts go in as yuan strings and come out as fen ints
plus "￥12.50"; times come out ISO 8601 with the store's offset. Bad input is a
400 (unknown sale 404, a state that forbids the action 409) with
``{"error": "<what happened, in the store's language>"}``; nothing here ever
answers with a traceback (see :mod:`pos.till.errors`).

Handlers stay thin: :mod:`pos.till.validation` reads the request, the
:class:`~pos.till.service.Till` does the work, :mod:`pos.till.present` shapes
the answer.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from pos.inputs import InputError, parse_day
from pos.ledger import JobKind
from pos.till import paycode, signin
from pos.till.present import day_summary, job_json, printer_json, product_json, sale_json
from pos.till.service import Till
from pos.till.validation import parse_sale, read_json

bp = Blueprint("api", __name__, url_prefix="/api")

REPRINTABLE = (
    JobKind.SALE_SLIP,
    JobKind.CONFIRMATION,
    JobKind.VOID_NOTICE,
    JobKind.EXPIRED_NOTICE,
    JobKind.REFUND_SLIP,
)


def till() -> Till:
    return current_app.extensions["pos_till"]


def _sale(sale_id: int) -> dict[str, Any]:
    service = till()
    sale = service.get_sale(sale_id)
    return sale_json(sale, service.zone, service.t)


def _optional_json() -> dict[str, Any]:
    """An action's optional body: nothing at all, or a JSON object."""
    raw = request.get_data(cache=False)
    if not raw.strip():
        return {}
    return dict(read_json(raw, request.content_type))


@bp.post("/sales")
def ring_up() -> tuple[Response, int]:
    service = till()
    data = dict(read_json(request.get_data(cache=False), request.content_type))
    pay_by = paycode.take_pay_by(data)
    wanted = parse_sale(data, service.catalogue, service.config.till.cashier)
    if signin.cashier():  # a signed-in cashier rang it up, whatever the body says
        wanted = dataclasses.replace(wanted, cashier=signin.cashier())
    sale = paycode.ring_up_for_code(service, wanted) if pay_by == "code" else service.ring_up(wanted)
    answer = sale_json(sale, service.zone, service.t)
    response = jsonify(answer)
    response.headers["Location"] = f"/api/sales/{sale.id}"
    return response, 201


@bp.get("/sales")
def sales_of_day() -> Response:
    service = till()
    day = parse_day(request.args.get("date"), service.today())
    sales = service.ledger.sales_for_day(day, store=service.config.store.id)
    return jsonify(
        date=day.isoformat(),
        sales=[sale_json(s, service.zone, service.t) for s in sales],
        summary=day_summary(sales),
    )


@bp.get("/sales/<id:sale_id>")
def get_sale(sale_id: int) -> Response:
    return jsonify(_sale(sale_id))


@bp.get("/sales/<id:sale_id>/qr.svg")
def sale_qr(sale_id: int) -> Response:
    service = till()
    svg = service.qr_svg(sale_id)
    response = Response(svg, content_type="image/svg+xml; charset=utf-8")
    response.headers["Cache-Control"] = "private, max-age=60"
    return response


@bp.post("/sales/<id:sale_id>/void")
def void_sale(sale_id: int) -> Response:
    service = till()
    data = _optional_json()
    if set(data) - {"by"}:
        raise InputError("error.unknown_field", field=sorted(set(data) - {"by"})[0][:40], known="by")
    by = data.get("by") if isinstance(data.get("by"), str) else service.config.till.cashier
    by = signin.cashier() or by
    sale = service.void(sale_id, by=by[:32])
    return jsonify(sale_json(sale, service.zone, service.t))


@bp.post("/sales/<id:sale_id>/retry")
def retry_sale(sale_id: int) -> Response:
    service = till()
    _optional_json()
    sale = service.retry(sale_id)
    return jsonify(sale_json(sale, service.zone, service.t))


@bp.post("/sales/<id:sale_id>/reprint")
def reprint_sale(sale_id: int) -> tuple[Response, int]:
    service = till()
    data = _optional_json()
    if set(data) - {"kind"}:
        raise InputError("error.unknown_field", field=sorted(set(data) - {"kind"})[0][:40], known="kind")
    kind = None
    if "kind" in data:
        known = [k.value for k in REPRINTABLE]
        if data["kind"] not in known:
            raise InputError("error.kind", kind=str(data["kind"])[:40], known=", ".join(known))
        kind = JobKind(data["kind"])
    job = service.reprint(sale_id, kind, by=signin.cashier() or service.config.till.cashier)
    return jsonify(
        job=job_json(job, service.zone),
        printer=printer_json(service.printer_status(), service.zone, service.t),
    ), 202


@bp.get("/printer")
def printer() -> Response:
    service = till()
    return jsonify(printer_json(service.printer_status(), service.zone, service.t))


@bp.get("/products")
def products() -> Response:
    service = till()
    return jsonify(products=[product_json(p) for p in service.catalogue.values()])
