"""Refunds WeChat could not return to the customer (``CHANGE``; v3 ``ABNORMAL``): held until the
manager acts.

WeChat accepted the refund and took the money from the merchant's account, but the customer's
card was cancelled or frozen, so the money never reached them (退款异常). WeChat does not finish
it on its own: the merchant re-sends it from the merchant platform's refund exceptions to the
customer's WeChat balance, or pays the customer another way (see the README's "Refunds" section
and ``shared/reference/wechatpay-micropay.md`` §6 for the sources).

So such a refund is neither refunded nor failed. It is HELD:

- the amount stays reserved: the sale cannot be refunded a second time for the same money, and
  it is not shown as refunded either (its ``refunded_fee`` does not include it);
- a REFUND_HELD flag tells the manager, and :meth:`HeldRefunds.held_refunds` lists every held
  refund of the store, whatever its day, for the manager's pages;
- :meth:`HeldRefunds.resolve_held_refund` records what the manager did (re-sent, or other means)
  with who and a note: HELD -> SUCCEEDED, the sale refunded, the refund slip queued, the flag
  resolved, all in one transaction. WeChat's own SUCCESS for it later (a re-send that went
  through) completes it the same way (:meth:`~pos.ledger.refunds.Refunds.complete_refund`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import and_, func, select, update

from pos.ledger.audit import raise_flag, write_event
from pos.ledger.core import LedgerCore
from pos.ledger.errors import InvalidInput, RefundRefused
from pos.ledger.models import FlagKind, HeldResolution, Refund, RefundOutcome, RefundState
from pos.ledger.refunds import credit_sale, refund_by_no, resolve_held_flag
from pos.ledger.schema import refunds, sales
from pos.log import get_logger

log = get_logger(__name__)

MAX_NOTE = 500


@dataclass(frozen=True, slots=True)
class HeldRefund:
    """A HELD refund with the sale it belongs to, as the manager's pages list it."""

    refund: Refund
    out_trade_no: str
    business_date: date
    total_fee: int


class HeldRefunds(LedgerCore):
    """Holding a refund WeChat could not return, and the manager settling it (module docstring)."""

    def hold_refund(self, out_refund_no: str, message: str, *, now: datetime | None = None) -> Refund:
        """WeChat says CHANGE: PENDING -> HELD. The amount stays reserved; the manager gets a flag.
        A repeat (the notice after the query) returns the held refund unchanged."""
        at = self._now(now)
        with self._write() as conn:
            refund = refund_by_no(conn, out_refund_no)
            result = conn.execute(
                update(refunds)
                .where(refunds.c.id == refund.id, refunds.c.state == RefundState.PENDING.value)
                .values(state=RefundState.HELD.value, failure=message, completed_at=at)
            )
            if result.rowcount != 1:
                current = refund_by_no(conn, out_refund_no)
                if current.state is RefundState.HELD:
                    return current
                raise RefundRefused(f"refund {out_refund_no} is {current.state}, it cannot be held now")
            otn = conn.execute(select(sales.c.out_trade_no).where(sales.c.id == refund.sale_id)).scalar_one()
            raise_flag(
                conn,
                FlagKind.REFUND_HELD,
                refund.sale_id,
                otn,
                {"out_refund_no": out_refund_no, "refund_fee": refund.refund_fee, "message": message},
                out_refund_no,
                at,
            )
            write_event(
                conn, refund.sale_id, "refund_held", {"out_refund_no": out_refund_no, "message": message}, at
            )
            held = refund_by_no(conn, out_refund_no)
        log.warning("refund_held", sale=refund.sale_id, out_refund_no=out_refund_no, message=message)
        return held

    def resolve_held_refund(
        self,
        out_refund_no: str,
        how: HeldResolution | str,
        *,
        by: str,
        note: str = "",
        now: datetime | None = None,
    ) -> RefundOutcome:
        """The manager settled a HELD refund (``how``): HELD -> SUCCEEDED, the sale refunded, the
        slip queued, the flag resolved and an audit event (``refund_resolved``: how, by, note).

        Raises InvalidInput for an unknown ``how`` or a note over 500 characters, UnknownRefund,
        and RefundRefused when the refund is not HELD (nothing changes in any of these cases).
        """
        try:
            resolution = HeldResolution(how)
        except ValueError:
            raise InvalidInput(f"how must be one of {', '.join(h.value for h in HeldResolution)}") from None
        if not isinstance(note, str) or len(note) > MAX_NOTE:
            raise InvalidInput(f"note must be text of at most {MAX_NOTE} characters")
        if not isinstance(by, str) or not by.strip():
            raise InvalidInput("by must name who resolved it")
        at = self._now(now)
        with self._write() as conn:
            refund = refund_by_no(conn, out_refund_no)
            result = conn.execute(
                update(refunds)
                .where(refunds.c.id == refund.id, refunds.c.state == RefundState.HELD.value)
                .values(state=RefundState.SUCCEEDED.value, resolution=resolution.value, completed_at=at)
            )
            if result.rowcount != 1:
                raise RefundRefused(f"refund {out_refund_no} is {refund.state}, not held: nothing to resolve")
            resolve_held_flag(
                conn, out_refund_no, by=by, note=f"{resolution.value}: {note}".rstrip(": "), at=at
            )
            outcome = credit_sale(
                conn, refund, at, print_slip=True, event="refund_resolved",
                extra={"how": resolution.value, "by": by[:64], "note": note},
            )  # fmt: skip
        log.info("refund_resolved", sale=refund.sale_id, out_refund_no=out_refund_no, how=resolution.value)
        return outcome

    def held_refunds(self, *, store: str | None = None) -> list[HeldRefund]:
        """Every HELD refund (of ``store``), oldest first: the manager's to-do list, whatever day."""
        where = [refunds.c.state == RefundState.HELD.value]
        if store is not None:
            where.append(sales.c.store == store)
        statement = (
            select(refunds, sales.c.out_trade_no, sales.c.business_date, sales.c.total_fee)
            .join(sales, sales.c.id == refunds.c.sale_id)
            .where(*where)
            .order_by(refunds.c.id)
        )
        with self._read() as conn:
            rows = conn.execute(statement).all()
            return [
                HeldRefund(refund_by_no(conn, r.out_refund_no), r.out_trade_no, r.business_date, r.total_fee)
                for r in rows
            ]

    def day_held_refunds(self, day: date, *, store: str, lane: str | None = None) -> tuple[int, int]:
        """``(count, fen)`` of the HELD refunds of ``day``'s sales (the day view and Z report)."""
        where = and_(
            refunds.c.state == RefundState.HELD.value,
            sales.c.business_date == day,
            sales.c.store == store,
            *([sales.c.lane == lane] if lane else []),
        )
        statement = (
            select(func.count(), func.coalesce(func.sum(refunds.c.refund_fee), 0))
            .select_from(refunds.join(sales, sales.c.id == refunds.c.sale_id))
            .where(where)
        )
        with self._read() as conn:
            count, fee = conn.execute(statement).one()
        return int(count), int(fee)
