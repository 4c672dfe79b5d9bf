"""Order states the merchant must read right: ``USERPAYING``, ``PAYERROR`` and ``REVOKED``.

A Native order at the simulator is NOTPAY, SUCCESS, REFUND or CLOSED. The real order query
also answers USERPAYING (用户支付中: a password is being entered), PAYERROR (支付失败, e.g. the
bank refused) and REVOKED (已撤销: a payment-code order reversed). The switch
``Faults.trade_states`` (``POST /_sim/faults``) makes an unpaid order report one of them::

    {"trade_states": {"<out_trade_no>": "REVOKED"}}      ("" or NOTPAY removes the entry)

- ``USERPAYING`` and ``PAYERROR``: what the query says while the order is unpaid; the order
  stays payable (the customer may try again), and a payment ends the overlay (SUCCESS wins).
- ``REVOKED``: the order is over: it cannot be paid, closeorder answers ORDERCLOSED, and the
  query says REVOKED.

The v3 query shows the same states as its ``trade_state`` (v3 spells them alike), and v3's
close of a REVOKED order answers 400 ``ORDER_CLOSED`` (:mod:`pos.sandbox.engine_v3`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

STATES = ("USERPAYING", "PAYERROR", "REVOKED")
DESCRIPTIONS = {
    "USERPAYING": "需要用户输入支付密码",
    "PAYERROR": "支付失败(其他原因，如银行返回失败)",
    "REVOKED": "已撤销",
}


def normalise(value: Any) -> dict[str, str]:
    """The checked switch: ``{out_trade_no: state}``; entries set to "" or NOTPAY are dropped."""
    if not isinstance(value, Mapping):
        raise ValueError('trade_states must be an object like {"<out_trade_no>": "PAYERROR"}')
    out: dict[str, str] = {}
    for out_trade_no, state in value.items():
        if not isinstance(out_trade_no, str) or not 0 < len(out_trade_no) <= 32:
            raise ValueError("trade_states: each key is an out_trade_no (1-32 characters)")
        if state in ("", "NOTPAY"):
            continue
        if state not in STATES:
            raise ValueError(f'trade_states.{out_trade_no} must be one of {", ".join(STATES)} (or "")')
        out[out_trade_no] = state
    return out


def overlay(states: Mapping[str, str], out_trade_no: str, real_state: str) -> str | None:
    """The state to report instead of ``real_state`` (only an unpaid order has one), or None."""
    if real_state != "NOTPAY":
        return None
    return states.get(out_trade_no)
