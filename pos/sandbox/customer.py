"""``/_sim/*``: the customer's phone, and the knobs tests turn.

Customer side
  ``GET  /_sim/phone``               the open (payable) orders, each with a 支付 button, and a paste box
  ``GET  /_sim/phone?code_url=...``  a phone-sized page: merchant, goods, ￥ amount, 支付 button
  ``POST /_sim/phone``               the button (form field ``code_url``): pays, shows 支付成功
  ``POST /_sim/pay``    JSON ``{"code_url", "notify": true, "openid"?}`` -> ``{"transaction_id", ...}``
  ``POST /_sim/scan``   JSON ``{"url": "weixin://wxpay/bizpayurl?...", "openid"?, "notify": true}``
                        mode one: callback to the merchant, then pay the prepay_id it returns

Test knobs
  ``GET/POST /_sim/clock``          ``{"advance_seconds": N}`` moves the simulator's clock
  ``GET/POST /_sim/faults``         notification fault switches (see settings.Faults)
  ``GET/DELETE /_sim/notifications`` every delivery attempt and its outcome / clear the log
  ``GET /_sim/orders``              the orders, as JSON
  ``GET /_sim/``                    who the simulator accepts (appid, mch_id, key, sign types; v3 keys)

Errors are JSON ``{"error": code, "message": text}`` with a 4xx status.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, jsonify, render_template, request
from flask.typing import ResponseReturnValue

from pos.money import format_price
from pos.sandbox.engine import Simulator
from pos.sandbox.errors import CustomerError
from pos.sandbox.state import Order
from pos.wechatpay import sign as signing


def _json_body() -> dict[str, Any]:
    data = request.get_json(silent=True, force=True)
    if not isinstance(data, dict):
        raise CustomerError(400, "bad_json", "the body must be a JSON object")
    return data


def _flag(data: dict[str, Any], name: str, default: bool) -> bool:
    value = data.get(name, default)
    if not isinstance(value, bool):
        raise CustomerError(400, "bad_json", f"{name} must be true or false")
    return value


def _text(data: dict[str, Any], name: str, required: bool = True) -> str | None:
    value = data.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise CustomerError(400, "bad_json", f"{name} must be a non-empty string")
    return value


def build_blueprint(sim: Simulator) -> Blueprint:
    bp = Blueprint("sim", __name__, url_prefix="/_sim", template_folder="templates")

    @bp.errorhandler(CustomerError)
    def customer_error(exc: CustomerError) -> ResponseReturnValue:
        return jsonify(error=exc.error, message=exc.message), exc.status

    @bp.get("/")
    def identity() -> ResponseReturnValue:
        s = sim.settings
        # API v3 (same merchant): mchid, apiv3_key, merchant_private_key, merchant_serial_no,
        # wechatpay_public_key(_id), platform_certificate, platform_serial_no (see v3keys).
        v3 = sim.v3.identity.public()
        return jsonify(
            **{k: v for k, v in v3.items() if k != "appid"},
            appid=s.appid,
            mch_id=s.mch_id,
            api_key=s.api_key,
            sandbox_key=s.sandbox_key,
            sign_types=list(signing.SIGN_TYPES),
            callback_url=s.callback_url,
            time_scale=s.time_scale,
            now=sim.clock.now(),
        )

    # -- the customer's phone -----------------------------------------------------------------

    def page(status: int = 200, **context: Any) -> ResponseReturnValue:
        context.setdefault("error", None)
        return render_template("phone.html", merchant=sim.settings.merchant_name, **context), status

    def order_page(order: Order, **context: Any) -> ResponseReturnValue:
        return page(body=order.param("body"), amount=format_price(order.total_fee), order=order, **context)

    @bp.get("/phone")
    def phone() -> ResponseReturnValue:
        code_url = request.args.get("code_url", "")
        if not code_url:
            listed = [(o, format_price(o.total_fee)) for o in sim.open_orders()]
            return page(ask=True, open_orders=listed)
        try:
            order = sim.order_for_code(code_url)
        except CustomerError as exc:
            return page(exc.status, error=exc.message)
        return order_page(order, code_url=code_url)

    @bp.post("/phone")
    def phone_pay() -> ResponseReturnValue:
        code_url = request.form.get("code_url", "")
        try:
            order = sim.pay(code_url, notify=True)
        except CustomerError as exc:
            return page(exc.status, error=exc.message)
        return order_page(order, paid=True)

    @bp.post("/pay")
    def pay() -> ResponseReturnValue:
        data = _json_body()
        code_url = _text(data, "code_url")
        assert code_url is not None
        order = sim.pay(code_url, notify=_flag(data, "notify", True), openid=_text(data, "openid", False))
        return jsonify(_paid(order))

    @bp.post("/scan")
    def scan() -> ResponseReturnValue:
        data = _json_body()
        url = _text(data, "url")
        assert url is not None
        order = sim.scan(url, openid=_text(data, "openid", False), notify=_flag(data, "notify", True))
        return jsonify(_paid(order))

    # -- test knobs ----------------------------------------------------------------------------

    @bp.route("/clock", methods=["GET", "POST"])
    def clock() -> ResponseReturnValue:
        if request.method == "POST":
            data = _json_body()
            seconds = data.get("advance_seconds")
            if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
                raise CustomerError(400, "bad_json", "advance_seconds must be a number >= 0")
            sim.clock.advance(seconds)
        return jsonify(now=sim.clock.now(), offset=sim.clock.offset, beijing=sim.clock.beijing().isoformat())

    @bp.route("/faults", methods=["GET", "POST"])
    def faults() -> ResponseReturnValue:
        if request.method == "POST":
            try:
                sim.settings.faults = sim.settings.faults.update(_json_body())
            except ValueError as exc:
                raise CustomerError(400, "bad_fault", str(exc)) from None
        from dataclasses import asdict

        return jsonify(asdict(sim.settings.faults))

    @bp.route("/notifications", methods=["GET", "DELETE"])
    def notifications() -> ResponseReturnValue:
        if request.method == "DELETE":
            sim.notifier.clear_log()
        return jsonify(
            deliveries=sim.notifier.log(), pending=sim.notifier.pending(), idle=sim.notifier.idle()
        )

    @bp.get("/orders")
    def orders() -> ResponseReturnValue:
        with sim.state.lock:
            return jsonify(orders=[sim.describe(o) for o in sim.state.orders.values()])

    return bp


def _paid(order: Order) -> dict[str, Any]:
    return {
        "transaction_id": order.transaction_id,
        "out_trade_no": order.out_trade_no,
        "total_fee": order.total_fee,
        "time_end": order.time_end,
        "openid": order.openid,
    }


def register(app: Flask, sim: Simulator) -> None:
    app.register_blueprint(build_blueprint(sim))
