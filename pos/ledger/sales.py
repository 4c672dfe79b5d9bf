"""Sales: ringing up, ordering, failing, voiding and expiring, and reading them back.

Each change is one conditional ``UPDATE ... WHERE id = ? AND state IN (...)``
(:meth:`Sales._transition`) in a transaction with everything that goes with it
(the slip, the event), and the number of rows it touched decides. Paying and
refunding a sale are their own concerns (:mod:`pos.ledger.payments`,
:mod:`pos.ledger.refunds`); :class:`Sales` is the part of
:class:`pos.ledger.Ledger` the checkout and the watcher call.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, bindparam, insert, or_, select, update

from pos.ledger.audit import write_event
from pos.ledger.core import LedgerCore, check_fen, upsert
from pos.ledger.errors import InvalidInput, InvalidTransition, LedgerError, UnknownSale
from pos.ledger.identifiers import (
    business_date,
    check_aware,
    check_lane_id,
    check_store_id,
    format_out_trade_no,
)
from pos.ledger.jobs import enqueue
from pos.ledger.micropay import refuse_retry_while_charging
from pos.ledger.models import JobKind, LineItem, Sale, SaleItem, SaleState, items_listing
from pos.ledger.schema import day_sequences, sale_items, sales
from pos.log import get_logger

log = get_logger(__name__)

SIGN_TYPES = ("MD5", "HMAC-SHA256")
MAX_BODY = 128


class Sales(LedgerCore):
    """A sale's life up to payment, and reading sales (see the module docstring)."""

    def create_sale(
        self,
        *,
        store: str,
        lane: str,
        items: Sequence[LineItem] = (),
        total_fee: int | None = None,
        body: str | None = None,
        cashier: str = "",
        sign_type: str = "MD5",
        ordering: bool = False,
        now: datetime | None = None,
    ) -> Sale:
        """Ring up a NEW sale with a fresh out_trade_no (``S01-01-20261127-0042``).

        ``ordering``: its Native order is placed next (a ring-up for a printed QR), so no payment
        code is charged for it meanwhile (:func:`pos.ledger.micropay.native_claimed`).

        Give ``items`` (the total is their sum; ``body`` defaults to the first
        item's name, "等N件" when there are more), or ``total_fee`` and ``body`` for
        a sale keyed in as one amount. The business date is ``now`` in the store's
        time zone; the day's sequence for the lane is allocated in the same
        transaction, so numbers are unique across threads and processes.
        """
        at = self._now(now)
        check_store_id(store)
        check_lane_id(lane)
        lines = [_check_item(i, item) for i, item in enumerate(items)]
        if lines:
            total = sum(item.amount for item in lines)
            if total_fee is not None and total_fee != total:
                raise InvalidInput(f"total_fee {total_fee} is not the items' sum {total}")
            if body is None:
                body = lines[0].name + (f" 等{len(lines)}件" if len(lines) > 1 else "")
        else:
            if total_fee is None or body is None:
                raise InvalidInput("a sale needs items, or total_fee and body")
            total = total_fee
        check_fen(total, "total_fee")
        body = body.strip() if isinstance(body, str) else body
        if not isinstance(body, str) or not body or len(body) > MAX_BODY:
            raise InvalidInput(f"body must be 1-{MAX_BODY} characters, not {body!r}")
        if sign_type not in SIGN_TYPES:
            raise InvalidInput(f"sign_type must be one of {', '.join(SIGN_TYPES)}, not {sign_type!r}")
        if not isinstance(cashier, str) or len(cashier) > 64:
            raise InvalidInput(f"cashier must be at most 64 characters, not {cashier!r}")
        day = business_date(at, self.zone)
        with self._write() as conn:
            sequence = _next_sequence(conn, store, lane, day)
            row = conn.execute(
                _INSERT_SALE,
                {
                    "out_trade_no": format_out_trade_no(store, lane, day, sequence),
                    "store": store,
                    "lane": lane,
                    "cashier": cashier,
                    "business_date": day,
                    "body": body,
                    "total_fee": total,
                    "state": SaleState.NEW.value,
                    "sign_type": sign_type,
                    "created_at": at,
                    "updated_at": at,
                    "items_text": items_listing(lines),
                },
            ).one()
            stored = []
            for position, item in enumerate(lines, start=1):
                line = {
                    "sale_id": row.id,
                    "position": position,
                    "name": item.name,
                    "qty": item.qty,
                    "unit_price": item.unit_price,
                    "amount": item.amount,
                }
                stored.append(_item(conn.execute(_INSERT_ITEM, line).one()))
            created = {"total_fee": total, "cashier": cashier, **({"ordering": True} if ordering else {})}
            write_event(conn, row.id, "created", created, at)
            sale = sale_record(row, stored)  # the row as inserted (RETURNING): nothing to read back
        _log("created", sale, total_fee=total)
        return sale

    def record_order(
        self,
        sale_id: int,
        *,
        code_url: str,
        prepay_id: str,
        expires_at: datetime,
        print_slip: bool = True,
        now: datetime | None = None,
    ) -> Sale:
        """NEW -> AWAITING_PAYMENT: WeChat accepted the order. Queues the sale slip (QR) unless
        ``print_slip=False``, in the same transaction, so the QR prints once per order."""
        at = self._now(now)
        check_aware(expires_at, "expires_at")
        if not code_url or not isinstance(code_url, str):
            raise InvalidInput(f"code_url must be a non-empty string, not {code_url!r}")
        with self._write() as conn:
            row = self._transition(
                conn,
                sale_id,
                "record_order",
                (SaleState.NEW,),
                SaleState.AWAITING_PAYMENT,
                at,
                code_url=code_url,
                prepay_id=prepay_id,
                expires_at=expires_at,
                ordered_at=at,
                failure=None,
            )
            if print_slip:  # the sale's own till prints it; the row says which (no read to ask)
                enqueue(conn, JobKind.SALE_SLIP, sale_id, None, at, till=(row.store, row.lane))
            write_event(conn, sale_id, "ordered", {"prepay_id": prepay_id, "expires_at": expires_at}, at)
            sale = sale_record(row, load_items(conn, sale_id))  # the row as updated (RETURNING)
        _log("ordered", sale)
        return sale

    def record_order_failure(self, sale_id: int, message: str, *, now: datetime | None = None) -> Sale:
        """NEW -> FAILED: WeChat refused the order (or it could not be placed). ``message`` is kept
        for the cashier and the manager; :meth:`retry_order` tries again with the same number."""
        at = self._now(now)
        with self._write() as conn:
            row = self._transition(
                conn, sale_id, "record_order_failure", (SaleState.NEW,), SaleState.FAILED, at, failure=message
            )
            write_event(conn, sale_id, "order_failed", {"message": message}, at)
            sale = sale_record(row, load_items(conn, sale_id))  # the row as updated (RETURNING)
        _log("order_failed", sale, message=message)
        return sale

    def retry_order(self, sale_id: int, *, now: datetime | None = None) -> Sale:
        """FAILED -> NEW, keeping the out_trade_no, so the order is placed again under the same number
        (WeChat may already know it; a second unified order with the same data is accepted).
        Raises :class:`pos.ledger.micropay.AttemptInProgress` while a payment code's outcome is open
        for the sale: two payable orders for one sale invite a double payment."""
        at = self._now(now)
        with self._write() as conn:
            row = self._transition(conn, sale_id, "retry_order", (SaleState.FAILED,), SaleState.NEW, at)
            refuse_retry_while_charging(conn, sale_id)  # the UPDATE holds the row: decided here
            write_event(conn, sale_id, "retry", None, at)
            sale = sale_record(row, load_items(conn, sale_id))  # the row as updated (RETURNING)
        _log("retry", sale)
        return sale

    def mark_expired(self, sale_id: int, *, print_notice: bool = True, now: datetime | None = None) -> Sale:
        """AWAITING_PAYMENT -> EXPIRED: the deadline passed and closeorder succeeded.

        If closeorder answered ORDERPAID, call :meth:`mark_paid` instead (query the
        order for its transaction_id): a paid sale is never EXPIRED.
        """
        return self._close(
            sale_id, "mark_expired", SaleState.EXPIRED, JobKind.EXPIRED_NOTICE, print_notice, now
        )

    def mark_voided(
        self,
        sale_id: int,
        *,
        by: str = "",
        reason: str = "",
        print_notice: bool = True,
        now: datetime | None = None,
    ) -> Sale:
        """AWAITING_PAYMENT -> VOIDED: the cashier cancelled and closeorder succeeded (ORDERPAID
        means :meth:`mark_paid`, never VOIDED)."""
        return self._close(
            sale_id,
            "mark_voided",
            SaleState.VOIDED,
            JobKind.VOID_NOTICE,
            print_notice,
            now,
            by=by,
            reason=reason,
        )

    def request_void(self, sale_id: int, *, by: str = "", now: datetime | None = None) -> Sale:
        """Remember that the cashier voided an AWAITING_PAYMENT sale WeChat will not close yet.

        WeChat refuses closeorder in an order's first 5 minutes. The request is
        one conditional UPDATE (AWAITING_PAYMENT, no request yet), so it survives
        a crash and the watcher closes the order as soon as it may, then calls
        :meth:`mark_voided`. The sale stays AWAITING_PAYMENT until then: a
        customer who pays meanwhile makes it PAID, never VOIDED. Asking again
        keeps the first request; any other state raises InvalidTransition.
        """
        at = self._now(now)
        if not isinstance(by, str) or len(by) > 64:
            raise InvalidInput(f"by must be at most 64 characters, not {by!r}")
        with self._write() as conn:
            result = conn.execute(
                update(sales)
                .where(
                    sales.c.id == sale_id,
                    sales.c.state == SaleState.AWAITING_PAYMENT.value,
                    sales.c.void_requested_at.is_(None),
                )
                .values(void_requested_at=at, void_requested_by=by, updated_at=at)
            )
            if result.rowcount == 1:
                write_event(conn, sale_id, "void_requested", {"by": by} if by else None, at)
            sale = load_sale(conn, sale_id)
            if result.rowcount != 1 and not (
                sale.state is SaleState.AWAITING_PAYMENT and sale.void_requested
            ):
                raise InvalidTransition(
                    sale_id=sale_id,
                    out_trade_no=sale.out_trade_no,
                    action="request_void",
                    current=sale.state,
                    allowed=(SaleState.AWAITING_PAYMENT,),
                )
        if result.rowcount == 1:
            _log("void_requested", sale, by=by)
        return sale

    def _close(
        self,
        sale_id: int,
        action: str,
        target: SaleState,
        notice: JobKind,
        print_notice: bool,
        now: datetime | None,
        **detail: str,
    ) -> Sale:
        at = self._now(now)
        with self._write() as conn:
            row = self._transition(
                conn, sale_id, action, (SaleState.AWAITING_PAYMENT,), target, at, closed_at=at
            )
            if print_notice:
                enqueue(conn, notice, sale_id, None, at, till=(row.store, row.lane))
            write_event(conn, sale_id, target.value.lower(), detail or None, at)
            sale = sale_record(row, load_items(conn, sale_id))  # the row as updated (RETURNING)
        _log(target.value.lower(), sale, **detail)
        return sale

    def _transition(
        self,
        conn: Connection,
        sale_id: int,
        action: str,
        allowed: tuple[SaleState, ...],
        target: SaleState,
        at: datetime,
        **values: Any,
    ) -> Any:
        """The one conditional UPDATE every simple transition is; returns the updated row (RETURNING),
        raises if it touched no row. ``values`` are plain column values."""
        statement = _transition_statement(tuple(s.value for s in allowed), target.value, tuple(values))
        params = {"b_id": sale_id, "b_at": at}
        params.update((f"v_{name}", value) for name, value in values.items())
        updated = conn.execute(statement, params).first()
        if updated is None:
            row = conn.execute(
                select(sales.c.state, sales.c.out_trade_no).where(sales.c.id == sale_id)
            ).first()
            if row is None:
                raise UnknownSale(sale_id)
            raise InvalidTransition(
                sale_id=sale_id,
                out_trade_no=row.out_trade_no,
                action=action,
                current=SaleState(row.state),
                allowed=allowed,
            )
        return updated

    # -- reading sales ------------------------------------------------------------------

    def get_sale(self, sale_id: int) -> Sale:
        """The sale with its items; raises :class:`UnknownSale`."""
        with self._read() as conn:
            return load_sale(conn, sale_id)

    def sale_by_out_trade_no(self, out_trade_no: str) -> Sale:
        """The sale with its items; raises :class:`UnknownSale`."""
        with self._read() as conn:
            row = conn.execute(_SALE_BY_OUT_TRADE_NO, {"b_out_trade_no": out_trade_no}).first()
            if row is None:
                raise UnknownSale(out_trade_no)
            return sale_record(row, load_items(conn, row.id))

    def sales_for_day(self, day: date, *, store: str | None = None, lane: str | None = None) -> list[Sale]:
        """Every sale of a business day (the store's calendar day), in the order they were rung up."""
        where = [sales.c.business_date == day]
        if store is not None:
            where.append(sales.c.store == store)
        if lane is not None:
            where.append(sales.c.lane == lane)
        return self._sales(and_(*where))

    def pending_sales(self, *, store: str | None = None, lane: str | None = None) -> list[Sale]:
        """NEW and AWAITING_PAYMENT sales: what the watcher resumes after a restart.

        Sales with a void request come first (oldest request first: a customer
        must not be able to pay them any longer), then the rest, oldest first.
        ``store`` and ``lane`` narrow it to one till's sales (each till's watcher asks WeChat
        about its own only).
        """
        where = [_PENDING]
        if store is not None:
            where.append(sales.c.store == store)
        if lane is not None:
            where.append(sales.c.lane == lane)
        return self._sales(and_(*where), order_by=_PENDING_ORDER)

    def _sales(self, where: Any, *, order_by: Sequence[Any] = (sales.c.id,)) -> list[Sale]:
        with self._read() as conn:
            rows = conn.execute(select(sales).where(where).order_by(*order_by)).all()
            if not rows:  # the watcher's look at an idle till: no items to ask for either
                return []
            item_rows = conn.execute(
                select(sale_items)
                .where(sale_items.c.sale_id.in_(select(sales.c.id).where(where)))
                .order_by(sale_items.c.sale_id, sale_items.c.position)
            )
            by_sale: dict[int, list[SaleItem]] = {}
            for item in item_rows:
                by_sale.setdefault(item.sale_id, []).append(_item(item))
            return [sale_record(row, by_sale.get(row.id, ())) for row in rows]


# -- inside a caller's transaction ---------------------------------------------------------------


def load_sale(conn: Connection, sale_id: int) -> Sale:
    """The sale with its items, as the caller's transaction sees it; raises :class:`UnknownSale`."""
    row = conn.execute(_SALE_BY_ID, {"b_id": sale_id}).first()
    if row is None:
        raise UnknownSale(sale_id)
    return sale_record(row, load_items(conn, sale_id))


def load_items(conn: Connection, sale_id: int) -> list[SaleItem]:
    return [_item(i) for i in conn.execute(_ITEMS, {"b_id": sale_id})]


def _next_sequence(conn: Connection, store: str, lane: str, day: date) -> int:
    """The day's next number for the lane, atomically: an upsert that returns the new value."""
    dialect = conn.dialect.name
    if dialect not in ("postgresql", "sqlite"):  # pragma: no cover - SQLite and PostgreSQL only
        raise LedgerError(f"unsupported database {dialect}")
    params = {"b_store": store, "b_lane": lane, "b_day": day}
    return conn.execute(_sequence_upsert(dialect), params).scalar_one()


@functools.cache
def _sequence_upsert(dialect: str) -> Any:
    """The upsert behind :func:`_next_sequence`, built once per dialect."""
    columns = day_sequences.c
    return (
        upsert(dialect)(day_sequences)
        .values(
            store=bindparam("b_store", type_=columns.store.type),
            lane=bindparam("b_lane", type_=columns.lane.type),
            business_date=bindparam("b_day", type_=columns.business_date.type),
            last=1,
        )
        .on_conflict_do_update(
            index_elements=[columns.store, columns.lane, columns.business_date],
            set_={"last": columns.last + 1},
        )
        .returning(columns.last)
    )


@functools.cache
def _transition_statement(allowed: tuple[str, ...], target: str, columns: tuple[str, ...]) -> Any:
    """A sale's conditional UPDATE (state in ``allowed`` -> ``target``, setting ``columns`` from
    ``v_<column>`` parameters), built once per shape; it returns the updated row."""
    values: dict[str, Any] = {"state": target, "updated_at": bindparam("b_at", type_=sales.c.updated_at.type)}
    values.update({name: bindparam(f"v_{name}", type_=sales.c[name].type) for name in columns})
    return (
        update(sales)
        .where(sales.c.id == bindparam("b_id"), sales.c.state.in_(allowed))
        .values(**values)
        .returning(*sales.c)
    )


# Statements the checkout, the listener and the watcher run on every sale, built once: building a
# statement costs more than SQLite takes to run it.
_INSERT_SALE = insert(sales).returning(*sales.c)
_INSERT_ITEM = insert(sale_items).returning(*sale_items.c)
_SALE_BY_ID = select(sales).where(sales.c.id == bindparam("b_id"))
_SALE_BY_OUT_TRADE_NO = select(sales).where(sales.c.out_trade_no == bindparam("b_out_trade_no"))
_ITEMS = select(sale_items).where(sale_items.c.sale_id == bindparam("b_id")).order_by(sale_items.c.position)
_PENDING = or_(sales.c.state == SaleState.NEW.value, sales.c.state == SaleState.AWAITING_PAYMENT.value)
_PENDING_ORDER = (sales.c.void_requested_at.is_(None), sales.c.void_requested_at, sales.c.id)


# -- rows to records ------------------------------------------------------------------------


def sale_record(row: Row[Any], items: Iterable[SaleItem]) -> Sale:
    """A ``sales`` row (all its columns, as ``select(sales)`` or RETURNING give them) as a record."""
    return Sale(
        id=row.id,
        out_trade_no=row.out_trade_no,
        store=row.store,
        lane=row.lane,
        cashier=row.cashier,
        business_date=row.business_date,
        body=row.body,
        total_fee=row.total_fee,
        state=SaleState(row.state),
        sign_type=row.sign_type,
        code_url=row.code_url,
        prepay_id=row.prepay_id,
        created_at=row.created_at,
        ordered_at=row.ordered_at,
        expires_at=row.expires_at,
        paid_at=row.paid_at,
        closed_at=row.closed_at,
        transaction_id=row.transaction_id,
        failure=row.failure,
        refund_reserved_fee=row.refund_reserved_fee,
        refunded_fee=row.refunded_fee,
        flagged=bool(row.flagged),
        updated_at=row.updated_at,
        items=tuple(items),
        void_requested_at=row.void_requested_at,
        void_requested_by=row.void_requested_by,
        cash_fee=row.cash_fee,
        coupon_fee=row.coupon_fee,
        settlement_total_fee=row.settlement_total_fee,
    )


def _item(row: Row[Any]) -> SaleItem:
    return SaleItem(row.id, row.sale_id, row.position, row.name, row.qty, row.unit_price, row.amount)


def _check_item(index: int, item: LineItem) -> LineItem:
    if not isinstance(item, LineItem):
        raise InvalidInput(f"item {index + 1} must be a LineItem, not {item!r}")
    if not isinstance(item.name, str) or not item.name.strip() or len(item.name) > 128:
        raise InvalidInput(f"item {index + 1} needs a name of 1-128 characters, not {item.name!r}")
    check_fen(item.unit_price, f"item {index + 1} unit_price", allow_zero=True)
    if isinstance(item.qty, bool) or not isinstance(item.qty, int) or not 1 <= item.qty <= 9999:
        raise InvalidInput(f"item {index + 1} qty must be a whole number from 1 to 9999, not {item.qty!r}")
    return item


def _log(event: str, sale: Sale, **fields: Any) -> None:
    extra = {key: value for key, value in fields.items() if value not in (None, "")}
    log.info(event, sale=sale.id, out_trade_no=sale.out_trade_no, state=sale.state, **extra)
