"""Connecting to the ledger's database and bringing its schema up to date.

SQLite (the default, one file in the data directory) is set up per connection:

- ``journal_mode=WAL`` so the till's pages can read while the listener writes;
- ``busy_timeout`` so a writer waits for another instead of failing at once;
- ``foreign_keys=ON`` (SQLite leaves them off unless asked, on every connection).

Write transactions start with ``BEGIN IMMEDIATE``: they take SQLite's write
lock first, so two processes deciding the same sale queue up behind each other
instead of both reading, then one failing to upgrade its lock. Read-only
transactions start with a plain ``BEGIN`` and never block writers. This is the
pysqlite recipe from SQLAlchemy's documentation: the driver's own implicit
BEGIN is switched off and we emit ours.

PostgreSQL needs none of this: its row locks and ``READ COMMITTED`` already
make a conditional ``UPDATE`` decide a race. It gets ``lock_timeout`` from the
same setting as SQLite's ``busy_timeout``, so a lock held too long fails a
write rather than stalling it.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url

from pos.ledger.errors import LedgerError
from pos.ledger.writelock import WriteLock, lock_path_for
from pos.log import get_logger

log = get_logger(__name__)

BUSY_TIMEOUT_MS = 5000  # WeChat waits 5 s for our answer; a lock held longer is a bug anyway
READ_ONLY = {"pos_begin": "BEGIN"}  # execution option for read transactions (SQLite)
_MIGRATIONS = "pos.ledger:migrations"
# A PostgreSQL engine's pool (SQLAlchemy's defaults, named so a chain can budget its server's
# max_connections): up to PG_POOL_SIZE kept open, PG_MAX_OVERFLOW more while busy. A till's
# wake-up holds one more, outside the pool (pos.ledger.wakeups).
PG_POOL_SIZE = 5
PG_MAX_OVERFLOW = 10
_PG_MIGRATION_LOCK = 0x706F735F6C6467  # "pos_ldg": one migrator at a time on a shared server


def create_ledger_engine(
    url: str | URL,
    *,
    busy_timeout_ms: int = BUSY_TIMEOUT_MS,
    pool_size: int = PG_POOL_SIZE,
    max_overflow: int = PG_MAX_OVERFLOW,
) -> Engine:
    """An engine for ``url`` with the per-connection settings above; creates the SQLite file's folder.

    ``pool_size`` and ``max_overflow`` size a PostgreSQL engine's pool (``[database]`` in the
    config); a SQLite file has no server whose connections run out, and keeps its own pool."""
    url = make_url(url)
    if url.get_backend_name() == "postgresql":
        # As SQLite's busy_timeout: a writer waits this long for another's row or table lock,
        # then fails (the listener answers WeChat FAIL and is asked again) instead of hanging.
        return create_engine(
            url,
            pool_pre_ping=True,
            pool_size=pool_size,
            max_overflow=max_overflow,
            connect_args={"options": f"-c lock_timeout={int(busy_timeout_ms)}"},
        )
    if url.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file::memory:"):
        raise LedgerError(
            "the ledger needs a database file shared by the till and the listener, "
            f"not an in-memory database: {url.render_as_string(hide_password=True)}"
        )
    Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, pool_size=5, max_overflow=20, pool_timeout=60)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (see "begin" below)
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            cursor.execute("PRAGMA foreign_keys = ON")
            _ensure_wal(cursor, busy_timeout_ms / 1000)
            cursor.execute(
                "PRAGMA synchronous = NORMAL"
            )  # safe with WAL: a power cut loses no commit's integrity
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql(connection.get_execution_options().get("pos_begin", "BEGIN IMMEDIATE"))

    return engine


@contextmanager
def read_only(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction that sees one snapshot of the ledger for all its statements.

    SQLite: a plain ``BEGIN`` (never blocks the writers; in WAL mode the snapshot is taken at the
    first read and kept to the end). PostgreSQL: ``REPEATABLE READ, READ ONLY``, since its default
    ``READ COMMITTED`` gives each statement its own snapshot, and a CSV read in batches must be one
    moment of the day. A read-only transaction at that level never fails to serialize.
    """
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        else:
            connection.execution_options(**READ_ONLY)
        with connection.begin():
            yield connection


def write_lock(engine: Engine, timeout: float) -> AbstractContextManager[object]:
    """What a write transaction takes before BEGIN: on a SQLite file, a lock shared with every
    process writing to it (:mod:`pos.ledger.writelock`); elsewhere nothing (PostgreSQL's row
    locks decide races without making anyone nap)."""
    if engine.dialect.name != "sqlite" or not engine.url.database:
        return nullcontext()
    return WriteLock(lock_path_for(engine.url.database), timeout=timeout)


def _ensure_wal(cursor: Any, patience: float) -> None:
    """Switch a new file to WAL; once switched, the file remembers it and this is a read.

    Switching needs an exclusive lock, and SQLite does not always wait for it
    (the busy handler is skipped where waiting could deadlock), so two processes
    creating the same file at once retry here rather than fail.
    """
    deadline = time.monotonic() + patience
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                return
            if cursor.execute("PRAGMA journal_mode = WAL").fetchone()[0] == "wal":
                return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc):
                raise
        if time.monotonic() > deadline:
            raise sqlite3.OperationalError("database is locked: could not switch it to WAL mode")
        time.sleep(0.02)


def _alembic_config() -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", _MIGRATIONS)
    return config


def head_revision() -> str:
    """The newest schema revision this code ships."""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The schema revision the database is at (None for an empty database)."""
    with engine.connect() as connection:
        connection.execution_options(**READ_ONLY)
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database to ``revision`` in one transaction; a database already there is untouched.

    Two processes starting at once are safe: on SQLite the second waits for the
    first's write lock and then finds nothing to do; on PostgreSQL an advisory
    lock does the same (however many tills of a chain start together). The one
    that migrated says so in the debug log (``ledger_migrated``).
    """
    config = _alembic_config()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
        before = MigrationContext.configure(connection).get_current_revision()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        after = MigrationContext.configure(connection).get_current_revision()
    if after != before:
        log.debug("ledger_migrated", from_revision=before or "empty", to_revision=after)


def schema_state(engine: Engine) -> tuple[str | None, str, bool]:
    """``(current, head, known)``: the database's revision, the one this code ships, and whether
    this code knows ``current`` at all (False: the database was migrated by a newer pos).

    Reads only: unlike :func:`open_ledger`, nothing is migrated, so ``pos doctor`` can say what
    the till would do instead of doing it.
    """
    current = current_revision(engine)
    script = ScriptDirectory.from_config(_alembic_config())
    known = _known(script, current)
    return current, head_revision(), known


def _known(script: ScriptDirectory, revision: str | None) -> bool:
    if revision is None:
        return True
    try:
        return script.get_revision(revision) is not None
    except Exception:  # alembic raises its own CommandError/ResolutionError for unknown ids
        return False


def probe_write(engine: Engine) -> None:
    """Write to the database and roll the write back: proves that this process may write (file
    permissions, a read-only mount, a role without UPDATE) without leaving a trace.

    The write touches alembic's own bookkeeping row, never a sale, and sets it to what it is.
    Raises what the database raises.
    """
    with engine.connect() as connection:
        transaction = connection.begin()
        try:
            connection.exec_driver_sql("UPDATE alembic_version SET version_num = version_num")
        finally:
            transaction.rollback()
