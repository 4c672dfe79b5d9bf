"""``/_sim/paycode``: a script's way to get a payment code that behaves as it needs (see
:mod:`pos.sandbox.micropay`), and to play the customer who enters the password or gives up."""

from __future__ import annotations

from flask import Blueprint, Flask, jsonify, request
from flask.typing import ResponseReturnValue

from pos.sandbox.engine import Simulator
from pos.sandbox.errors import CustomerError


def _body() -> dict:
    data = request.get_json(silent=True, force=True)
    if not isinstance(data, dict):
        raise CustomerError(400, "bad_json", "the body must be a JSON object")
    return data


def build_blueprint(sim: Simulator) -> Blueprint:
    bp = Blueprint("sim_paycode", __name__, url_prefix="/_sim")

    @bp.errorhandler(CustomerError)
    def customer_error(exc: CustomerError) -> ResponseReturnValue:
        return jsonify(error=exc.error, message=exc.message), exc.status

    @bp.post("/paycode")
    def make() -> ResponseReturnValue:
        outcome = _body().get("outcome")
        if not isinstance(outcome, str):
            raise CustomerError(400, "bad_outcome", "outcome must be a string")
        return jsonify(auth_code=sim.paycodes.make(outcome), outcome=outcome)

    @bp.post("/paycode/<auth_code>")
    def settle(auth_code: str) -> ResponseReturnValue:
        data = _body()
        action, late = data.get("action"), data.get("late", False)
        if not isinstance(action, str) or not isinstance(late, bool):
            raise CustomerError(400, "bad_json", "action must be a string and late true or false")
        order = sim.paycodes.settle(auth_code, action, late=late)
        return jsonify(
            out_trade_no=order.out_trade_no, trade_state=order.state, transaction_id=order.transaction_id
        )

    return bp


def register(app: Flask, sim: Simulator) -> None:
    app.register_blueprint(build_blueprint(sim))
