"""The ledger's side of payment codes: attempts, reverses and the late payment after a reverse.

A sale paid by code keeps its own out_trade_no for a printed QR (Native); every code tried
gets its own WeChat order number, ``<out_trade_no>-M<n>``, allocated here in one write
transaction, so two tries never share a number and none collides with the Native order
(WeChat wants a new number for each new code). Attempts, reverses and declines are events
of the sale; the payment itself goes through :meth:`Ledger.mark_paid` (exactly once, by
transaction_id) like every other payment.

Only the states NEW and FAILED can be paid by code: AWAITING_PAYMENT means a Native order
is open, and two payable orders for one sale invite a double payment. A NEW sale may also be
having its Native order placed right now (a ring-up, a retry, a switch to a printed QR): the
choice between "charge a code" and "place a Native order" is made once, in one write
transaction that first takes the sale's row (:func:`_hold_sale`, a conditional UPDATE: on
PostgreSQL the row lock, on SQLite the write lock, makes the second request wait and then see
the first one's events). :func:`start_attempt` refuses while a Native order is being placed
(:func:`native_claimed`), :func:`claim_native` refuses while a code is open: exactly one wins.

An attempt whose reverse never went through (``reverse_failed``) is reversed again by the watcher
until WeChat confirms it (a later :data:`REVERSED` event: the attempt ends ``reversed``), reports
it paid (flagged; :data:`REVERSE_ENDED`) or it is too old to reverse (:data:`REVERSE_WINDOW`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update

from pos.ledger.errors import LedgerError
from pos.ledger.models import FlagKind, Sale, SaleState
from pos.ledger.schema import events, flags, sales

ATTEMPT = "micropay_attempt"
REVERSED = "micropay_reversed"
REVERSE_FAILED = "micropay_reverse_failed"
SETTLED = "micropay_settled"  # paid, declined or closed at WeChat: nothing left to do for it
WAITING = "micropay_waiting"  # not settled yet: USERPAYING (the password) or unknown; the watcher follows it
REVERSE_ENDED = "micropay_reverse_ended"  # a reverse_failed attempt is no longer reversed: why
NATIVE_CLAIM = "native_ordering"  # a Native order is being placed for a NEW sale (order_qr)
OUTCOMES = (SETTLED, REVERSED, REVERSE_FAILED)
# WeChat accepts a reverse for orders up to 7 days old (reference/wechatpay-micropay.md §3); the
# watcher stops an hour short of it (later, the day's reconciliation names a late payment).
REVERSE_WINDOW = timedelta(days=7) - timedelta(hours=1)
# An attempt with no outcome recorded is in flight (the pay call, the queries, the reverse take
# at most ~2 minutes); one older than this was cut off by a crash and no longer blocks the sale.
IN_FLIGHT_LIMIT = timedelta(minutes=3)
PAYABLE_BY_CODE = (SaleState.NEW, SaleState.FAILED)
ID_MARGIN = 500  # events: how far back of the highest id the watcher's next read starts (attempts_from)
ATTEMPT_NUMBER = re.compile(r"^(?P<sale>.+)-M(?P<n>[1-9][0-9]*)$")


def attempt_number(out_trade_no: str, n: int) -> str:
    """The WeChat order number of the sale's ``n``-th code: ``<out_trade_no>-M<n>``."""
    return f"{out_trade_no}-M{n}"


def sale_number(out_trade_no: str) -> str:
    """The sale's own number for an attempt's (``S01-01-20261127-0042-M2`` -> ``...-0042``); any
    other number unchanged. WeChat's bill lists code payments under the attempt's number."""
    found = ATTEMPT_NUMBER.match(out_trade_no)
    return found["sale"] if found else out_trade_no


class OpenNativeOrder(LedgerError):
    """The sale has a Native (printed QR) order open: it is not paid by code."""


class AttemptInProgress(LedgerError):
    """Another code is being charged for this sale right now: one at a time, or both may pay."""


class NotPayableByCode(LedgerError):
    """The sale is paid, voided or expired: no code can pay it."""


class NotNewSale(LedgerError):
    """The sale is not NEW: no Native order is placed for it here (``order_qr``)."""


def _now(ledger: Any, now: datetime | None) -> datetime:
    return ledger._now(now)


def _event(conn: Any, sale_id: int, event: str, detail: dict[str, Any], at: datetime) -> None:
    conn.execute(insert(events).values(sale_id=sale_id, event=event, detail=json.dumps(detail), at=at))


def start_attempt(ledger: Any, sale_id: int, *, now: datetime | None = None) -> str:
    """Allocate the next attempt's WeChat order number for ``sale_id``; refuses a sale with an
    open Native order or one being placed (:class:`OpenNativeOrder`), one that cannot be paid
    (:class:`NotPayableByCode`) and one with another code being charged right now
    (:class:`AttemptInProgress`). Decided in one transaction holding the sale's row."""
    at = _now(ledger, now)
    with ledger._write() as conn:
        row = _hold_sale(conn, sale_id)
        if row is None:
            raise NotPayableByCode(f"no sale {sale_id}")
        state = SaleState(row.state)
        if state == SaleState.AWAITING_PAYMENT or (state == SaleState.NEW and native_claimed(conn, sale_id)):
            raise OpenNativeOrder(f"sale {sale_id} has an open Native order")
        if state not in PAYABLE_BY_CODE:
            raise NotPayableByCode(f"sale {sale_id} is {state.value}")
        count = conn.execute(
            select(func.count())
            .select_from(events)
            .where(events.c.sale_id == sale_id, events.c.event == ATTEMPT)
        ).scalar_one()
        if count and _in_flight(conn, sale_id, at):
            raise AttemptInProgress(f"sale {sale_id} has a payment code being charged")
        number = attempt_number(row.out_trade_no, count + 1)
        _event(conn, sale_id, ATTEMPT, {"out_trade_no": number}, at)
    return number


def claim_native(ledger: Any, sale_id: int, *, now: datetime | None = None) -> None:
    """Decide for a NEW sale rung up without an order that its Native order is placed now (the
    customer has no payment code after all): refuses (:class:`NotNewSale`) a sale no longer NEW
    and (:class:`AttemptInProgress`) one with a code whose outcome is open. Once this returns, no
    code is charged for the sale until the order is placed (AWAITING_PAYMENT) or failed (FAILED)."""
    at = _now(ledger, now)
    with ledger._write() as conn:
        row = _hold_sale(conn, sale_id)
        if row is None or SaleState(row.state) is not SaleState.NEW:
            raise NotNewSale(f"sale {sale_id} is not NEW")
        if _open_attempt(conn, sale_id):
            raise AttemptInProgress(f"sale {sale_id} has a payment code being charged")
        _event(conn, sale_id, NATIVE_CLAIM, {}, at)


def refuse_retry_while_charging(conn: Any, sale_id: int) -> None:
    """For :meth:`Ledger.retry_order`, in its transaction (which holds the sale's row): a FAILED
    sale with a code whose outcome is open gets no Native order meanwhile."""
    if _open_attempt(conn, sale_id):
        raise AttemptInProgress(f"sale {sale_id} has a payment code being charged")


def _hold_sale(conn: Any, sale_id: int) -> Any:
    """The sale's state and number, read by a conditional UPDATE that changes nothing but takes the
    row: a concurrent writer of the same sale (another code, a Native order) waits for this
    transaction, then reads what it wrote. None for an unknown sale."""
    statement = (
        update(sales)
        .where(sales.c.id == sale_id)
        .values(updated_at=sales.c.updated_at)
        .returning(sales.c.state, sales.c.out_trade_no)
    )
    return conn.execute(statement).first()


_CLAIM_KINDS = ("created", NATIVE_CLAIM, "retry", "order_failed")


def native_claimed(conn: Any, sale_id: int) -> bool:
    """A NEW sale's Native order is being placed: its last ring-up, switch or retry event is newer
    than its last failed order. (A ring-up for a printed QR says so in its ``created`` event.)"""
    last = conn.execute(
        select(events.c.event, events.c.detail)
        .where(events.c.sale_id == sale_id, events.c.event.in_(_CLAIM_KINDS))
        .order_by(events.c.id.desc())
        .limit(1)
    ).first()
    if last is None or last.event == "order_failed":
        return False
    if last.event == "created":
        return bool(json.loads(last.detail or "{}").get("ordering"))
    return True


def _open_attempt(conn: Any, sale_id: int) -> bool:
    query = (
        select(events).where(events.c.sale_id == sale_id, events.c.event.in_(_KINDS)).order_by(events.c.id)
    )
    return any(a.open for a in _fold(conn.execute(query).all()))


def _in_flight(conn: Any, sale_id: int, at: datetime) -> bool:
    """The sale's last attempt has no outcome yet and is recent enough to be still running. (An
    older attempt's late reverse may be recorded after it: only the last attempt's own events count.)"""
    last = conn.execute(
        select(events.c.id, events.c.at, events.c.detail)
        .where(events.c.sale_id == sale_id, events.c.event == ATTEMPT)
        .order_by(events.c.id.desc())
        .limit(1)
    ).first()
    if last is None or at - _aware(last.at) >= IN_FLIGHT_LIMIT:
        return False
    number = json.loads(last.detail or "{}").get("out_trade_no", "")
    later = conn.execute(
        select(events.c.detail).where(
            events.c.sale_id == sale_id, events.c.id > last.id, events.c.event.in_(OUTCOMES)
        )
    ).all()
    return not any(json.loads(row.detail or "{}").get("out_trade_no") == number for row in later)


@dataclass(frozen=True)
class Attempt:
    """One code tried for a sale, as its events tell it. ``outcome`` is "" while it is open, else
    the settled outcome (paid, flagged, declined, revoked, closed) or reversed / reverse_failed;
    ``waiting`` is what WeChat last said of an open one (USERPAYING, SYSTEMERROR, TIMEOUT...)."""

    sale_id: int
    out_trade_no: str
    started_at: datetime
    outcome: str = ""
    ended_at: datetime | None = None
    waiting: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    event_id: int = 0  # the attempt's first event: the watcher reads the events from there on
    reverse_ended: str = ""  # a reverse_failed attempt no longer reversed: why (paid_after_reverse...)

    @property
    def open(self) -> bool:
        return not self.outcome

    @property
    def reversing(self) -> bool:
        """The till gave up on it but WeChat never confirmed the reverse: the watcher reverses it
        again (until confirmed, reported paid, or too old: :data:`REVERSE_WINDOW`)."""
        return self.outcome == "reverse_failed" and not self.reverse_ended

    @property
    def given_up(self) -> bool:
        return self.outcome in ("reversed", "reverse_failed")


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _fold(rows: Any) -> list[Attempt]:
    """Attempts from their events (oldest first), each event applied to the attempt it names."""
    found: dict[str, Attempt] = {}
    for row in rows:
        detail = json.loads(row.detail or "{}")
        number = detail.get("out_trade_no", "")
        at = _aware(row.at)
        if row.event == ATTEMPT:
            found[number] = Attempt(row.sale_id, number, at, event_id=row.id)
            continue
        attempt = found.get(number)
        if attempt is not None and attempt.reversing and row.event in (REVERSED, REVERSE_ENDED):
            if row.event == REVERSE_ENDED:  # flagged, or too old: the outcome stays reverse_failed
                found[number] = replace(attempt, reverse_ended=detail.get("outcome", "ended"))
            else:  # the reverse went through after all: as if it had the first time
                found[number] = replace(attempt, outcome="reversed", ended_at=at, detail=detail)
            continue
        if attempt is None or not attempt.open:
            continue
        if row.event == WAITING:
            found[number] = replace(attempt, waiting=detail.get("reason", ""))
            continue
        outcome = {REVERSED: "reversed", REVERSE_FAILED: "reverse_failed"}.get(row.event) or detail.get(
            "outcome", ""
        )
        found[number] = replace(attempt, outcome=outcome or "settled", ended_at=at, detail=detail)
    return list(found.values())


_KINDS = (ATTEMPT, WAITING, *OUTCOMES, REVERSE_ENDED)


def attempts_of_sale(ledger: Any, sale_id: int) -> list[Attempt]:
    """The sale's attempts with what became of each, oldest first."""
    query = (
        select(events).where(events.c.sale_id == sale_id, events.c.event.in_(_KINDS)).order_by(events.c.id)
    )
    with ledger._read() as conn:
        return _fold(conn.execute(query).all())


def last_attempt(ledger: Any, sale_id: int) -> Attempt | None:
    """The sale's latest attempt (what the cashier's screen shows), or None."""
    found = attempts_of_sale(ledger, sale_id)
    return found[-1] if found else None


def code_attempt_open(ledger: Any, sale_id: int) -> bool:
    """A code charged for this sale has no outcome yet: the customer may still pay it."""
    return any(a.open for a in attempts_of_sale(ledger, sale_id))


def attempts_since(ledger: Any, since: datetime) -> list[Attempt]:
    """Every attempt started at or after ``since``, any sale, with its outcome so far (a scan of the
    events by time: the watcher does it once when it starts, then reads by id, :func:`attempts_from`)."""
    query = (
        select(events)
        .where(events.c.at >= since.astimezone(UTC), events.c.event.in_(_KINDS))
        .order_by(events.c.id)
    )
    with ledger._read() as conn:
        return _fold(conn.execute(query).all())


def attempts_from(ledger: Any, first_id: int) -> tuple[list[Attempt], int]:
    """The attempts whose first event is ``first_id`` or later, with their outcomes so far, and the
    id the next read may start from when none of them needs following: the events' primary key
    bounds the read, so a pass every few seconds costs the events since the oldest attempt still
    open, not the whole table. (That id stays :data:`ID_MARGIN` events back: on PostgreSQL an id is
    taken before its transaction commits, so a write just begun may land below the highest id.)"""
    query = select(events).where(events.c.id >= first_id, events.c.event.in_(_KINDS)).order_by(events.c.id)
    with ledger._read() as conn:
        found = _fold(conn.execute(query).all())
        highest = conn.execute(select(func.max(events.c.id))).scalar_one() or 0
    return found, max(highest + 1 - ID_MARGIN, 0)


def record_waiting(
    ledger: Any, sale_id: int, attempt: str, reason: str, *, now: datetime | None = None
) -> None:
    """WeChat has not settled ``attempt`` yet (``reason``: USERPAYING, SYSTEMERROR, TIMEOUT...)."""
    ledger.log_event(WAITING, sale_id=sale_id, detail={"out_trade_no": attempt, "reason": reason}, now=now)


def record_settled(ledger: Any, sale_id: int, attempt: str, outcome: str, **detail: Any) -> None:
    """The attempt ended without a reverse: ``outcome`` paid, declined or closed."""
    ledger.log_event(SETTLED, sale_id=sale_id, detail={"out_trade_no": attempt, "outcome": outcome, **detail})


def attempts(ledger: Any, sale_id: int) -> list[str]:
    """The sale's attempt numbers, oldest first."""
    return [e.detail["out_trade_no"] for e in ledger.events_for_sale(sale_id) if e.event == ATTEMPT]


def reversed_attempts(ledger: Any, sale_id: int) -> list[str]:
    return [e.detail["out_trade_no"] for e in ledger.events_for_sale(sale_id) if e.event == REVERSED]


def given_up_attempts(ledger: Any, sale_id: int) -> list[str]:
    """Attempts the till gave up on: reversed, or whose reverse never went through."""
    kinds = (REVERSED, REVERSE_FAILED)
    numbers = [e.detail["out_trade_no"] for e in ledger.events_for_sale(sale_id) if e.event in kinds]
    return list(dict.fromkeys(numbers))  # a late reverse names its attempt a second time


def given_up_among(ledger: Any, sales: Iterable[Any], numbers: Iterable[str]) -> frozenset[str]:
    """Which of ``numbers`` are attempts, of these ``sales`` (anything with ``id`` and
    ``out_trade_no``), that the till gave up on: for reconciliation, whose bill names attempts."""
    wanted = set(numbers)
    by_number = {sale.out_trade_no: sale.id for sale in sales}
    ids = {by_number[sale_number(n)] for n in wanted if sale_number(n) != n and sale_number(n) in by_number}
    given_up: set[str] = set()
    for sale_id in sorted(ids):
        given_up.update(a.out_trade_no for a in attempts_of_sale(ledger, sale_id) if a.given_up)
    return frozenset(given_up & wanted)


def record_reverse_failed(ledger: Any, sale_id: int, attempt: str, *, now: datetime | None = None) -> None:
    """The till gave up on ``attempt`` but WeChat never confirmed the reverse: the manager checks it."""
    ledger.log_event(REVERSE_FAILED, sale_id=sale_id, detail={"out_trade_no": attempt}, now=now)


def record_reverse_ended(
    ledger: Any, sale_id: int, attempt: str, outcome: str, *, now: datetime | None = None
) -> None:
    """A ``reverse_failed`` attempt is no longer reversed: ``outcome`` paid_after_reverse (WeChat
    reports it paid: flagged for the manager) or reverse_expired (WeChat no longer reverses it)."""
    ledger.log_event(REVERSE_ENDED, sale_id=sale_id, detail={"out_trade_no": attempt, "outcome": outcome},
                     now=now)  # fmt: skip


def record_reversed(
    ledger: Any, sale_id: int, attempt: str, *, cancelled: bool = False, now: datetime | None = None
) -> None:
    """The till gave up on ``attempt`` and WeChat confirmed the reverse: the sale stays payable.
    ``cancelled``: the customer gave up first (PAYERROR), the reverse only closed it for good."""
    detail = {"out_trade_no": attempt, "cancelled": cancelled}
    ledger.log_event(REVERSED, sale_id=sale_id, detail=detail, now=now)


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
