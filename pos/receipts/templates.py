"""The slips a till prints, as Documents built from plain values.

Each template takes a small frozen input dataclass (filled by the till from
its ledger, or by a test), the printer's column count, and the language
("zh-CN" default, "en"). None of them reads the database, the config or the
clock: the same values always give the same Document.

Times arrive as aware datetimes and are printed in the store's time zone
(``timezone``, Asia/Shanghai by default); a naive datetime is refused,
because guessing a zone on a payment deadline is how a customer ends up
paying an order that was already closed. Amounts are integer fen, printed
with ``pos.money.format_price`` ("￥12.50", U+FFE5).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

from pos.i18n import CATALOGUE, check_language, literal, translator
from pos.money import MAX_FEN, format_price
from pos.receipts.document import QR, Align, Block, Cut, Document, Feed, Row, Rule, Text
from pos.receipts.layout import cells, pad_row, table_row, wrap

WIDE_TABLE_COLUMNS = 40  # from this width items fit on one line with quantity, unit price and amount
SAMPLE_CODE_URL = "weixin://wxpay/bizpayurl?pr=AbCdEfG"


def printed_words(language: str) -> list[str]:
    """Every word a slip in ``language`` can print (placeholders removed): what a font must cover."""
    check_language(language)
    slips = ("slip.", "state.")
    return [literal(texts[language]) for key, texts in CATALOGUE.items() if key.startswith(slips)]


@dataclass(frozen=True)
class LineItem:
    """One line of a sale: what, how many, and the price of one, in fen."""

    name: str
    qty: int
    unit_fen: int

    def __post_init__(self) -> None:
        if self.qty < 1:
            raise ValueError(f"item {self.name!r}: quantity must be at least 1, not {self.qty}")
        if self.unit_fen < 0:
            raise ValueError(f"item {self.name!r}: unit price must not be negative")

    @property
    def amount_fen(self) -> int:
        return self.qty * self.unit_fen


@dataclass(frozen=True)
class SaleSlipData:
    """A sale waiting for payment: the slip with the pay QR and the deadline."""

    store_name: str
    lane: str
    cashier: str
    out_trade_no: str
    items: tuple[LineItem, ...]
    total_fen: int
    code_url: str
    expires_at: datetime
    timezone: str = "Asia/Shanghai"
    created_at: datetime | None = None
    store_address: str = ""
    store_phone: str = ""
    footer: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "items", tuple(self.items))
        _aware("expires_at", self.expires_at)
        if self.created_at is not None:
            _aware("created_at", self.created_at)
        if self.items and sum(i.amount_fen for i in self.items) != self.total_fen:
            raise ValueError(
                f"sale {self.out_trade_no}: items add up to {sum(i.amount_fen for i in self.items)} fen, "
                f"total says {self.total_fen}"
            )
        if self.total_fen <= 0:
            raise ValueError(f"sale {self.out_trade_no}: total must be more than 0 fen")
        if not self.code_url:
            raise ValueError(f"sale {self.out_trade_no}: no code_url to print")


@dataclass(frozen=True)
class PaidSlipData:
    """The confirmation after WeChat reports the sale paid."""

    store_name: str
    out_trade_no: str
    total_fen: int
    transaction_id: str
    paid_at: datetime
    timezone: str = "Asia/Shanghai"
    lane: str = ""
    footer: str = ""

    def __post_init__(self) -> None:
        _aware("paid_at", self.paid_at)


@dataclass(frozen=True)
class VoidSlipData:
    """A sale closed unpaid: voided by the cashier (``expired=False``) or past its deadline."""

    store_name: str
    out_trade_no: str
    total_fen: int
    at: datetime
    expired: bool = False
    reason: str = ""
    timezone: str = "Asia/Shanghai"

    def __post_init__(self) -> None:
        _aware("at", self.at)


@dataclass(frozen=True)
class RefundSlipData:
    """Money given back on a paid sale (whole or part)."""

    store_name: str
    out_trade_no: str
    out_refund_no: str
    refund_fen: int
    total_fen: int
    refunded_at: datetime
    refund_id: str = ""
    reason: str = ""
    timezone: str = "Asia/Shanghai"

    def __post_init__(self) -> None:
        _aware("refunded_at", self.refunded_at)
        if not 0 < self.refund_fen <= self.total_fen:
            raise ValueError(f"refund of {self.refund_fen} fen on a {self.total_fen} fen sale")


@dataclass(frozen=True)
class StateTotal:
    """One line of the Z report: sales in one state, how many and how much."""

    state: str
    count: int
    total_fen: int


@dataclass(frozen=True)
class ZReportData:
    """The day's figures for the manager's Z report (net = paid - refunded)."""

    store_name: str
    business_day: date
    printed_at: datetime
    by_state: tuple[StateTotal, ...]
    paid_fen: int
    refunded_fen: int
    lane: str = ""
    timezone: str = "Asia/Shanghai"
    extra: tuple[tuple[str, str], ...] = field(default=())
    # Where customers used coupons (pos.reports.day): of the paid sales, what customers paid, the
    # coupons, and what the merchant settles (应结订单金额). None: no coupon that day, not printed.
    coupons: tuple[int, int, int] | None = None
    # What the refunds gave back of the settlement (应结退款金额); None: the same as refunded_fen.
    settled_refunded_fen: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_state", tuple(self.by_state))
        _aware("printed_at", self.printed_at)

    @property
    def net_fen(self) -> int:
        return self.paid_fen - self.refunded_fen


@dataclass(frozen=True)
class LabelData:
    """A mode-one shelf label: a product and its static bizpayurl."""

    product_name: str
    price_fen: int
    code_url: str
    product_id: str = ""


def reprint_mark(document: Document, first_at: datetime, timezone: str, language: str = "zh-CN") -> Document:
    """``document`` with a REPRINT mark on top: a copy that may not be the first on paper (a manual
    reprint, or a job a crash cut short) must never pass for a second sale. The mark, at double
    size (it fits 58 mm paper), the first copy's time in the store's zone, and a line saying so."""
    _aware("first_at", first_at)
    w = lambda k, **v: translator(language)(f"slip.{k}", **v)  # noqa: E731
    mark: list[Block] = [
        Text(w("reprint_mark"), align=Align.CENTER, bold=True, width=2, height=2),
        Text(w("reprint_first", at=_local(first_at, timezone, "%Y-%m-%d %H:%M")), align=Align.CENTER),
        Text(w("reprint_note"), align=Align.CENTER, bold=True),
        Rule("="),
    ]
    return replace(document, blocks=(*mark, *document.blocks), meta={**document.meta, "reprint": "1"})


def _aware(name: str, value: datetime) -> None:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, not {value!r}")


def _local(value: datetime, timezone: str, fmt: str) -> str:
    return value.astimezone(ZoneInfo(timezone)).strftime(fmt)


def _header(name: str, title: str, columns: int, *, address: str = "", phone: str = "") -> list[Block]:
    # The shop name at double size when it fits on one line, otherwise normal size and bold.
    big = cells(name) <= columns // 2
    blocks: list[Block] = [
        Text(name, align=Align.CENTER, bold=True, width=2 if big else 1, height=2 if big else 1)
    ]
    blocks += [Text(x, align=Align.CENTER) for x in (address, phone) if x]
    blocks += [Text(title, align=Align.CENTER, bold=True), Rule()]
    return blocks


def _field(label: str, value: str) -> Text:
    return Text(f"{label}: {value}")


def _footer(text: str) -> list[Block]:
    return [Text(text, align=Align.CENTER)] if text else []


def item_lines(items: Sequence[LineItem], columns: int, language: str) -> list[Block]:
    """The item table, aligned to ``columns``.

    Wide paper (40+ columns): one row per item, name | qty | unit price | amount, the
    name wrapping inside its column. Narrow paper: the name on its own line(s), then
    "qty x unit price" and the amount right-aligned.
    """
    w = lambda k: translator(language)(f"slip.{k}")  # noqa: E731
    blocks: list[Block] = []
    if columns >= WIDE_TABLE_COLUMNS:
        widths = (columns - 24, 4, 10, 10)
        header = table_row([w("item"), w("qty"), w("unit"), w("amount")], widths, "lrrr")
        blocks += [Text(line) for line in header]
        for item in items:
            values = [item.name, str(item.qty), format_price(item.unit_fen), format_price(item.amount_fen)]
            blocks += [Text(line) for line in table_row(values, widths, "lrrr")]
        return blocks
    blocks.append(Row(f"{w('item')} {w('qty')} x {w('unit')}", w("amount")))
    for item in items:
        blocks += [Text(line) for line in wrap(item.name, columns)]
        detail = f"  {item.qty} x {format_price(item.unit_fen)}"
        blocks += [Text(line) for line in pad_row(detail, format_price(item.amount_fen), columns)]
    return blocks


def sale_slip(data: SaleSlipData, columns: int, language: str = "zh-CN") -> Document:
    """The pay slip: shop, lane and cashier, order number, items, total, the WeChat QR and the deadline."""
    check_language(language)
    w = lambda k, **v: translator(language)(f"slip.{k}", **v)  # noqa: E731
    blocks = _header(
        data.store_name, w("sale_title"), columns, address=data.store_address, phone=data.store_phone
    )
    lane = f"{w('lane')}: {data.lane}"
    blocks.append(Row(lane, f"{w('cashier')}: {data.cashier}") if data.cashier else Text(lane))
    blocks.append(_field(w("order_no"), data.out_trade_no))
    if data.created_at is not None:
        blocks.append(_field(w("time"), _local(data.created_at, data.timezone, "%Y-%m-%d %H:%M")))
    if data.items:
        blocks += [Rule(), *item_lines(data.items, columns, language)]
    blocks.append(Rule())
    if data.items:
        blocks.append(Row(w("items_count"), str(sum(i.qty for i in data.items))))
    blocks += [
        Row(w("total"), format_price(data.total_fen), bold=True),
        Rule(),
        Text(w("scan"), align=Align.CENTER, bold=True),
        QR(data.code_url),
        Text(
            w("deadline", hhmm=_local(data.expires_at, data.timezone, "%H:%M")), align=Align.CENTER, bold=True
        ),
        *_footer(data.footer),
        Cut(),
    ]
    return Document(tuple(blocks), kind="sale", out_trade_no=data.out_trade_no)


def paid_slip(data: PaidSlipData, columns: int, language: str = "zh-CN") -> Document:
    """The confirmation: amount, payment method, WeChat transaction_id and the paid time."""
    check_language(language)
    w = lambda k: translator(language)(f"slip.{k}")  # noqa: E731
    blocks = _header(data.store_name, w("paid_title"), columns)
    if data.lane:
        blocks.append(_field(w("lane"), data.lane))
    blocks += [
        _field(w("order_no"), data.out_trade_no),
        _field(w("method"), w("wechat_pay")),
        Text(f"{w('transaction_id')}:"),
        Text(data.transaction_id),
        _field(w("paid_at"), _local(data.paid_at, data.timezone, "%Y-%m-%d %H:%M:%S")),
        Rule(),
        Row(w("paid_amount"), format_price(data.total_fen), bold=True),
        Rule(),
        *_footer(data.footer),
        Cut(),
    ]
    return Document(tuple(blocks), kind="paid", out_trade_no=data.out_trade_no)


def void_slip(data: VoidSlipData, columns: int, language: str = "zh-CN") -> Document:
    """The notice that an unpaid sale is closed (voided or expired): its QR must not be scanned."""
    check_language(language)
    w = lambda k: translator(language)(f"slip.{k}")  # noqa: E731
    title = w("expired_title") if data.expired else w("void_title")
    blocks = _header(data.store_name, title, columns)
    blocks += [
        _field(w("order_no"), data.out_trade_no),
        Row(w("amount"), format_price(data.total_fen)),
        _field(w("time"), _local(data.at, data.timezone, "%Y-%m-%d %H:%M")),
    ]
    if data.reason:
        blocks.append(_field(w("void_reason"), data.reason))
    blocks += [Rule(), Text(w("void_note"), align=Align.CENTER, bold=True), Cut()]
    return Document(tuple(blocks), kind="expired" if data.expired else "void", out_trade_no=data.out_trade_no)


def refund_slip(data: RefundSlipData, columns: int, language: str = "zh-CN") -> Document:
    """The refund slip: which sale, how much back, WeChat's refund id and when."""
    check_language(language)
    w = lambda k: translator(language)(f"slip.{k}")  # noqa: E731
    blocks = _header(data.store_name, w("refund_title"), columns)
    blocks += [
        _field(w("order_no"), data.out_trade_no),
        _field(w("refund_no"), data.out_refund_no),
    ]
    if data.refund_id:
        blocks += [Text(f"{w('refund_id')}:"), Text(data.refund_id)]
    blocks += [
        _field(w("refunded_at"), _local(data.refunded_at, data.timezone, "%Y-%m-%d %H:%M")),
        Rule(),
        Row(w("order_total"), format_price(data.total_fen)),
        Row(w("refund_amount"), format_price(data.refund_fen), bold=True),
    ]
    if data.reason:
        blocks.append(_field(w("void_reason"), data.reason))
    blocks += [Rule(), Text(w("refund_note"), align=Align.CENTER), Cut()]
    return Document(tuple(blocks), kind="refund", out_trade_no=data.out_trade_no)


def z_report(data: ZReportData, columns: int, language: str = "zh-CN") -> Document:
    """The daily Z report: counts and totals by state, then paid, refunded and net."""
    check_language(language)
    w = lambda k: translator(language)(f"slip.{k}")  # noqa: E731
    blocks = _header(data.store_name, w("z_title"), columns)
    blocks.append(_field(w("business_day"), data.business_day.isoformat()))
    if data.lane:
        blocks.append(_field(w("lane"), data.lane))
    blocks += [_field(w("printed_at"), _local(data.printed_at, data.timezone, "%Y-%m-%d %H:%M")), Rule()]
    blocks += _state_table(data.by_state, columns, language)
    blocks += [
        Rule(),
        Row(w("paid_total"), format_price(data.paid_fen)),
        Row(w("refunded_total"), format_price(data.refunded_fen)),
        Row(w("net_total"), format_price(data.net_fen), bold=True),
    ]
    if data.coupons is not None:  # the takings above are at the sales' prices; the money, below
        cash, coupon, settled = data.coupons
        blocks += [
            Rule(),
            Text(w("coupons_heading")),
            Row(w("cash_paid_total"), format_price(cash)),
            Row(w("coupon_total"), format_price(coupon)),
            Row(w("settled_total"), format_price(settled), bold=True),
        ]
        settled_refunded = (
            data.refunded_fen if data.settled_refunded_fen is None else data.settled_refunded_fen
        )
        if settled_refunded:  # what the merchant keeps: the settlement less what the refunds gave back
            blocks += [
                Row(w("settled_refunded_total"), format_price(settled_refunded)),
                Row(w("settled_net_total"), format_price(settled - settled_refunded), bold=True),
            ]
    blocks += [Row(label, value) for label, value in data.extra]
    blocks += [Rule("="), Cut()]
    return Document(tuple(blocks), kind="z_report")


MIN_STATE_CELLS = 8  # a state's name wraps in a narrower column ("部分退款", "Expired")


def z_report_widths(
    by_state: Sequence[StateTotal], columns: int, language: str
) -> tuple[int, int, int] | None:
    """Cells of the state, count and amount columns: the amount column holds the largest amount one
    sale may have (￥10000000.00) or the largest total, whichever is wider, and the count column its
    widest count, each with a space before it. None when the paper is too narrow for three columns."""
    amounts = [format_price(MAX_FEN), translator(language)("slip.amount")]
    amounts += [format_price(line.total_fen) for line in by_state]
    counts = [translator(language)("slip.count")] + [str(line.count) for line in by_state]
    amount = 1 + max(cells(text) for text in amounts)
    count = 1 + max(cells(text) for text in counts)
    state = columns - amount - count
    return (state, count, amount) if state >= MIN_STATE_CELLS else None


def _state_table(by_state: Sequence[StateTotal], columns: int, language: str) -> list[Block]:
    """The Z report's counts and totals by state: a three-column table, or on paper too narrow for
    it, one row per state ("待支付 ×3" flush left, the amount flush right)."""
    widths = z_report_widths(by_state, columns, language)
    if widths is None:
        return [
            Row(f"{translator(language).state(line.state)} ×{line.count}", format_price(line.total_fen))
            for line in by_state
        ]
    w = lambda k: translator(language)(f"slip.{k}")  # noqa: E731
    blocks: list[Block] = [Text(x) for x in table_row([w("state"), w("count"), w("amount")], widths, "lrr")]
    for line in by_state:
        values = [translator(language).state(line.state), str(line.count), format_price(line.total_fen)]
        blocks += [Text(x) for x in table_row(values, widths, "lrr")]
    return blocks


def product_label(data: LabelData, columns: int, language: str = "zh-CN") -> Document:
    """A mode-one shelf label: product name, price, and the product's bizpayurl QR."""
    check_language(language)
    big = cells(data.product_name) <= columns // 2
    blocks: list[Block] = [
        Text(data.product_name, align=Align.CENTER, bold=True, width=2 if big else 1, height=2 if big else 1),
        Text(format_price(data.price_fen), align=Align.CENTER, bold=True, width=2, height=2),
        QR(data.code_url),
        Text(translator(language)("slip.label_scan"), align=Align.CENTER),
    ]
    if data.product_id:
        blocks.append(Text(data.product_id, align=Align.CENTER))
    blocks.append(Cut())
    return Document(tuple(blocks), kind="label")


def column_ruler(columns: int) -> list[str]:
    """Two lines numbering every column: tens digits above, units below (e.g. 48 columns)."""
    tens = "".join(str((i // 10) % 10) if i % 10 == 0 else " " for i in range(1, columns + 1))
    units = "".join(str(i % 10) for i in range(1, columns + 1))
    return [tens.rstrip(), units]


def calibration_slip(
    profile_name: str, columns: int, language: str = "zh-CN", code_url: str = SAMPLE_CODE_URL
) -> Document:
    """``pos printer test``: native and raster QR one after the other with labels, a GB18030 line,
    a column ruler and the profile's name, to check a printer model once on the real hardware."""
    check_language(language)
    w = lambda k: translator(language)(f"slip.{k}")  # noqa: E731
    blocks: list[Block] = [
        Text(w("test_title"), align=Align.CENTER, bold=True, width=2, height=2),
        _field(w("profile"), profile_name),
        _field(w("columns"), str(columns)),
        Rule(),
        *[Text(line) for line in column_ruler(columns)],
        Rule(),
        Text(w("chinese_line")),
        Rule(),
        Text(w("native_qr"), align=Align.CENTER, bold=True),
        QR(code_url, mode="native"),
        Feed(),
        Text(w("raster_qr"), align=Align.CENTER, bold=True),
        QR(code_url, mode="raster"),
        Text(w("test_scan"), align=Align.CENTER),
        Text(code_url, align=Align.CENTER),
        Cut(),
    ]
    return Document(tuple(blocks), kind="test")
