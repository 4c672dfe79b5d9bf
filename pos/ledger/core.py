"""What every part of the ledger stands on: the engine, the clock, and the two kinds of transaction.

:class:`LedgerCore` is the base the concerns (:mod:`~pos.ledger.sales`,
:mod:`~pos.ledger.payments`, :mod:`~pos.ledger.refunds`, :mod:`~pos.ledger.jobs`,
:mod:`~pos.ledger.audit`) build on and :class:`pos.ledger.Ledger` puts together.
It lives below them so that each concern can open a transaction without
importing the face. ``_write``, ``_read`` and ``_now`` are the package's own:
code outside ``pos.ledger`` calls the ledger's methods and never opens a
transaction on its tables itself.

The few small helpers here (JSON, fen and enum checks, the dialect's upsert) are
shared by several concerns and belong to none.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any, Self
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine

from pos.ledger import database
from pos.ledger.errors import InvalidInput
from pos.ledger.identifiers import DEFAULT_ZONE, check_aware
from pos.ledger.writelock import WriteLock
from pos.money import MAX_FEN

Raw = bytes | str | Mapping[str, Any]


class LedgerCore:
    """The engine, the store's zone and clock, and transactions; see :func:`pos.ledger.open_ledger`."""

    def __init__(
        self,
        engine: Engine,
        *,
        zone: ZoneInfo | None = None,
        clock: Callable[[], datetime] | None = None,
        busy_timeout_ms: int = database.BUSY_TIMEOUT_MS,
    ) -> None:
        self.engine = engine
        self.zone = zone or ZoneInfo(DEFAULT_ZONE)
        self._clock = clock or (lambda: datetime.now(UTC))
        # Writers queue here first on SQLite, across processes too (see pos.ledger.writelock).
        self._writers = database.write_lock(engine, busy_timeout_ms / 1000)

    def close(self) -> None:
        """Close the connection pool (the database keeps everything committed)."""
        self.engine.dispose()
        if isinstance(self._writers, WriteLock):
            self._writers.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A write transaction (``BEGIN IMMEDIATE`` on SQLite, after this process's and the other
        processes' writers: see pos.ledger.writelock): commits on success, rolls back on error."""
        with self._writers, self.engine.begin() as connection:
            yield connection

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """A read transaction: one consistent snapshot, never blocks writers (the one read-only
        transaction of the house: :func:`pos.ledger.database.read_only`)."""
        with database.read_only(self.engine) as connection:
            yield connection

    def _now(self, now: datetime | None) -> datetime:
        return check_aware(now if now is not None else self._clock(), "now").astimezone(UTC)


# -- small helpers shared by the concerns ---------------------------------------------------------


def upsert(dialect: str) -> Any:
    """The dialect's ``insert`` with ``on_conflict_do_...`` (SQLite and PostgreSQL spell it alike)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def insert_ignore(conn: Connection, table: Any, values: dict[str, Any], conflict: list[Any]) -> None:
    """INSERT the row unless one with the same ``conflict`` columns is there already."""
    statement = upsert(conn.dialect.name)(table).values(**values)
    conn.execute(statement.on_conflict_do_nothing(index_elements=conflict))


def dumps(value: Any) -> str:
    """JSON for the ledger's text columns (details, payloads): sorted, Chinese kept readable."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def loads(text: str | None) -> Any:
    return json.loads(text) if text else None


def check_fen(value: Any, name: str, *, allow_zero: bool = False) -> int:
    low = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_FEN:
        raise InvalidInput(f"{name} must be whole fen from {low} to {MAX_FEN}, not {value!r}")
    return value


def check_enum(cls: Any, value: Any, name: str) -> Any:
    """``cls(value)``, or InvalidInput naming the values it may take."""
    try:
        return cls(value)
    except ValueError:
        raise InvalidInput(
            f"{name} must be one of {', '.join(m.value for m in cls)}, not {value!r}"
        ) from None
