"""Matching one day of WeChat's bill against the ledger: a pure function, no I/O.

The bill (ALL) lists every payment of the day (交易状态 SUCCESS, on the day it
was paid) and every refund (REFUND, on the day it was asked for); a payment
refunded the same day shows twice. The ledger's side is what
:mod:`pos.ledger.reconciliation` reads: the sales the bill names (by
out_trade_no, any store, any day: one mch_id, one ledger), the sales paid on the
bill day (by WeChat's time_end), the refunds the bill names and the refunds
started that day.

Rules, row by row:

- a payment row of a sale the ledger has paid, with the same transaction_id and
  amount: **matched**; another transaction_id: ``state``; another amount: ``amount``;
  the same order amount (订单金额 = the sale's total_fee) but another 应结订单金额 than the
  ledger's settlement amount (what its payment said the merchant settles; the total without
  a merchant-funded coupon): ``settlement``. So a coupon payment matches on both figures, and
  a bill that settles less (or more) than the ledger expects is a difference by that name.
  Old-format bills have one amount column (总金额) and no settlement column: only the
  amount is compared;
- a payment row of a sale the ledger knows but has not paid: returned in
  :attr:`Matching.unpaid`; the runner marks it PAID (source "bill") and reports
  what that did;
- a payment-code attempt's row (``<sale's number>-M<n>``, :func:`pos.ledger.micropay.sale_number`)
  is the sale's row: paid by code, it matches the sale's payment like any other; a reversed
  attempt's row (not SUCCESS) is no difference; a SUCCESS row of an attempt the till gave up on
  (reversed, or whose reverse never went through) is ``state`` "paid after a reverse": the
  customer was charged and the manager refunds it; it never pays the sale;
- a row whose out_trade_no the ledger does not know: ``other_channel`` when it
  starts with one of ``[store] other_channels``, else ``missing_in_ledger``;
- a refund row: matched when the ledger has that out_refund_no with the same
  amount and an agreeing state; otherwise ``state`` (missing, pending, closed)
  or ``amount``. In today's bills the refund's amount is 申请退款金额 and 退款金额 is what it
  gives back of the merchant's settlement (应结退款金额: less a merchant-funded coupon's share),
  compared with the ledger's settlement refund: ``settlement`` when they differ. Old-format
  bills have no 申请退款金额: their 退款金额 is compared with the refund's amount;
- after the rows: a sale paid in the ledger that day with no payment row is
  ``missing_at_wechat``; a refund the ledger started that day (not failed) with
  no refund row is ``state``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pos.i18n import translator
from pos.ledger import RefundState
from pos.ledger.micropay import sale_number
from pos.ledger.reconciliation import Difference, DifferenceKind, KnownSale, LedgerRefund
from pos.money import format_price
from pos.wechatpay.bills import BillRow

PAYMENT, REFUND = "SUCCESS", "REFUND"
# WeChat's 退款状态 against the ledger's refund states that say the same thing.
AGREEING_REFUND_STATES = {
    "SUCCESS": RefundState.SUCCEEDED,
    "PROCESSING": RefundState.PENDING,
    "REFUNDCLOSE": RefundState.FAILED,
    "CHANGE": RefundState.HELD,  # the money could not go back: held until the manager acts
    "FAIL": RefundState.FAILED,
}


@dataclass(frozen=True)
class LedgerSide:
    """The ledger's records for one bill day (see the module docstring)."""

    sales: Mapping[str, KnownSale] = field(default_factory=dict)  # by out_trade_no, for the bill's numbers
    paid: Sequence[KnownSale] = ()  # paid on the bill day
    refunds: Mapping[str, LedgerRefund] = field(default_factory=dict)  # by out_refund_no, for the bill's
    day_refunds: Sequence[LedgerRefund] = ()  # started on the bill day
    given_up: frozenset[str] = frozenset()  # payment-code attempts the till reversed (or tried to)


@dataclass
class Matching:
    matched: int = 0
    differences: list[Difference] = field(default_factory=list)
    # Paid at WeChat, known to the ledger but not paid there: for the runner to mark paid.
    unpaid: list[tuple[BillRow, KnownSale]] = field(default_factory=list)


def is_refund_row(row: BillRow) -> bool:
    return row.trade_state == REFUND


# The bill's columns for what the merchant settles and for the coupons (pos.wechatpay.bills): an
# old-format bill has neither 应结订单金额 nor 代金券金额 (its 总金额 is the order amount).
SETTLEMENT_COLUMN = "应结订单金额"
COUPON_COLUMNS = ("代金券金额", "代金券或立减优惠金额")


def bill_settlement(row: BillRow) -> int | None:
    """The row's 应结订单金额 (fen), None when the bill has no such column."""
    return row.settlement_total_fee if SETTLEMENT_COLUMN in row.columns else None


REQUESTED_REFUND_COLUMN = "申请退款金额"


def bill_refund_amounts(row: BillRow) -> tuple[int, int | None]:
    """A refund row's ``(refund amount, settlement refund or None)``: today's bills carry both
    (申请退款金额 and 退款金额 = 应结退款金额), old ones only 退款金额, the refund's amount."""
    if REQUESTED_REFUND_COLUMN in row.columns:
        return row.refund_request_fee, row.refund_fee
    return row.refund_fee, None


def bill_coupon(row: BillRow) -> int | None:
    """The row's coupon amount (fen), None when the bill has no coupon column."""
    return row.coupon_fee if any(column in row.columns for column in COUPON_COLUMNS) else None


def other_channel_prefix(out_trade_no: str, prefixes: Sequence[str]) -> str | None:
    return next((p for p in prefixes if p and out_trade_no.startswith(p)), None)


def sentence_values(values: Mapping[str, object]) -> dict[str, object]:
    """Values for a sentence of the catalogue: the ``bill`` and ``ledger`` fees (fen) as prices,
    a missing value as "-"."""
    return {name: _shown(name, value) for name, value in values.items()}


def _shown(name: str, value: object) -> object:
    if name in ("bill", "ledger") and isinstance(value, int) and not isinstance(value, bool):
        return format_price(value)
    return "-" if value is None else value


def match(
    rows: Sequence[BillRow],
    side: LedgerSide,
    *,
    other_channels: Sequence[str] = (),
    language: str = "zh-CN",
) -> Matching:
    """Compare the bill's ``rows`` with the ledger's ``side``; see the module docstring."""
    result = Matching()
    paid_rows: set[str] = set()
    refund_rows: set[str] = set()

    def differ(kind: DifferenceKind, row_or_no: BillRow | str, key: str, **values: object) -> None:
        if isinstance(row_or_no, BillRow):
            number, tx = row_or_no.out_trade_no, row_or_no.transaction_id
            refund_no = row_or_no.out_refund_no if is_refund_row(row_or_no) else ""
        else:
            number, tx, refund_no = row_or_no, str(values.get("tx") or ""), ""
        refund_no = str(values.pop("refund", refund_no) or "")
        ledger_fee, bill_fee = values.get("ledger"), values.get("bill")
        detail = translator(language)(f"reconcile.{key}", refund=refund_no, **sentence_values(values))
        result.differences.append(
            Difference(kind, number, tx, ledger_fee, bill_fee, detail, refund_no)  # type: ignore[arg-type]
        )

    for row in rows:
        sale = side.sales.get(row.out_trade_no) or side.sales.get(sale_number(row.out_trade_no))
        refund = is_refund_row(row)
        attempt = sale is not None and sale.out_trade_no != row.out_trade_no  # a payment code's order
        if sale is None:
            prefix = other_channel_prefix(row.out_trade_no, other_channels)
            fee = row.refund_fee if refund else row.total_fee
            if prefix is not None:
                differ(DifferenceKind.OTHER_CHANNEL, row, "other_channel", bill=fee, prefix=prefix)
            elif refund:
                differ(DifferenceKind.MISSING_IN_LEDGER, row, "unknown_refund", bill=fee)
            else:
                differ(DifferenceKind.MISSING_IN_LEDGER, row, "unknown_order", bill=fee)
            continue
        if refund:
            refund_rows.add(row.out_refund_no)
            if _refund_matches(row, sale, side, differ):
                result.matched += 1
            continue
        if attempt and row.trade_state != PAYMENT:  # a reversed code: nothing taken for the sale
            result.matched += 1
            continue
        if attempt and row.out_trade_no in side.given_up:
            differ(DifferenceKind.STATE, row, "paid_after_reverse", bill=row.total_fee)
            continue
        if row.trade_state != PAYMENT:  # e.g. REVOKED: the payment was reversed
            if sale.state.is_paid:
                differ(DifferenceKind.STATE, row, "odd_state", ledger=sale.total_fee, state=row.trade_state)
            else:
                result.matched += 1
            continue
        if sale.out_trade_no in paid_rows:
            differ(DifferenceKind.STATE, row, "duplicate_row", bill=row.total_fee)
            continue
        paid_rows.add(sale.out_trade_no)
        if not sale.state.is_paid:
            result.unpaid.append((row, sale))
        elif sale.transaction_id != row.transaction_id:
            differ(
                DifferenceKind.STATE,
                row,
                "other_transaction",
                ledger=sale.total_fee,
                bill=row.total_fee,
                bill_tx=row.transaction_id,
                ledger_tx=sale.transaction_id,
            )
        elif sale.total_fee != row.total_fee or (
            sale.paid_fee is not None and sale.paid_fee != row.total_fee
        ):
            differ(DifferenceKind.AMOUNT, row, "amount", ledger=sale.total_fee, bill=row.total_fee)
        elif (settled := bill_settlement(row)) is not None and settled != sale.settled_fee:
            differ(
                DifferenceKind.SETTLEMENT,
                row,
                "settlement",
                ledger=sale.settled_fee,
                bill=settled,
                total=format_price(sale.total_fee),
            )
        else:
            result.matched += 1

    for sale in side.paid:
        if sale.out_trade_no not in paid_rows:
            differ(
                DifferenceKind.MISSING_AT_WECHAT,
                sale.out_trade_no,
                "missing_at_wechat",
                ledger=sale.total_fee,
                tx=sale.transaction_id,
            )
    for ledger_refund in side.day_refunds:
        if ledger_refund.out_refund_no in refund_rows or ledger_refund.state is RefundState.FAILED:
            continue
        differ(
            DifferenceKind.STATE,
            ledger_refund.out_trade_no,
            "refund_only_in_ledger",
            ledger=ledger_refund.refund_fee,
            refund=ledger_refund.out_refund_no,
            state=translator(language).refund_state(ledger_refund.state),
        )
    # Other channels' orders last: they are shown, not worked on.
    result.differences.sort(key=lambda d: d.kind is DifferenceKind.OTHER_CHANNEL)
    return result


def _refund_matches(row: BillRow, sale: KnownSale, side: LedgerSide, differ) -> bool:  # type: ignore[no-untyped-def]
    ours = side.refunds.get(row.out_refund_no)
    if ours is None:
        differ(DifferenceKind.STATE, row, "refund_missing_in_ledger", bill=row.refund_fee)
        return False
    if ours.sale_id != sale.id:
        differ(
            DifferenceKind.STATE,
            row,
            "refund_other_sale",
            bill=row.refund_fee,
            ledger_order=ours.out_trade_no,
        )
        return False
    requested, settled = bill_refund_amounts(row)
    if ours.refund_fee != requested:
        differ(DifferenceKind.AMOUNT, row, "refund_amount", ledger=ours.refund_fee, bill=requested)
        return False
    if settled is not None and settled != ours.settled_refund_fee:
        differ(
            DifferenceKind.SETTLEMENT,
            row,
            "refund_settlement",
            ledger=ours.settled_refund_fee,
            bill=settled,
            requested=format_price(requested),
        )
        return False
    wechat_state = row.refund_status.strip().upper() or "SUCCESS"
    if AGREEING_REFUND_STATES.get(wechat_state) is ours.state:
        return True
    if wechat_state == "CHANGE" and ours.state is RefundState.SUCCEEDED and ours.resolution:
        return True  # WeChat still says CHANGE; the manager paid it back (re-sent or other means)
    if wechat_state == "SUCCESS" and ours.state is RefundState.PENDING:
        differ(DifferenceKind.STATE, row, "refund_pending", ledger=ours.refund_fee, bill=row.refund_fee)
    else:
        differ(
            DifferenceKind.STATE,
            row,
            "refund_state",
            ledger=ours.refund_fee,
            bill=row.refund_fee,
            bill_state=wechat_state,
            ledger_state=ours.state.value,
        )
    return False
