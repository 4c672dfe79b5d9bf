"""The day's bill (对账单) as WeChat writes it, built from the simulator's own orders.

Layouts are the current ("免充值券") ones: ALL 27 columns, SUCCESS 20, REFUND 29;
every value in a data or summary row starts with a backtick; money is yuan
with 2 decimals, the fee (手续费) 5 decimals at a 0.60% rate. A payment appears
on the day it was paid, a refund on the day it was requested; in an ALL bill a
refunded payment shows twice (its SUCCESS row and its REFUND row), as in real bills.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from pos.money import format_yuan
from pos.sandbox.clock import BEIJING, dashed_time
from pos.sandbox.state import Order, Refund


def _columns(header: str) -> tuple[str, ...]:
    """A header line as WeChat writes it, split into column names."""
    return tuple(header.split(","))


ALL_COLUMNS = _columns(
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,"
    "货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,"
    "商户数据包,手续费,费率,订单金额,申请退款金额,费率备注"
)
SUCCESS_COLUMNS = _columns(
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,"
    "货币种类,应结订单金额,代金券金额,商品名称,商户数据包,手续费,费率,订单金额,费率备注"
)
REFUND_COLUMNS = _columns(
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,"
    "货币种类,应结订单金额,代金券金额,退款申请时间,退款成功时间,微信退款单号,商户退款单号,退款金额,充值券退款金额,"
    "退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注"
)
SUMMARY_COLUMNS = _columns(
    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"
)
COLUMNS = {"ALL": ALL_COLUMNS, "SUCCESS": SUCCESS_COLUMNS, "REFUND": REFUND_COLUMNS}
BILL_TYPES = ("ALL", "SUCCESS", "REFUND", "RECHARGE_REFUND")
RATE = Decimal("0.006")
RATE_TEXT = "0.60%"


def fee_fen(amount_fen: int) -> int:
    """The 0.60% handling fee, rounded half-up to a fen (negative for refunds)."""
    sign = -1 if amount_fen < 0 else 1
    return sign * int((Decimal(abs(amount_fen)) * RATE).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def fee_text(fen: int) -> str:
    """Fees are written with 5 decimals: 4 fen -> "0.04000"."""
    return f"{Decimal(fen) / 100:.5f}"


@dataclass(frozen=True)
class _Row:
    values: dict[str, str]
    settled: int = 0  # 应结订单金额, fen
    refunded: int = 0  # 退款金额
    fee: int = 0
    ordered: int = 0  # 订单金额
    asked: int = 0  # 申请退款金额


def bill_day(bill_date: str) -> date:
    return datetime.strptime(bill_date, "%Y%m%d").date()


def _on_day(at: float | None, day: date) -> bool:
    return at is not None and datetime.fromtimestamp(at, BEIJING).date() == day


def _base(order: Order) -> dict[str, str]:
    return {
        "公众账号ID": order.param("appid"),
        "商户号": order.param("mch_id"),
        "特约商户号": "0",
        "设备号": order.param("device_info"),
        "微信订单号": order.transaction_id,
        "商户订单号": order.out_trade_no,
        "用户标识": order.openid,
        "交易类型": "NATIVE",
        "付款银行": order.bank_type,
        "货币种类": "CNY",
        "代金券金额": "0.00",
        "商品名称": order.param("body"),
        "商户数据包": order.param("attach"),
        "费率": RATE_TEXT,
        "费率备注": "",
    }


def _payment_row(order: Order) -> _Row:
    fee = fee_fen(order.total_fee)
    values = _base(order) | {
        "交易时间": dashed_time(order.paid_at or 0),
        "交易状态": "SUCCESS",
        "应结订单金额": format_yuan(order.total_fee),
        "微信退款单号": "0",
        "商户退款单号": "0",
        "退款金额": "0.00",
        "充值券退款金额": "0.00",
        "退款类型": "",
        "退款状态": "",
        "手续费": fee_text(fee),
        "订单金额": format_yuan(order.total_fee),
        "申请退款金额": "0.00",
    }
    return _Row(values, settled=order.total_fee, fee=fee, ordered=order.total_fee)


def _refund_row(order: Order, refund: Refund) -> _Row:
    fee = fee_fen(-refund.refund_fee)
    values = _base(order) | {
        "交易时间": dashed_time(refund.requested_at),
        "交易状态": "REFUND",
        "应结订单金额": "0.00",
        "退款申请时间": dashed_time(refund.requested_at),
        "退款成功时间": dashed_time(refund.succeeded_at),
        "微信退款单号": refund.refund_id,
        "商户退款单号": refund.out_refund_no,
        "退款金额": format_yuan(refund.refund_fee),
        "充值券退款金额": "0.00",
        "退款类型": "ORIGINAL",
        "退款状态": refund.status,
        "手续费": fee_text(fee),
        "订单金额": "0.00",
        "申请退款金额": format_yuan(refund.refund_fee),
    }
    return _Row(values, refunded=refund.refund_fee, fee=fee, asked=refund.refund_fee)


def rows_for(orders: Iterable[Order], day: date, bill_type: str) -> list[_Row]:
    rows: list[tuple[float, _Row]] = []
    for order in orders:
        if order.paid_at is None:
            continue
        if bill_type in ("ALL", "SUCCESS") and _on_day(order.paid_at, day):
            rows.append((order.paid_at, _payment_row(order)))
        if bill_type in ("ALL", "REFUND"):
            rows.extend(
                (r.requested_at, _refund_row(order, r)) for r in order.refunds if _on_day(r.requested_at, day)
            )
    return [row for _, row in sorted(rows, key=lambda pair: pair[0])]


def _line(values: Sequence[str]) -> str:
    return ",".join("`" + v for v in values)


def render(rows: Sequence[_Row], bill_type: str) -> str:
    """The bill text: header, backticked rows, summary header, backticked summary row."""
    columns = COLUMNS[bill_type]
    lines = [",".join(columns)]
    lines.extend(_line([row.values[c] for c in columns]) for row in rows)
    lines.append(",".join(SUMMARY_COLUMNS))
    lines.append(
        _line(
            [
                str(len(rows)),
                format_yuan(sum(r.settled for r in rows)),
                format_yuan(sum(r.refunded for r in rows)),
                "0.00",
                fee_text(sum(r.fee for r in rows)),
                format_yuan(sum(r.ordered for r in rows)),
                format_yuan(sum(r.asked for r in rows)),
            ]
        )
    )
    return "\n".join(lines) + "\n"


def ready_at(day: date) -> datetime:
    """WeChat builds day D's bill overnight; it can be fetched from 10:00 on D+1 (Beijing)."""
    return datetime(day.year, day.month, day.day, 10, tzinfo=BEIJING) + timedelta(days=1)
