"""The downloadbill text: read it into typed rows, and write it (the simulator uses the writer).

Layout (WeChat Pay v2, 下载交易账单): a header line, detail rows, a summary header
and one summary row. Headers are plain; every value in detail and summary rows
starts with a backtick (so Excel keeps long numbers as text), and an empty value
is a lone backtick. Amounts are yuan with two decimals (the fee 手续费 five),
times ``yyyy-MM-dd HH:mm:ss`` Beijing.

Columns are read by header name, not position, so the old 24-column ALL bill,
the current 27-column ALL, 20-column SUCCESS and 29-column REFUND bills all map
onto one :class:`BillRow`. Rows are split on ``,``\\` (comma + backtick) rather
than on every comma, so a 商品名称 with a comma in it does not shift columns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from decimal import Decimal, InvalidOperation
from types import MappingProxyType

from pos.money import MoneyError, format_yuan, parse_bill_yuan
from pos.wechatpay.errors import BillFormatError, InvalidField
from pos.wechatpay.times import parse_spaced, to_spaced


def _names(header: str) -> tuple[str, ...]:
    return tuple(header.split(","))


# The layouts WeChat sends today ("免充值券" settlement) and the old ALL layout.
ALL_COLUMNS = _names(
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,"
    "货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,"
    "商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注"
)
SUCCESS_COLUMNS = _names(
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,"
    "货币种类,应结订单金额,代金券金额,商品名称,商户数据包,手续费,费率,订单金额,费率备注"
)
REFUND_COLUMNS = _names(
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,"
    "货币种类,应结订单金额,代金券金额,退款申请时间,退款成功时间,微信退款单号,商户退款单号,退款金额,充值券退款金额,"
    "退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注"
)
OLD_ALL_COLUMNS = _names(
    "交易时间,公众账号ID,商户号,子商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,"
    "货币种类,总金额,代金券或立减优惠金额,微信退款单号,商户退款单号,退款金额,代金券或立减优惠退款金额,退款类型,"
    "退款状态,商品名称,商户数据包,手续费,费率"
)
SUMMARY_COLUMNS = _names(
    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"
)
OLD_SUMMARY_COLUMNS = _names("总交易单数,总交易额,总退款金额,总代金券或立减优惠退款金额,手续费总金额")

LAYOUTS: dict[str, tuple[str, ...]] = {
    "ALL": ALL_COLUMNS,
    "SUCCESS": SUCCESS_COLUMNS,
    "REFUND": REFUND_COLUMNS,
    "ALL_OLD": OLD_ALL_COLUMNS,
}

# Which BillRow attribute each header names, and how its text is read.
_TEXT, _FEN, _TIME, _FEE = "text", "fen", "time", "fee"
_ROW_COLUMNS: dict[str, tuple[str, str]] = {
    "交易时间": ("trade_time", _TIME),
    "公众账号ID": ("appid", _TEXT),
    "商户号": ("mch_id", _TEXT),
    "特约商户号": ("sub_mch_id", _TEXT),
    "子商户号": ("sub_mch_id", _TEXT),
    "设备号": ("device_info", _TEXT),
    "微信订单号": ("transaction_id", _TEXT),
    "商户订单号": ("out_trade_no", _TEXT),
    "用户标识": ("openid", _TEXT),
    "交易类型": ("trade_type", _TEXT),
    "交易状态": ("trade_state", _TEXT),
    "付款银行": ("bank_type", _TEXT),
    "货币种类": ("fee_type", _TEXT),
    "应结订单金额": ("settlement_total_fee", _FEN),
    "总金额": ("settlement_total_fee", _FEN),
    "代金券金额": ("coupon_fee", _FEN),
    "代金券或立减优惠金额": ("coupon_fee", _FEN),
    "退款申请时间": ("refund_request_time", _TIME),
    "退款成功时间": ("refund_success_time", _TIME),
    "微信退款单号": ("refund_id", _TEXT),
    "商户退款单号": ("out_refund_no", _TEXT),
    "退款金额": ("refund_fee", _FEN),
    "充值券退款金额": ("coupon_refund_fee", _FEN),
    "代金券或立减优惠退款金额": ("coupon_refund_fee", _FEN),
    "退款类型": ("refund_type", _TEXT),
    "退款状态": ("refund_status", _TEXT),
    "商品名称": ("body", _TEXT),
    "商户数据包": ("attach", _TEXT),
    "手续费": ("fee", _FEE),
    "费率": ("rate", _TEXT),
    "订单金额": ("total_fee", _FEN),
    "申请退款金额": ("refund_request_fee", _FEN),
    "费率备注": ("rate_note", _TEXT),
}
_SUMMARY_COLUMNS: dict[str, tuple[str, str]] = {
    "总交易单数": ("count", "int"),
    "应结订单总金额": ("settlement_total_fee", _FEN),
    "总交易额": ("settlement_total_fee", _FEN),
    "退款总金额": ("refund_fee", _FEN),
    "总退款金额": ("refund_fee", _FEN),
    "充值券退款总金额": ("coupon_refund_fee", _FEN),
    "总代金券或立减优惠退款金额": ("coupon_refund_fee", _FEN),
    "手续费总金额": ("fee", _FEE),
    "订单总金额": ("total_fee", _FEN),
    "申请退款总金额": ("refund_request_fee", _FEN),
}
_REQUIRED = ("交易时间", "微信订单号", "商户订单号", "交易状态")
_FEE_PLACES = Decimal("0.00001")


def _no_columns() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True)
class BillRow:
    """One detail row. Amounts are fen; ``fee`` (手续费) is yuan as a Decimal (five places)."""

    trade_time: datetime
    out_trade_no: str
    transaction_id: str
    trade_state: str  # SUCCESS, REFUND, REVOKED ...
    total_fee: int = 0  # 订单金额 (old bills: 总金额)
    settlement_total_fee: int = 0  # 应结订单金额
    trade_type: str = "NATIVE"
    appid: str = ""
    mch_id: str = ""
    sub_mch_id: str = ""
    device_info: str = ""
    openid: str = ""
    bank_type: str = ""
    fee_type: str = "CNY"
    coupon_fee: int = 0
    refund_request_time: datetime | None = None
    refund_success_time: datetime | None = None
    refund_id: str = ""
    out_refund_no: str = ""
    refund_fee: int = 0
    coupon_refund_fee: int = 0
    refund_type: str = ""
    refund_status: str = ""
    body: str = ""
    attach: str = ""
    fee: Decimal = Decimal("0")
    rate: str = ""
    refund_request_fee: int = 0
    rate_note: str = ""
    # The raw text by header, for columns this class does not name. Not compared.
    columns: Mapping[str, str] = field(default_factory=_no_columns, compare=False, repr=False)


@dataclass(frozen=True)
class BillSummary:
    """The summary row: totals as WeChat computed them (compare, don't trust blindly)."""

    count: int
    settlement_total_fee: int
    refund_fee: int
    coupon_refund_fee: int
    fee: Decimal
    total_fee: int | None = None  # absent from old bills
    refund_request_fee: int | None = None
    columns: Mapping[str, str] = field(default_factory=_no_columns, compare=False, repr=False)


@dataclass(frozen=True)
class Bill:
    """A parsed bill. ``layout`` is ALL, SUCCESS, REFUND, ALL_OLD, or OTHER for an unknown header."""

    layout: str
    header: tuple[str, ...]
    rows: tuple[BillRow, ...]
    summary: BillSummary


# -- reading --------------------------------------------------------------------------------------


def _values(line: str, number: int) -> list[str]:
    if not line.startswith("`"):
        raise BillFormatError(f"line {number}: a value row must start with a backtick: {line[:60]!r}")
    return line[1:].split(",`")


def _convert(kind: str, text: str, column: str, number: int) -> object:
    try:
        if kind == _TEXT:
            return text
        if kind == _TIME:
            return parse_spaced(text, column) if text.strip() else None
        if kind == _FEN:
            return parse_bill_yuan(text) if text.strip() else 0
        if kind == _FEE:
            return Decimal(text.strip().rstrip("%")) if text.strip() else Decimal("0")
        if not text.strip().isdigit():
            raise ValueError(text)
        return int(text)
    except (MoneyError, InvalidField, InvalidOperation, ValueError):
        raise BillFormatError(f"line {number}: {column} {text!r} is not readable") from None


def _record(header: tuple[str, ...], values: list[str], mapping: dict[str, tuple[str, str]], number: int):
    if len(values) != len(header):
        raise BillFormatError(f"line {number}: {len(values)} values under a {len(header)}-column header")
    known: dict[str, object] = {}
    for column, text in zip(header, values, strict=True):
        if column in mapping:
            name, kind = mapping[column]
            known[name] = _convert(kind, text, column, number)
    known["columns"] = MappingProxyType(dict(zip(header, values, strict=True)))
    return known


def parse_bill(text: str | bytes) -> Bill:
    """Read a downloadbill text (``\\n`` or ``\\r\\n``, UTF-8 with or without BOM).

    Raises :class:`BillFormatError` naming the line for anything it cannot read.
    """
    if isinstance(text, bytes | bytearray):
        try:
            text = bytes(text).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise BillFormatError(f"bill is not UTF-8 (byte {exc.start})") from None
    text = text.removeprefix("\ufeff")
    if text.lstrip().startswith("<"):
        raise BillFormatError("this is an XML answer, not a bill (an error the client should have raised)")
    lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if len(lines) < 3:
        raise BillFormatError("a bill needs a header, a summary header and a summary row")
    number, header_line = lines[0]
    header = _names(header_line.strip())
    missing = [column for column in _REQUIRED if column not in header]
    if missing or header_line.startswith("`"):
        raise BillFormatError(f"line {number}: not a bill header (missing {', '.join(missing) or 'names'})")
    layout = next((name for name, columns in LAYOUTS.items() if columns == header), "OTHER")

    rows: list[BillRow] = []
    index = 1
    while index < len(lines) and lines[index][1].startswith("`"):
        number, line = lines[index]
        known = _record(header, _values(line.rstrip(), number), _ROW_COLUMNS, number)
        if "total_fee" not in known:  # old bills have one amount column, 总金额
            known["total_fee"] = known.get("settlement_total_fee", 0)
        if known.get("trade_time") is None:
            raise BillFormatError(f"line {number}: 交易时间 is empty")
        rows.append(BillRow(**known))  # type: ignore[arg-type]
        index += 1
    if len(lines) - index != 2:
        raise BillFormatError(
            f"line {lines[index][0] if index < len(lines) else number}: "
            "expected exactly a summary header and a summary row after the detail rows"
        )
    (sum_number, sum_header_line), (row_number, sum_line) = lines[index], lines[index + 1]
    sum_header = _names(sum_header_line.strip())
    if "总交易单数" not in sum_header:
        raise BillFormatError(f"line {sum_number}: not a summary header: {sum_header_line[:60]!r}")
    summary_known = _record(sum_header, _values(sum_line.rstrip(), row_number), _SUMMARY_COLUMNS, row_number)
    for name in ("count", "settlement_total_fee", "refund_fee", "coupon_refund_fee"):
        summary_known.setdefault(name, 0)
    summary_known.setdefault("fee", Decimal("0"))
    return Bill(layout=layout, header=tuple(header), rows=tuple(rows), summary=BillSummary(**summary_known))  # type: ignore[arg-type]


# -- writing --------------------------------------------------------------------------------------


def _render(value: object, kind: str, column: str) -> str:
    if kind == _TIME:
        return to_spaced(value) if value is not None else ""  # type: ignore[arg-type]
    if kind == _FEN:
        return format_yuan(value)  # type: ignore[arg-type]
    if kind == _FEE:
        return str(Decimal(value).quantize(_FEE_PLACES))  # type: ignore[arg-type]
    text = str(value)
    if "`" in text or "\n" in text or "\r" in text:
        raise ValueError(
            f"{column} value {text!r} holds a backtick or a line break, which a bill cannot carry"
        )
    return text


def summarize(rows: Iterable[BillRow]) -> BillSummary:
    """The summary row WeChat would print for ``rows``."""
    rows = list(rows)
    return BillSummary(
        count=len(rows),
        settlement_total_fee=sum(r.settlement_total_fee for r in rows),
        refund_fee=sum(r.refund_fee for r in rows),
        coupon_refund_fee=sum(r.coupon_refund_fee for r in rows),
        fee=sum((r.fee for r in rows), Decimal("0")),
        total_fee=sum(r.total_fee for r in rows),
        refund_request_fee=sum(r.refund_request_fee for r in rows),
    )


def format_bill(rows: Iterable[BillRow], layout: str = "ALL", *, newline: str = "\n") -> str:
    """Write ``rows`` as WeChat's current ``layout`` (ALL, SUCCESS or REFUND) with its summary.

    The summary totals what the layout carries (a SUCCESS bill has no refund columns,
    so its 退款总金额 is 0). Which rows belong in which bill is the caller's choice.
    """
    if layout not in ("ALL", "SUCCESS", "REFUND"):
        raise ValueError(f"layout must be ALL, SUCCESS or REFUND, not {layout!r}")
    header = LAYOUTS[layout]
    rows = [only_layout_columns(row, layout) for row in rows]
    lines = [",".join(header)]
    for row in rows:
        values = []
        for column in header:
            name, kind = _ROW_COLUMNS[column]
            values.append("`" + _render(getattr(row, name), kind, column))
        lines.append(",".join(values))
    summary = summarize(rows)
    lines.append(",".join(SUMMARY_COLUMNS))
    lines.append(
        ",".join(
            "`" + _render(getattr(summary, _SUMMARY_COLUMNS[c][0]), _SUMMARY_COLUMNS[c][1], c)
            for c in SUMMARY_COLUMNS
        )
    )
    return newline.join(lines) + newline


def only_layout_columns(row: BillRow, layout: str) -> BillRow:
    """``row`` with the attributes ``layout`` does not carry reset to their defaults.

    What a row looks like after a trip through :func:`format_bill` and :func:`parse_bill`.
    """
    carried = {_ROW_COLUMNS[column][0] for column in LAYOUTS[layout]}
    defaults = {f.name: f.default for f in fields(BillRow) if f.name not in carried and f.name != "columns"}
    return replace(row, **defaults)
