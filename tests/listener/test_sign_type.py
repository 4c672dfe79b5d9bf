"""A notice does not choose its own signature algorithm: the order's sign type decides.

Over real HTTP to the listener behind waitress, on a real SQLite ledger, with orders placed at the
simulator. A notice that names another ``sign_type`` than its order's (and is correctly signed
with the algorithm it names) is refused with v2's FAIL, logged, and changes nothing.
"""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from pos.ledger import SaleState
from pos.wechatpay import notices

FAIL = b"<return_code><![CDATA[FAIL]]></return_code>"


def snapshot(stack, sale):
    ledger = stack.ledger
    return (
        ledger.get_sale(sale.id),
        ledger.payments_for_sale(sale.id),
        ledger.jobs_for_sale(sale.id),
        ledger.messages_for(sale.out_trade_no),
        ledger.events_for_sale(sale.id),
        ledger.open_flags(),
    )


@pytest.mark.parametrize(
    ("order_type", "notice_type"),
    [("HMAC-SHA256", "MD5"), ("MD5", "HMAC-SHA256")],
    ids=["hmac-order", "md5-order"],
)
def test_a_notice_naming_another_sign_type_than_its_order_is_refused(stack, order_type, notice_type):
    sale = stack.ring_up(1800, sign_type=order_type)
    before = snapshot(stack, sale)
    fields = stack.notice_for(sale, sign_type=notice_type)
    with capture_logs() as events:
        response = stack.post(stack.signed(fields, sign_type=notice_type))  # rightly signed the way it says
    assert FAIL in response.content
    assert snapshot(stack, sale) == before
    assert stack.ledger.get_sale(sale.id).state is SaleState.AWAITING_PAYMENT
    (rejected,) = [e for e in events if e["event"] == "notice_rejected"]
    assert rejected["reason"] == "sign_type" and rejected["log_level"] == "warning"
    assert rejected["out_trade_no"] == sale.out_trade_no


@pytest.mark.parametrize("sign_type", ["MD5", "HMAC-SHA256"])
def test_a_notice_naming_its_orders_own_sign_type_is_believed(stack, sign_type):
    sale = stack.ring_up(1800, sign_type=sign_type)
    response = stack.post(stack.signed(stack.notice_for(sale, sign_type=sign_type), sign_type=sign_type))
    assert response.content == notices.success_reply()
    assert stack.ledger.get_sale(sale.id).state is SaleState.PAID


def test_a_notice_for_an_unknown_order_is_checked_with_the_configured_sign_type(stack):
    sale = stack.ring_up(1800)  # the configuration's MD5
    fields = stack.notice_for(sale, out_trade_no="NOSUCHORDER0001", sign_type="HMAC-SHA256")
    with capture_logs() as events:
        response = stack.post(stack.signed(fields, sign_type="HMAC-SHA256"))
    assert FAIL in response.content
    assert stack.ledger.messages_for("NOSUCHORDER0001") == []
    assert [e["reason"] for e in events if e["event"] == "notice_rejected"] == ["sign_type"]
