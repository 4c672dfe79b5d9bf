"""The ledger's side of payment codes: attempts, reverses and the late payment after a reverse.

A sale paid by code keeps its own out_trade_no for a printed QR (Native); every code tried
gets its own WeChat order number, ``<out_trade_no>-M<n>``, allocated here in one write
transaction, so two tries never share a number and none collides with the Native order
(WeChat wants a new number for each new code). Attempts, reverses and declines are events
of the sale; the payment itself goes through :meth:`Ledger.mark_paid` (exactly once, by
transaction_id) like every other payment.

Only the states NEW and FAILED can be paid by code: AWAITING_PAYMENT means a Native order
is open, and two payable orders for one sale invite a double payment.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select, update

from pos.ledger.errors import LedgerError
from pos.ledger.models import FlagKind, Sale, SaleState
from pos.ledger.schema import events, flags, sales

ATTEMPT = "micropay_attempt"
REVERSED = "micropay_reversed"
REVERSE_FAILED = "micropay_reverse_failed"
PAYABLE_BY_CODE = (SaleState.NEW, SaleState.FAILED)


class OpenNativeOrder(LedgerError):
    """The sale has a Native (printed QR) order open: it is not paid by code."""


class NotPayableByCode(LedgerError):
    """The sale is paid, voided or expired: no code can pay it."""


def _now(ledger: Any, now: datetime | None) -> datetime:
    return ledger._now(now)


def _event(conn: Any, sale_id: int, event: str, detail: dict[str, Any], at: datetime) -> None:
    conn.execute(insert(events).values(sale_id=sale_id, event=event, detail=json.dumps(detail), at=at))


def start_attempt(ledger: Any, sale_id: int, *, now: datetime | None = None) -> str:
    """Allocate the next attempt's WeChat order number for ``sale_id``; refuses a sale with an
    open Native order (:class:`OpenNativeOrder`) or one that cannot be paid (:class:`NotPayableByCode`)."""
    at = _now(ledger, now)
    with ledger._write() as conn:
        row = conn.execute(select(sales.c.state, sales.c.out_trade_no).where(sales.c.id == sale_id)).first()
        if row is None:
            raise NotPayableByCode(f"no sale {sale_id}")
        state = SaleState(row.state)
        if state == SaleState.AWAITING_PAYMENT:
            raise OpenNativeOrder(f"sale {sale_id} has an open Native order")
        if state not in PAYABLE_BY_CODE:
            raise NotPayableByCode(f"sale {sale_id} is {state.value}")
        count = conn.execute(
            select(func.count())
            .select_from(events)
            .where(events.c.sale_id == sale_id, events.c.event == ATTEMPT)
        ).scalar_one()
        number = f"{row.out_trade_no}-M{count + 1}"
        _event(conn, sale_id, ATTEMPT, {"out_trade_no": number}, at)
    return number


def attempts(ledger: Any, sale_id: int) -> list[str]:
    """The sale's attempt numbers, oldest first."""
    return [e.detail["out_trade_no"] for e in ledger.events_for_sale(sale_id) if e.event == ATTEMPT]


def reversed_attempts(ledger: Any, sale_id: int) -> list[str]:
    return [e.detail["out_trade_no"] for e in ledger.events_for_sale(sale_id) if e.event == REVERSED]


def given_up_attempts(ledger: Any, sale_id: int) -> list[str]:
    """Attempts the till gave up on: reversed, or whose reverse never went through."""
    kinds = (REVERSED, REVERSE_FAILED)
    return [e.detail["out_trade_no"] for e in ledger.events_for_sale(sale_id) if e.event in kinds]


def record_reverse_failed(ledger: Any, sale_id: int, attempt: str, *, now: datetime | None = None) -> None:
    """The till gave up on ``attempt`` but WeChat never confirmed the reverse: the manager checks it."""
    ledger.log_event(REVERSE_FAILED, sale_id=sale_id, detail={"out_trade_no": attempt}, now=now)


def record_reversed(ledger: Any, sale_id: int, attempt: str, *, now: datetime | None = None) -> None:
    """The till gave up on ``attempt`` and WeChat confirmed the reverse: the sale stays payable."""
    ledger.log_event(REVERSED, sale_id=sale_id, detail={"out_trade_no": attempt}, now=now)


def flag_paid_after_reverse(
    ledger: Any, sale: Sale, attempt: str, transaction_id: str, total_fee: int, *, now: datetime | None = None
) -> None:
    """WeChat says a reversed attempt was paid: never a silent second payment. The sale is not
    marked paid by it; the manager sees the flag (once, however often it is reported)."""
    at = _now(ledger, now)
    detail = {"attempt": attempt, "transaction_id": transaction_id, "total_fee": total_fee}
    key = f"{FlagKind.PAID_AFTER_REVERSE.value}:{transaction_id}"
    with ledger._write() as conn:
        if conn.execute(select(flags.c.id).where(flags.c.dedupe_key == key)).first() is None:
            conn.execute(
                insert(flags).values(
                    sale_id=sale.id,
                    out_trade_no=attempt,
                    kind=FlagKind.PAID_AFTER_REVERSE.value,
                    detail=json.dumps(detail),
                    dedupe_key=key,
                    raised_at=at.astimezone(UTC),
                )
            )
            conn.execute(update(sales).where(sales.c.id == sale.id).values(flagged=True))
