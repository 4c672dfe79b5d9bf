"""The day's bill (对账单) built from the simulator's own orders.

Which rows a day holds is decided here; how they are written is
:func:`pos.wechatpay.bills.format_bill`, the same column definition the client
reads with, so the two sides cannot drift apart. A payment appears on the day
it was paid, a refund on the day it was requested; in an ALL bill a refunded
payment shows twice (its SUCCESS row and its REFUND row), as in real bills.
The handling fee is 0.60%, rounded half-up to a fen, written with 5 decimals.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from pos.sandbox import coupons
from pos.sandbox.clock import BEIJING
from pos.sandbox.state import Order, Refund
from pos.wechatpay import bills as wire
from pos.wechatpay.bills import ALL_COLUMNS, REFUND_COLUMNS, SUCCESS_COLUMNS, SUMMARY_COLUMNS, BillRow

__all__ = ["ALL_COLUMNS", "BILL_TYPES", "REFUND_COLUMNS", "SUCCESS_COLUMNS", "SUMMARY_COLUMNS"]

BILL_TYPES = ("ALL", "SUCCESS", "REFUND", "RECHARGE_REFUND")
RATE = Decimal("0.006")
RATE_TEXT = "0.60%"


def fee_fen(amount_fen: int) -> int:
    """The 0.60% handling fee, rounded half-up to a fen (negative for refunds)."""
    sign = -1 if amount_fen < 0 else 1
    return sign * int((Decimal(abs(amount_fen)) * RATE).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def fee_text(fen: int) -> str:
    """Fees are written with 5 decimals: 8 fen -> "0.08000"."""
    return f"{Decimal(fen) / 100:.5f}"


def bill_day(bill_date: str) -> date:
    return datetime.strptime(bill_date, "%Y%m%d").date()


def ready_at(day: date) -> datetime:
    """WeChat builds day D's bill overnight; it can be fetched from 10:00 on D+1 (Beijing)."""
    return datetime(day.year, day.month, day.day, 10, tzinfo=BEIJING) + timedelta(days=1)


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, BEIJING)


def _on_day(seconds: float | None, day: date) -> bool:
    return seconds is not None and _at(seconds).date() == day


def _text(value: str) -> str:
    # A bill cannot carry a backtick or a line break; WeChat's own bills show them as spaces.
    return value.replace("`", " ").replace("\r", " ").replace("\n", " ")


def _base(order: Order) -> dict[str, object]:
    return {
        "out_trade_no": order.out_trade_no,
        "transaction_id": order.transaction_id,
        "appid": order.param("appid"),
        "mch_id": order.param("mch_id"),
        "sub_mch_id": "0",
        "device_info": _text(order.param("device_info")),
        "openid": order.openid,
        "bank_type": order.bank_type,
        "body": _text(order.param("body")),
        "attach": _text(order.param("attach")),
        "rate": RATE_TEXT,
    }


def payment_row(order: Order) -> BillRow:
    return BillRow(
        **_base(order),  # type: ignore[arg-type]
        trade_time=_at(order.paid_at or 0),
        trade_state="SUCCESS",
        total_fee=order.total_fee,
        settlement_total_fee=coupons.settlement_total_fee(
            order.total_fee, order.coupon_fee, order.coupon_type
        ),
        coupon_fee=order.coupon_fee,
        refund_id="0",
        out_refund_no="0",
        fee=Decimal(fee_fen(order.total_fee)) / 100,
    )


def refund_row(order: Order, refund: Refund) -> BillRow:
    return BillRow(
        **_base(order),  # type: ignore[arg-type]
        trade_time=_at(refund.requested_at),
        trade_state="REFUND",
        refund_request_time=_at(refund.requested_at),
        refund_success_time=_at(refund.succeeded_at),
        refund_id=refund.refund_id,
        out_refund_no=refund.out_refund_no,
        # 退款金额 = 申请退款金额 − the merchant-funded coupon's share (coupons: 应结退款金额).
        refund_fee=coupons.settlement_refund_fee(order, refund),
        coupon_refund_fee=coupons.cash_coupon_refund_fee(order, refund),
        refund_request_fee=refund.refund_fee,
        refund_type="ORIGINAL",
        refund_status=refund.status,
        fee=Decimal(fee_fen(-refund.refund_fee)) / 100,
    )


def rows_for(orders: Iterable[Order], day: date, bill_type: str) -> list[BillRow]:
    """The rows of ``day``'s bill of ``bill_type`` (ALL, SUCCESS, REFUND), in time order."""
    rows: list[tuple[float, BillRow]] = []
    for order in orders:
        if order.paid_at is None:
            continue
        if bill_type in ("ALL", "SUCCESS") and _on_day(order.paid_at, day):
            rows.append((order.paid_at, payment_row(order)))
        if bill_type in ("ALL", "REFUND"):
            rows.extend(
                (r.requested_at, refund_row(order, r)) for r in order.refunds if _on_day(r.requested_at, day)
            )
    return [row for _, row in sorted(rows, key=lambda pair: pair[0])]


def render(rows: Sequence[BillRow], bill_type: str) -> str:
    """The bill text, written by the shared writer."""
    return wire.format_bill(rows, bill_type)
