"""The till's side of payment codes: ring up a sale to be paid by code, take the code, or switch
the sale to a printed QR.

- ``POST /api/sales`` with ``"pay_by": "code"``: the sale is rung up NEW with no Native order
  and no QR slip (:func:`ring_up_for_code`); ``"pay_by": "qr"`` (the default) is today's Charge.
- ``POST /api/sales/<id>/pay-code`` with ``{"auth_code": "..."}``: charges the code through
  :class:`pos.orders.micropay.CodePayment` and answers the sale plus ``paycode`` (status, the
  cashier's words, the attempt's order number) at once: paid or declined, or ``userpaying`` /
  ``checking`` while the outcome is open (the customer types the password; WeChat did not say).
  The watcher then follows the attempt (:mod:`pos.till.codewatch`): paid, cancelled, or reversed
  when still unknown after about a minute. ``GET`` of the same path answers the same shape for
  the page (and ``pos sale --code``) to ask until ``paycode.pending`` is false.
- ``POST /api/sales/<id>/charge-qr``: the customer has no code after all; the Native order is
  placed under the sale's own number (attempts use ``<number>-M<n>``: no collision) and the QR
  slip prints (:meth:`pos.orders.checkout.Checkout.order_qr`; 409 while a code is in flight).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from pos.inputs import InputError
from pos.ledger.micropay import AttemptInProgress, NotPayableByCode, OpenNativeOrder
from pos.orders.micropay import CodeOutcome, CodePayment
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
    code_payment(service)  # refused before anything is rung up when codes cannot be taken
    with service.refusals():
        return service.checkout.ring_up_unordered(
            items=wanted.items, amount_fen=wanted.amount_fen, body=wanted.body, cashier=wanted.cashier
        )


def code_payment(service: Till) -> CodePayment:
    """The till's one desk, shared with its watcher (which follows what a request left open); a
    409 saying why when the till has no v2 key (a v3 merchant: payment codes are v2 micropay)."""
    if service.paycode is None:
        raise InputError("paycode.needs_v2_key", status=409)
    return service.paycode


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
        outcome = code_payment(service).pay(sale_id, data["auth_code"], wait=False)
    except NotAPaymentCode:
        raise InputError("paycode.not_a_code") from None
    except OpenNativeOrder:
        raise InputError("paycode.open_native_order", status=409) from None
    except AttemptInProgress:
        raise InputError("paycode.in_progress", status=409) from None
    except NotPayableByCode:
        raise InputError("paycode.not_payable", status=409) from None
    service.wake(outcome.sale, watcher=False)  # the paid receipt prints now
    if outcome.pending:
        service.watcher.nudge()  # it follows the attempt from here
    return jsonify(_answer(service, outcome.sale, outcome))


@bp.get("/sales/<id:sale_id>/pay-code")
def pay_code_status(sale_id: int) -> Response:
    """The sale and what became of its latest code: the page asks every few seconds while the
    status is ``userpaying`` or ``checking`` (the watcher follows the attempt meanwhile)."""
    service = _service()
    sale = service.get_sale(sale_id)  # 404 for an unknown sale
    return jsonify(_answer(service, sale, code_payment(service).status(sale_id)))


def _answer(service: Till, sale: Any, outcome: CodeOutcome | None) -> dict[str, Any]:
    answer = sale_json(sale, service.zone, service.t)
    answer["paycode"] = None
    if outcome is not None:
        answer["paycode"] = {"status": outcome.status, "message": outcome.message, "pending": outcome.pending,
                             "out_trade_no": outcome.out_trade_no, "err_code": outcome.err_code}  # fmt: skip
    return answer


@bp.post("/sales/<id:sale_id>/charge-qr")
def charge_qr(sale_id: int) -> Response:
    service = _service()
    service.get_sale(sale_id)  # 404 for an unknown sale
    with service.refusals():
        sale = service.checkout.order_qr(sale_id)
    service.wake(sale)
    return jsonify(sale_json(sale, service.zone, service.t))


def register(app: Any) -> None:
    app.register_blueprint(bp)
