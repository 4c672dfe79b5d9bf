"""Core statements compiled once and run on SQLite's own cursor: the ledger's hot path, made cheap.

A payment notice runs the same handful of statements every time (read the
sale, the conditional UPDATE, the payment, the slip, the event, the raw
notice). Through :meth:`sqlalchemy.engine.Connection.execute` each costs about
40 µs of Python before SQLite sees it (cache-key hashing, parameter
construction, result set-up), several times the statement itself, and in the
listener's threaded server that time is spent holding the GIL and, for
writes, SQLite's one write lock. :class:`Prepared` keeps the statement as a
Core construct (one source of SQL, compiled by SQLAlchemy for the dialect),
and on SQLite runs the compiled SQL directly on the connection's DBAPI cursor,
inside the caller's SQLAlchemy transaction, converting parameters and result
values with the columns' own types. Errors are raised as SQLAlchemy's own
exception classes, so callers see exactly what ``Connection.execute`` raises.

Only SQLite takes the shortcut; other databases (PostgreSQL) go through
``Connection.execute`` unchanged, and several processes share their load anyway.
"""

from __future__ import annotations

import threading
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.expression import Executable

Processor = Callable[[Any], Any] | None


class _Compiled:
    """One statement compiled for one SQLite dialect: SQL text, parameter order and converters."""

    def __init__(self, statement: Any, dialect: Dialect, column_keys: Sequence[str] | None) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=list(column_keys) if column_keys else None)
        # Positional parameters (SQLite's qmark) only; a dialect set up otherwise keeps the long way.
        self.usable = bool(dialect.positional)
        self.sql = compiled.string
        names = compiled.positiontup or []
        binds = compiled.binds
        # Values fixed in the statement itself (e.g. state='PAID' in an UPDATE's SET clause).
        self.fixed = {name: bind.effective_value for name, bind in binds.items() if not bind.required}
        self.names = tuple(names)
        # Only the few parameters and columns whose type converts (datetimes, dates, booleans) are touched.
        self.bind_converters = [
            (i, process)
            for i, name in enumerate(names)
            if (process := _bind_processor(binds[name].type, dialect)) is not None
        ]
        columns = list(getattr(statement, "exported_columns", ()))
        self.returns_rows = bool(columns)
        self.row = namedtuple("Row", [c.name for c in columns], rename=True) if columns else None  # type: ignore[misc]
        self.result_converters = [
            (i, convert)
            for i, column in enumerate(columns)
            if (convert := _result_processor(column.type, dialect)) is not None
        ]

    def parameters(self, params: Mapping[str, Any]) -> list[Any]:
        fixed = self.fixed
        values = [params[name] if name in params else fixed[name] for name in self.names]
        for i, process in self.bind_converters:
            values[i] = process(values[i])
        return values

    def convert(self, raw: Sequence[Any]) -> Any:
        assert self.row is not None
        if not self.result_converters:
            return self.row._make(raw)
        values = list(raw)
        for i, convert in self.result_converters:
            if values[i] is not None:
                values[i] = convert(values[i])
        return self.row._make(values)


class Prepared:
    """A Core statement to run many times with different parameters; see the module docstring.

    ``column_keys`` names the columns an INSERT or UPDATE without ``.values()`` receives (the
    parameter dicts' keys), as ``Connection.execute`` would infer them from the first call.
    """

    def __init__(self, statement: Executable, *, column_keys: Sequence[str] | None = None) -> None:
        self.statement = statement
        self.column_keys = tuple(column_keys) if column_keys else None
        self._compiled: dict[int, tuple[Dialect, _Compiled]] = {}
        self._lock = threading.Lock()

    def _for(self, dialect: Dialect) -> _Compiled:
        entry = self._compiled.get(id(dialect))
        if entry is None or entry[0] is not dialect:
            with self._lock:
                entry = (dialect, _Compiled(self.statement, dialect, self.column_keys))
                self._compiled[id(dialect)] = entry
        return entry[1]

    def rows(self, conn: Connection, params: Mapping[str, Any]) -> list[Any]:
        """Every result row (named tuples with attribute access, values converted by column type)."""
        compiled = self._for(conn.dialect) if conn.dialect.name == "sqlite" else None
        if compiled is None or not compiled.usable:
            result = conn.execute(self.statement, dict(params))
            return list(result) if result.returns_rows else []
        parameters = compiled.parameters(params)
        dbapi = conn.connection.driver_connection
        try:
            cursor = dbapi.execute(compiled.sql, parameters)
            raw_rows = cursor.fetchall() if compiled.returns_rows else []
        except conn.dialect.loaded_dbapi.Error as exc:
            raise DBAPIError.instance(
                compiled.sql, parameters, exc, conn.dialect.loaded_dbapi.Error, dialect=conn.dialect
            ) from exc
        return [compiled.convert(raw) for raw in raw_rows]

    def first(self, conn: Connection, params: Mapping[str, Any]) -> Any | None:
        """The first row, or None."""
        rows = self.rows(conn, params)
        return rows[0] if rows else None

    def scalar(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        """The first column of the first row (an INSERT's RETURNING id)."""
        return self.rows(conn, params)[0][0]

    def execute(self, conn: Connection, params: Mapping[str, Any]) -> None:
        """Run it for its effect."""
        self.rows(conn, params)


def _bind_processor(type_: Any, dialect: Dialect) -> Processor:
    return type_.dialect_impl(dialect).bind_processor(dialect)


def _result_processor(type_: Any, dialect: Dialect) -> Processor:
    return type_.dialect_impl(dialect).result_processor(dialect, None)
