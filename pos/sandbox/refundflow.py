"""Refunds that are not immediate: PROCESSING, then SUCCESS, CHANGE or REFUNDCLOSE.

WeChat accepts a refund request at once but settles it later: ``refund_status`` is
PROCESSING (退款处理中) until it becomes SUCCESS, CHANGE (退款异常: the customer's card is
frozen or cancelled; the merchant must act on the merchant platform) or REFUNDCLOSE (退款关闭),
and a refund notice follows. The switch decides how the next refunds end:

- ``success`` (default): SUCCESS at once, as before;
- ``processing``: PROCESSING for ``Faults.refund_seconds`` (simulator clock), then SUCCESS;
- ``change`` / ``refundclose``: PROCESSING for ``refund_seconds``, then CHANGE / REFUNDCLOSE.

A refund settles when the simulator's clock passes its moment (``POST /_sim/clock``) or when
it is queried after that moment; its refund notice goes out then. A REFUNDCLOSE refund gives
its amount back to what the order can still refund.

The statuses are kept in v2's words; a refund made on v3 is answered and noticed in v3's:
CHANGE is ``ABNORMAL``, REFUNDCLOSE is ``CLOSED`` (:mod:`pos.sandbox.engine_v3`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pos.log import get_logger
from pos.sandbox.state import Order, Refund

if TYPE_CHECKING:
    from pos.sandbox.engine import Simulator

log = get_logger(__name__)

OUTCOMES = ("success", "processing", "change", "refundclose")
FINAL = {"processing": "SUCCESS", "change": "CHANGE", "refundclose": "REFUNDCLOSE"}
PROCESSING = "PROCESSING"


def check_outcome(value: object) -> str:
    if value not in OUTCOMES:
        raise ValueError(f"refund_outcome must be one of {', '.join(OUTCOMES)}")
    return str(value)


def begin(refund: Refund, outcome: str, now: float, seconds: float) -> None:
    """Start ``refund`` the way the switch says (it was just accepted at ``now``)."""
    if outcome == "success":
        return
    refund.status = PROCESSING
    refund.final_status = FINAL[outcome]
    refund.settles_at = now + seconds


def settle_due(orders: list[Order], now: float) -> list[tuple[Order, Refund]]:
    """Move every PROCESSING refund whose moment has come to its final status; returns them."""
    settled = []
    for order in orders:
        for refund in order.refunds:
            if refund.status == PROCESSING and refund.settles_at is not None and now >= refund.settles_at:
                refund.status = refund.final_status or "SUCCESS"
                refund.succeeded_at = refund.settles_at
                settled.append((order, refund))
    return settled


def settle(sim: Simulator) -> None:
    """Settle ``sim``'s due refunds (under its lock, saved), then send their refund notices."""
    with sim.state.lock:
        settled = settle_due(list(sim.state.orders.values()), sim.clock.now())
        if settled:
            sim.state.save()
    for order, refund in settled:
        log.info("refund_settled", out_refund_no=refund.out_refund_no, status=refund.status)
        if refund.notify_url:
            sim.send_refund_notice(order, refund)
