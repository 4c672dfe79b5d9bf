"""Refunds: reserving part of a paid sale, then WeChat's verdict on it.

A refund is PENDING from the moment its amount is reserved (one conditional
UPDATE: never more than was paid, however many managers refund at once) until
WeChat confirms it (SUCCEEDED: the sale becomes PARTLY_REFUNDED or REFUNDED
and the refund slip is queued) or closes it (FAILED: the reservation is
released and the manager is told). :class:`Refunds` is that part of
:class:`pos.ledger.Ledger`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, case, func, insert, select, update

from pos.ledger.audit import raise_flag, write_event
from pos.ledger.core import LedgerCore, check_fen
from pos.ledger.errors import InvalidInput, InvalidTransition, RefundRefused, UnknownRefund, UnknownSale
from pos.ledger.jobs import enqueue
from pos.ledger.models import FlagKind, JobKind, Refund, RefundOutcome, RefundState, SaleState
from pos.ledger.sales import load_sale
from pos.ledger.schema import flags, refunds, sales
from pos.log import get_logger

log = get_logger(__name__)

_REFUNDABLE = (SaleState.PAID, SaleState.PARTLY_REFUNDED)
_SUCCEEDABLE = (RefundState.PENDING.value, RefundState.HELD.value)


class Refunds(LedgerCore):
    """Starting, completing and failing refunds (see the module docstring)."""

    def start_refund(
        self,
        sale_id: int,
        refund_fee: int,
        *,
        reason: str = "",
        out_refund_no: str | None = None,
        now: datetime | None = None,
    ) -> Refund:
        """Reserve ``refund_fee`` of a PAID / PARTLY_REFUNDED sale and return a PENDING refund.

        The check "all refunds not failed <= the amount paid" and the reservation
        are one conditional UPDATE, so two managers refunding at once cannot
        exceed the payment. The out_refund_no is generated (``<out_trade_no>-R1``,
        ``-R2``...) unless given; starting again with an existing out_refund_no
        for the same sale and amount returns that refund unchanged (WeChat wants a
        retried refund to reuse its number).
        """
        at = self._now(now)
        check_fen(refund_fee, "refund_fee")
        with self._write() as conn:
            if out_refund_no is not None:
                existing = conn.execute(
                    select(refunds).where(refunds.c.out_refund_no == out_refund_no)
                ).first()
                if existing is not None:
                    if existing.sale_id != sale_id or existing.refund_fee != refund_fee:
                        raise RefundRefused(
                            f"out_refund_no {out_refund_no} is already used for sale {existing.sale_id} "
                            f"({existing.refund_fee} fen)"
                        )
                    return _refund(existing)
            result = conn.execute(
                update(sales)
                .where(
                    sales.c.id == sale_id,
                    sales.c.state.in_([s.value for s in _REFUNDABLE]),
                    sales.c.refund_reserved_fee + refund_fee <= sales.c.total_fee,
                )
                .values(refund_reserved_fee=sales.c.refund_reserved_fee + refund_fee, updated_at=at)
            )
            if result.rowcount != 1:
                _refuse(conn, sale_id, refund_fee)
            if out_refund_no is None:
                otn = conn.execute(select(sales.c.out_trade_no).where(sales.c.id == sale_id)).scalar_one()
                count = conn.execute(
                    select(func.count()).select_from(refunds).where(refunds.c.sale_id == sale_id)
                ).scalar_one()
                out_refund_no = f"{otn}-R{count + 1}"
            elif not isinstance(out_refund_no, str) or not 1 <= len(out_refund_no) <= 64:
                raise InvalidInput(f"out_refund_no must be 1-64 characters, not {out_refund_no!r}")
            row = conn.execute(
                insert(refunds)
                .values(
                    sale_id=sale_id,
                    out_refund_no=out_refund_no,
                    refund_fee=refund_fee,
                    state=RefundState.PENDING.value,
                    reason=reason,
                    requested_at=at,
                )
                .returning(*refunds.c)
            ).one()
            detail = {"out_refund_no": out_refund_no, "refund_fee": refund_fee}
            write_event(conn, sale_id, "refund_started", detail, at)
            refund = _refund(row)
        log.info("refund_started", sale=sale_id, out_refund_no=out_refund_no, refund_fee=refund_fee)
        return refund

    def complete_refund(
        self,
        out_refund_no: str,
        *,
        refund_id: str | None = None,
        print_slip: bool = True,
        settlement_refund_fee: int | None = None,
        cash_refund_fee: int | None = None,
        now: datetime | None = None,
    ) -> RefundOutcome:
        """WeChat confirmed the refund: PENDING -> SUCCEEDED, and the sale PAID / PARTLY_REFUNDED ->
        PARTLY_REFUNDED, or REFUNDED once everything went back. Queues the refund slip. A repeat
        (a second refund notice) returns ``already_done=True`` and changes nothing.

        ``settlement_refund_fee`` / ``cash_refund_fee``: what WeChat said the merchant gives back
        and the customer got in cash, when it said so (a coupon payment); None keeps what
        :meth:`note_refund_figures` kept (the refund answer's), as a v3 refund notice has neither."""
        at = self._now(now)
        with self._write() as conn:
            refund = refund_by_no(conn, out_refund_no)
            figures = _figures(refund, settlement_refund_fee, cash_refund_fee)
            # HELD too: the manager re-sent a CHANGE refund on WeChat's platform and it went through.
            result = conn.execute(
                update(refunds)
                .where(refunds.c.id == refund.id, refunds.c.state.in_(_SUCCEEDABLE))
                .values(state=RefundState.SUCCEEDED.value, refund_id=refund_id, completed_at=at, **figures)
            )
            if result.rowcount != 1:
                refund = refund_by_no(conn, out_refund_no)
                if refund.state is RefundState.SUCCEEDED:
                    return RefundOutcome(refund, load_sale(conn, refund.sale_id), already_done=True)
                raise RefundRefused(f"refund {out_refund_no} is {refund.state}, it cannot succeed now")
            if refund.state is RefundState.HELD:
                resolve_held_flag(conn, out_refund_no, by="wechat", note="refund_status=SUCCESS", at=at)
            outcome = credit_sale(conn, refund, at, print_slip=print_slip, event="refunded")
        log.info("refunded", sale=refund.sale_id, out_refund_no=out_refund_no, state=outcome.sale.state)
        return outcome

    def note_refund_figures(
        self, out_refund_no: str, *, settlement_refund_fee: int | None, cash_refund_fee: int | None
    ) -> Refund:
        """Keep what WeChat's refund answer said the merchant gives back (应结退款金额) and the
        customer gets in cash, whatever the refund's state; figures WeChat did not send (None) or
        that cannot be (below 0, above the refund) change nothing."""
        with self._write() as conn:
            refund = refund_by_no(conn, out_refund_no)
            figures = _figures(refund, settlement_refund_fee, cash_refund_fee)
            if figures:
                conn.execute(update(refunds).where(refunds.c.id == refund.id).values(**figures))
                refund = refund_by_no(conn, out_refund_no)
        return refund

    def fail_refund(self, out_refund_no: str, message: str, *, now: datetime | None = None) -> Refund:
        """WeChat closed the refund (REFUNDCLOSE): PENDING -> FAILED, the reserved amount is
        released, and the manager gets a flag. A refund that merely errored (SYSTEMERROR) stays
        PENDING: retry it with the same out_refund_no instead; one WeChat could not return to the
        customer (CHANGE) is held, not failed (:meth:`~pos.ledger.held.HeldRefunds.hold_refund`)."""
        at = self._now(now)
        with self._write() as conn:
            refund = refund_by_no(conn, out_refund_no)
            result = conn.execute(
                update(refunds)
                .where(refunds.c.id == refund.id, refunds.c.state == RefundState.PENDING.value)
                .values(state=RefundState.FAILED.value, failure=message, completed_at=at)
            )
            if result.rowcount != 1:
                current = refund_by_no(conn, out_refund_no)
                if current.state is RefundState.FAILED:
                    return current
                raise RefundRefused(f"refund {out_refund_no} is {current.state}, it cannot fail now")
            conn.execute(
                update(sales)
                .where(sales.c.id == refund.sale_id)
                .values(refund_reserved_fee=sales.c.refund_reserved_fee - refund.refund_fee, updated_at=at)
            )
            otn = conn.execute(select(sales.c.out_trade_no).where(sales.c.id == refund.sale_id)).scalar_one()
            raise_flag(
                conn,
                FlagKind.REFUND_FAILED,
                refund.sale_id,
                otn,
                {"out_refund_no": out_refund_no, "refund_fee": refund.refund_fee, "message": message},
                f"refund_failed:{out_refund_no}",
                at,
            )
            detail = {"out_refund_no": out_refund_no, "message": message}
            write_event(conn, refund.sale_id, "refund_failed", detail, at)
            failed = refund_by_no(conn, out_refund_no)
        log.warning("refund_failed", sale=refund.sale_id, out_refund_no=out_refund_no, message=message)
        return failed

    def refunds_for_sale(self, sale_id: int) -> list[Refund]:
        with self._read() as conn:
            rows = conn.execute(select(refunds).where(refunds.c.sale_id == sale_id).order_by(refunds.c.id))
            return [_refund(r) for r in rows]

    def open_refunds(self, *, store: str | None = None, lane: str | None = None) -> list[Refund]:
        """PENDING refunds (WeChat's outcome not known yet, or PROCESSING), oldest first: what the
        till's refund follow-up asks WeChat about. ``store`` and ``lane`` narrow it to the refunds
        of one till's sales, as :meth:`~pos.ledger.sales.Sales.pending_sales` does for payments.

        One statement over the ``refunds.state`` index: with no refund open it reads no sale.
        """
        query = select(refunds).where(refunds.c.state == RefundState.PENDING.value)
        if store is not None or lane is not None:
            query = query.join(sales, sales.c.id == refunds.c.sale_id)
            if store is not None:
                query = query.where(sales.c.store == store)
            if lane is not None:
                query = query.where(sales.c.lane == lane)
        with self._read() as conn:
            return [_refund(r) for r in conn.execute(query.order_by(refunds.c.id))]

    def get_refund(self, out_refund_no: str) -> Refund:
        with self._read() as conn:
            return refund_by_no(conn, out_refund_no)


def credit_sale(conn: Connection, refund: Refund, at: datetime, *, print_slip: bool, event: str,
                extra: dict[str, Any] | None = None) -> RefundOutcome:  # fmt: skip
    """Inside the caller's transaction, after ``refund`` became SUCCEEDED: the sale PAID /
    PARTLY_REFUNDED -> PARTLY_REFUNDED, or REFUNDED once everything went back; the refund slip is
    queued (``print_slip``) and ``event`` written."""
    fee = refund.refund_fee
    conn.execute(
        update(sales)
        .where(sales.c.id == refund.sale_id, sales.c.state.in_([s.value for s in _REFUNDABLE]))
        .values(
            refunded_fee=sales.c.refunded_fee + fee,
            state=case(
                (sales.c.refunded_fee + fee >= sales.c.total_fee, SaleState.REFUNDED.value),
                else_=SaleState.PARTLY_REFUNDED.value,
            ),
            updated_at=at,
        )
    )
    job_id = None
    if print_slip:
        job_id = enqueue(
            conn, JobKind.REFUND_SLIP, refund.sale_id, {"out_refund_no": refund.out_refund_no}, at
        )
    detail = {"out_refund_no": refund.out_refund_no, "refund_fee": fee, **(extra or {})}
    write_event(conn, refund.sale_id, event, detail, at)
    current = refund_by_no(conn, refund.out_refund_no)
    return RefundOutcome(current, load_sale(conn, refund.sale_id), False, job_id)


def resolve_held_flag(conn: Connection, out_refund_no: str, *, by: str, note: str, at: datetime) -> None:
    """Inside the caller's transaction: the REFUND_HELD flag of ``out_refund_no`` is resolved."""
    conn.execute(
        update(flags)
        .where(flags.c.dedupe_key == held_flag_key(out_refund_no), flags.c.resolved_at.is_(None))
        .values(resolved_at=at, resolved_by=by[:64], resolution=note)
    )


def held_flag_key(out_refund_no: str) -> str:
    """The dedupe key :func:`~pos.ledger.audit.raise_flag` gives a held refund's flag."""
    return f"{FlagKind.REFUND_HELD.value}:{out_refund_no}"[:160]


def _refuse(conn: Connection, sale_id: int, refund_fee: int) -> None:
    """The reservation touched no row: say why (no such sale, not refundable, or too much)."""
    row = conn.execute(select(sales).where(sales.c.id == sale_id)).first()
    if row is None:
        raise UnknownSale(sale_id)
    if SaleState(row.state) not in _REFUNDABLE:
        raise InvalidTransition(
            sale_id=sale_id,
            out_trade_no=row.out_trade_no,
            action="start_refund",
            current=SaleState(row.state),
            allowed=_REFUNDABLE,
        )
    left = row.total_fee - row.refund_reserved_fee
    raise RefundRefused(
        f"cannot refund {refund_fee} fen of sale {sale_id} ({row.out_trade_no}): "
        f"only {left} fen of {row.total_fee} is left to refund"
    )


def _figures(
    refund: Refund, settlement_refund_fee: int | None, cash_refund_fee: int | None
) -> dict[str, int | None]:
    """The columns to write for WeChat's figures of ``refund``: a figure equal to the refund is
    written as NULL ("the same as refund_fee"), a missing one is left alone, an impossible one
    (not whole fen within 0..refund_fee) is left alone and logged."""
    out: dict[str, int | None] = {}
    for name, value in (
        ("settlement_refund_fee", settlement_refund_fee),
        ("cash_refund_fee", cash_refund_fee),
    ):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= refund.refund_fee:
            log.warning("refund_figure_refused", out_refund_no=refund.out_refund_no, figure=name, value=value)
            continue
        out[name] = None if value == refund.refund_fee else value
    return out


def refund_by_no(conn: Connection, out_refund_no: str) -> Refund:
    """The refund ``out_refund_no`` read inside the caller's transaction (UnknownRefund if none)."""
    row = conn.execute(select(refunds).where(refunds.c.out_refund_no == out_refund_no)).first()
    if row is None:
        raise UnknownRefund(out_refund_no)
    return _refund(row)


def _refund(row: Row[Any]) -> Refund:
    return Refund(
        id=row.id,
        sale_id=row.sale_id,
        out_refund_no=row.out_refund_no,
        refund_fee=row.refund_fee,
        state=RefundState(row.state),
        refund_id=row.refund_id,
        reason=row.reason,
        failure=row.failure,
        requested_at=row.requested_at,
        completed_at=row.completed_at,
        resolution=row.resolution,
        settlement_refund_fee=row.settlement_refund_fee,
        cash_refund_fee=row.cash_refund_fee,
    )
