"""The cashiers who may sign in at the till, and the day's takings by cashier.

A cashier is a name and the hash of a PIN (the same werkzeug hash as the
manager's password; the PIN itself is never stored). ``pos cashier add`` writes
one; the till's sign-in reads them. The table (revision 0008) is in
:mod:`pos.ledger.schema` with the ledger's others, and, as for every table of
the ledger, only this package runs SQL on it. Each sale already keeps the name
of the cashier who rang it up (``sales.cashier``); :func:`takings_by_cashier`
adds a day up per name for the manager's day view.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import delete, func, insert, select, update

from pos.ledger.errors import InvalidInput
from pos.ledger.ledger import Ledger
from pos.ledger.models import PAID_STATES
from pos.ledger.schema import CASHIER_NAME_MAX, cashiers, sales

MAX_NAME = CASHIER_NAME_MAX
# Letters (any script), digits, space, dot, dash, underscore: a name a person reads on paper.
_NAME = re.compile(r"^[\w][\w .\-]{0,31}$")


@dataclass(frozen=True, slots=True)
class Cashier:
    """One cashier as listed (never with the PIN's hash)."""

    name: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class CashierTakings:
    """What one cashier rang up on a day: ``cashier`` is "" for sales nobody signed in for."""

    cashier: str
    sales: int
    paid_count: int
    paid_fee: int
    refunded_fee: int

    @property
    def net_fee(self) -> int:
        return self.paid_fee - self.refunded_fee


def check_name(name: str) -> str:
    """The name as stored (trimmed); InvalidInput for an empty, too long or odd one."""
    name = name.strip() if isinstance(name, str) else ""
    if not _NAME.match(name):
        raise InvalidInput(
            f"a cashier's name is 1 to {MAX_NAME} letters, digits, spaces, dots, dashes or underscores"
        )
    return name


def set_cashier(ledger: Ledger, name: str, pin_hash: str, *, now: datetime | None = None) -> bool:
    """Add the cashier, or give an existing one a new PIN; True when the cashier is new."""
    name = check_name(name)
    at = ledger._now(now)
    with ledger._write() as conn:
        changed = conn.execute(
            update(cashiers).where(cashiers.c.name == name).values(pin_hash=pin_hash, updated_at=at)
        ).rowcount
        if changed:
            return False
        conn.execute(insert(cashiers).values(name=name, pin_hash=pin_hash, created_at=at, updated_at=at))
        return True


def remove_cashier(ledger: Ledger, name: str) -> bool:
    """Forget the cashier (their sales keep their name); False if there was none by that name."""
    with ledger._write() as conn:
        return bool(conn.execute(delete(cashiers).where(cashiers.c.name == name.strip())).rowcount)


def list_cashiers(ledger: Ledger) -> list[Cashier]:
    with ledger._read() as conn:
        rows = conn.execute(
            select(cashiers.c.name, cashiers.c.created_at, cashiers.c.updated_at).order_by(cashiers.c.name)
        )
        return [Cashier(r.name, r.created_at, r.updated_at) for r in rows]


def has_cashiers(ledger: Ledger) -> bool:
    with ledger._read() as conn:
        return conn.execute(select(cashiers.c.id).limit(1)).first() is not None


def pin_hash(ledger: Ledger, name: str) -> str | None:
    """The PIN's hash for ``name``, or None when there is no such cashier."""
    with ledger._read() as conn:
        return conn.execute(select(cashiers.c.pin_hash).where(cashiers.c.name == name)).scalar()


def takings_by_cashier(ledger: Ledger, day: date, *, store: str) -> list[CashierTakings]:
    """The business day's sales per cashier name (most paid first); only cashiers with sales."""
    paid = sales.c.state.in_([s.value for s in PAID_STATES])
    query = (
        select(
            sales.c.cashier,
            func.count(),
            func.count().filter(paid),
            func.coalesce(func.sum(sales.c.total_fee).filter(paid), 0),
            func.coalesce(func.sum(sales.c.refunded_fee), 0),
        )
        .where(sales.c.business_date == day, sales.c.store == store)
        .group_by(sales.c.cashier)
    )
    with ledger._read() as conn:
        rows = [
            CashierTakings(r[0] or "", int(r[1]), int(r[2]), int(r[3]), int(r[4]))
            for r in conn.execute(query)
        ]
    return sorted(rows, key=lambda r: (-r.paid_fee, r.cashier))
