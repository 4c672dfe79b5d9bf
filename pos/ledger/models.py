"""The ledger's values: states, kinds and the read-only records it hands out.

Everything here is a plain, frozen value. Records are snapshots of a row at the
moment it was read; to change anything, call a :class:`~pos.ledger.Ledger`
method, never assign to a record.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any


class SaleState(enum.StrEnum):
    """Where a sale is in DESIGN.md's state machine.

    ::

        NEW --record_order--> AWAITING_PAYMENT --mark_paid--> PAID
         |                     |--mark_expired--> EXPIRED
         |                     '--mark_voided---> VOIDED
         '--record_order_failure--> FAILED --retry_order--> NEW (same out_trade_no)
        PAID, PARTLY_REFUNDED --complete_refund--> PARTLY_REFUNDED or REFUNDED

    mark_paid also accepts NEW and FAILED (WeChat says it was paid, so it was) and
    VOIDED and EXPIRED (paid in the race before the close: flagged for the manager).
    """

    NEW = "NEW"
    AWAITING_PAYMENT = "AWAITING_PAYMENT"
    PAID = "PAID"
    PARTLY_REFUNDED = "PARTLY_REFUNDED"
    REFUNDED = "REFUNDED"
    EXPIRED = "EXPIRED"
    VOIDED = "VOIDED"
    FAILED = "FAILED"

    @property
    def is_paid(self) -> bool:
        """Money was taken for this sale (whether or not some of it went back)."""
        return self in PAID_STATES

    @property
    def is_pending(self) -> bool:
        """The watcher still has work to do for this sale."""
        return self in (SaleState.NEW, SaleState.AWAITING_PAYMENT)


PAID_STATES = frozenset({SaleState.PAID, SaleState.PARTLY_REFUNDED, SaleState.REFUNDED})


class PaymentSource(enum.StrEnum):
    """Who told us the sale was paid."""

    NOTICE = "notice"  # WeChat's signed notification, through the listener
    QUERY = "query"  # our own /pay/orderquery, from the watcher or the cashier's "check" button
    BILL = "bill"  # the nightly /pay/downloadbill reconciliation


class PaidStatus(enum.StrEnum):
    """What :meth:`Ledger.mark_paid` did with a payment report."""

    PAID = "paid"  # this report moved the sale to PAID; the confirmation slip is queued
    PAID_AFTER_CLOSE = "paid_after_close"  # as PAID, but the sale had been VOIDED/EXPIRED: flagged
    ALREADY_PAID = "already_paid"  # a repeat of a payment already recorded: nothing changed
    AMOUNT_MISMATCH = "amount_mismatch"  # total_fee differs from the sale: stored, flagged, NOT paid
    CONFLICTING_PAYMENT = "conflicting_payment"  # another transaction for a paid sale: stored, flagged
    UNKNOWN_SALE = "unknown_sale"  # no such out_trade_no: flagged, no sale written


class RefundState(enum.StrEnum):
    PENDING = "PENDING"  # started; the amount is reserved; WeChat's answer is not final yet
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"  # WeChat closed it (REFUNDCLOSE): the reservation is released
    # WeChat could not return the money (CHANGE, v3 ABNORMAL): the amount stays reserved, the sale
    # is not refunded, and the manager must act; resolve_held_refund (or WeChat's later SUCCESS)
    # moves it to SUCCEEDED.
    HELD = "HELD"


class JobKind(enum.StrEnum):
    SALE_SLIP = "sale_slip"  # the receipt with the QR code and the deadline
    CONFIRMATION = "confirmation"  # "paid" slip, queued with the PAID transition
    VOID_NOTICE = "void_notice"
    EXPIRED_NOTICE = "expired_notice"
    REFUND_SLIP = "refund_slip"
    Z_REPORT = "z_report"
    LABEL = "label"  # a mode-one shelf label
    TEST = "test"


class JobState(enum.StrEnum):
    QUEUED = "queued"
    PRINTING = "printing"
    DONE = "done"


class MessageKind(enum.StrEnum):
    """Messages kept in the audit log, as received."""

    NOTICE = "notice"  # payment notification
    QUERY = "query"  # orderquery answer
    CALLBACK = "callback"  # mode-one callback
    REFUND_NOTICE = "refund_notice"
    CLOSE = "close"  # closeorder answer
    BILL = "bill"  # a line of the downloaded bill


class FlagKind(enum.StrEnum):
    """Anomalies the manager must look at."""

    AMOUNT_MISMATCH = "amount_mismatch"
    PAID_AFTER_CLOSE = "paid_after_close"
    SECOND_PAYMENT = "second_payment"
    UNKNOWN_ORDER = "unknown_order"
    REFUND_FAILED = "refund_failed"
    # WeChat could not return a refund to the customer (CHANGE): the manager must re-send or pay it.
    REFUND_HELD = "refund_held"
    # WeChat's bill shows a payment neither a notice nor a query reported (pos reconcile marked it PAID).
    MISSED_PAYMENT = "missed_payment"
    # A payment-code order the till reversed (it gave up) later read SUCCESS: refund it by hand.
    PAID_AFTER_REVERSE = "paid_after_reverse"


@dataclass(frozen=True, slots=True)
class LineItem:
    """One line to ring up: ``LineItem("拿铁", 1800, qty=2)``; prices are integer fen."""

    name: str
    unit_price: int
    qty: int = 1

    @property
    def amount(self) -> int:
        return self.unit_price * self.qty


@dataclass(frozen=True, slots=True)
class SaleItem:
    id: int
    sale_id: int
    position: int
    name: str
    qty: int
    unit_price: int
    amount: int


ITEM_SEPARATOR = "; "


def items_listing(items: Iterable[LineItem | SaleItem]) -> str | None:
    """A sale's lines as the one text listings show (``拿铁×2; 柠檬茶×1``), None without lines.

    The ledger stores it with the sale when it is rung up (a sale's lines never change), so the
    day view and the day's CSV read one column instead of joining every sale's lines.
    """
    text = ITEM_SEPARATOR.join(f"{item.name}×{item.qty}" for item in items)
    return text or None


@dataclass(frozen=True, slots=True)
class Sale:
    """A sale as stored. Times are aware UTC datetimes; money is integer fen."""

    id: int
    out_trade_no: str
    store: str
    lane: str
    cashier: str
    business_date: date
    body: str
    total_fee: int
    state: SaleState
    sign_type: str
    code_url: str | None
    prepay_id: str | None
    created_at: datetime
    ordered_at: datetime | None
    expires_at: datetime | None
    paid_at: datetime | None
    closed_at: datetime | None
    transaction_id: str | None
    failure: str | None
    refund_reserved_fee: int  # started and not failed refunds
    refunded_fee: int  # refunds WeChat confirmed
    flagged: bool  # the manager has an anomaly to look at (see Ledger.flags_for_sale)
    updated_at: datetime
    items: tuple[SaleItem, ...] = field(default=())
    # Set by Ledger.request_void: the cashier voided it while WeChat still refused to close the
    # order (its first 5 minutes); the watcher closes it as soon as allowed. The sale stays
    # AWAITING_PAYMENT meanwhile and may still become PAID.
    void_requested_at: datetime | None = None
    void_requested_by: str | None = None
    # The accepted payment's coupon figures (revision 0010), None while unpaid: what the customer
    # paid, the coupons' total, and what the merchant settles. See :attr:`settled_fee`.
    cash_fee: int | None = None
    coupon_fee: int | None = None
    settlement_total_fee: int | None = None

    @property
    def void_requested(self) -> bool:
        return self.void_requested_at is not None

    @property
    def refundable_fee(self) -> int:
        """What can still be refunded: the total less every refund not failed."""
        return self.total_fee - self.refund_reserved_fee if self.state.is_paid else 0

    @property
    def used_coupon(self) -> bool:
        """The customer paid less than the price: a coupon paid the rest."""
        return bool(self.coupon_fee)


@dataclass(frozen=True, slots=True)
class Payment:
    """Money WeChat reported for one of our sales. ``accepted`` payments count for the sale;
    the others (wrong amount, a second transaction) are kept for the manager, never dropped."""

    id: int
    sale_id: int
    transaction_id: str
    total_fee: int
    cash_fee: int | None
    openid: str | None
    time_end: datetime
    source: PaymentSource
    accepted: bool
    recorded_at: datetime
    # Coupons (revision 0010): the coupons' total and what the merchant settles (应结订单金额).
    # ``cash_fee`` is what the customer paid; ``total_fee`` stays the order's amount.
    coupon_fee: int | None = None
    settlement_total_fee: int | None = None


@dataclass(frozen=True, slots=True)
class Refund:
    id: int
    sale_id: int
    out_refund_no: str
    refund_fee: int
    state: RefundState
    refund_id: str | None
    reason: str
    failure: str | None
    requested_at: datetime
    completed_at: datetime | None
    # How a HELD refund was settled by the manager (HeldResolution), None otherwise.
    resolution: str | None = None
    # A coupon payment's refund, as WeChat said (revision 0014): 应结退款金额 (what the merchant
    # gives back) and the cash refund. None: the same as refund_fee.
    settlement_refund_fee: int | None = None
    cash_refund_fee: int | None = None

    @property
    def settled_refund_fee(self) -> int:
        """What the merchant's settlement gives back for this refund."""
        return self.refund_fee if self.settlement_refund_fee is None else self.settlement_refund_fee


class HeldResolution(enum.StrEnum):
    """How the manager settled a HELD refund (the customer has the money back either way)."""

    RESENT = "resent"  # re-sent on WeChat's merchant platform (refund exceptions -> balance)
    OTHER_MEANS = "other_means"  # paid to the customer another way (cash, transfer)


@dataclass(frozen=True, slots=True)
class PrintJob:
    id: int
    sale_id: int | None
    kind: JobKind
    state: JobState
    attempts: int  # failed writes so far (a crash while printing counts as one)
    last_error: str | None
    payload: dict[str, Any] | None
    reprint_of: int | None
    created_at: datetime
    claimed_at: datetime | None
    printed_at: datetime | None
    sent_at: datetime | None = None  # the spooler began writing its bytes (cleared if nothing went out)
    interrupted_at: datetime | None = None  # a copy may have printed then (a crash cut the job short)
    store: str = ""  # the till that prints it (revision 0012); "" and "": the first till that looks
    lane: str = ""

    @property
    def may_have_printed_before(self) -> bool:
        """A manual reprint, or a job a crash cut short: its paper must say REPRINT."""
        return self.reprint_of is not None or self.interrupted_at is not None


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    sale_id: int | None
    event: str
    detail: dict[str, Any] | None
    at: datetime


@dataclass(frozen=True, slots=True)
class Flag:
    id: int
    sale_id: int | None
    out_trade_no: str | None
    kind: FlagKind
    detail: dict[str, Any] | None
    raised_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None
    resolution: str | None


@dataclass(frozen=True, slots=True)
class Message:
    id: int
    kind: MessageKind
    out_trade_no: str | None
    raw: str
    verdict: str
    received_at: datetime


@dataclass(frozen=True, slots=True)
class PaidOutcome:
    """The answer of :meth:`Ledger.mark_paid`. Every outcome was stored durably before it was
    returned, so the listener may acknowledge WeChat (SUCCESS) for all of them."""

    status: PaidStatus
    sale: Sale | None  # None only for UNKNOWN_SALE
    job_id: int | None = None  # the confirmation job queued by this report, if any
    flag_id: int | None = None  # the anomaly raised (or found again) for this report, if any

    @property
    def newly_paid(self) -> bool:
        """This report made the sale PAID (tell the cashier; the slip is queued)."""
        return self.status in (PaidStatus.PAID, PaidStatus.PAID_AFTER_CLOSE)

    @property
    def is_paid(self) -> bool:
        """The sale is paid now, by this report or an earlier one."""
        return (
            self.sale is not None and self.sale.state.is_paid and self.status is not PaidStatus.UNKNOWN_SALE
        )


@dataclass(frozen=True, slots=True)
class RefundOutcome:
    """The answer of :meth:`Ledger.complete_refund`."""

    refund: Refund
    sale: Sale
    already_done: bool  # a repeat: the refund had already been completed, nothing changed
    job_id: int | None = None  # the refund slip queued by this call
