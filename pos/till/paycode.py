"""The till's side of payment codes: ring up a sale to be paid by code, take the code, or switch
the sale to a printed QR.

- ``POST /api/sales`` with ``"pay_by": "code"``: the sale is rung up NEW with no Native order
  and no QR slip (:func:`ring_up_for_code`); ``"pay_by": "qr"`` (the default) is today's Charge.
- ``POST /api/sales/<id>/pay-code`` with ``{"auth_code": "..."}``: charges the code through
  :class:`pos.orders.micropay.CodePayment` and answers the sale plus ``paycode`` (status, the
  cashier's words, the attempt's order number). The call returns when the outcome is settled:
  at once for paid or declined, up to about a minute while the customer types a password or
  the outcome is unknown (then the attempt is reversed).
- ``POST /api/sales/<id>/charge-qr``: the customer has no code after all; the Native order is
  placed under the sale's own number (attempts use ``<number>-M<n>``: no collision) and the QR
  slip prints.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from pos.inputs import InputError
from pos.ledger.micropay import AttemptInProgress, NotPayableByCode, OpenNativeOrder
from pos.orders.micropay import CodePayment
from pos.till.present import sale_json
from pos.till.service import Till
from pos.till.validation import SaleRequest, read_json
from pos.wechatpay.micropay import NotAPaymentCode

bp = Blueprint("paycode", __name__, url_prefix="/api")
PAY_BY = ("qr", "code")


def take_pay_by(data: dict[str, Any]) -> str:
    """Remove and check ``pay_by`` from a ring-up body: "qr" (default) or "code"."""
    value = data.pop("pay_by", "qr")
    if value not in PAY_BY:
        raise InputError("paycode.bad_pay_by")
    return value


def ring_up_for_code(service: Till, wanted: SaleRequest) -> Any:
    """A NEW sale with no order at WeChat and nothing printed: the code pays it, or charge-qr."""
    with service._refusals():
        lines, total, body = service.checkout._check_sale(wanted.items, wanted.amount_fen, wanted.body)
        cashier = wanted.cashier or service.config.till.cashier
        return service.ledger.create_sale(
            store=service.config.store.id, lane=service.config.till.lane, items=lines,
            total_fee=None if lines else total, body=body, cashier=cashier,
            sign_type=service.client.sign_type,
        )  # fmt: skip


def code_payment(service: Till) -> CodePayment:
    """One per till, on the till's own ledger and client (which carries the client certificate)."""
    desk = current_app.extensions.get("pos_paycode")
    if desk is None:
        desk = CodePayment(
            service.ledger, service.client, spbill_create_ip=service.config.merchant.client_ip,
            language=service.config.store.language, clock=service.clock,
        )  # fmt: skip
        current_app.extensions["pos_paycode"] = desk
    return desk


def _service() -> Till:
    return current_app.extensions["pos_till"]


@bp.post("/sales/<id:sale_id>/pay-code")
def pay_code(sale_id: int) -> Response:
    service = _service()
    data = dict(read_json(request.get_data(cache=False), request.content_type))
    if set(data) != {"auth_code"}:
        raise InputError("paycode.not_a_code")
    service.get_sale(sale_id)  # 404 for an unknown sale
    try:
        outcome = code_payment(service).pay(sale_id, data["auth_code"])
    except NotAPaymentCode:
        raise InputError("paycode.not_a_code") from None
    except OpenNativeOrder:
        raise InputError("paycode.open_native_order", status=409) from None
    except AttemptInProgress:
        raise InputError("paycode.in_progress", status=409) from None
    except NotPayableByCode:
        raise InputError("paycode.not_payable", status=409) from None
    service._wake(outcome.sale, watcher=False)  # the paid receipt prints now
    answer = sale_json(outcome.sale, service.zone, service.t)
    answer["paycode"] = {"status": outcome.status, "message": outcome.message,
                         "out_trade_no": outcome.out_trade_no, "err_code": outcome.err_code}  # fmt: skip
    return jsonify(answer)


@bp.post("/sales/<id:sale_id>/charge-qr")
def charge_qr(sale_id: int) -> Response:
    service = _service()
    sale = service.get_sale(sale_id)
    if sale.state.value != "NEW":
        raise InputError("paycode.not_payable", status=409)
    with service._refusals():
        checkout = service.checkout
        sale = checkout._place(sale, checkout._params(sale, fresh=False))
    service._wake(sale)
    return jsonify(sale_json(sale, service.zone, service.t))


def register(app: Any) -> None:
    app.register_blueprint(bp)
