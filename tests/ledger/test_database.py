"""Opening the ledger: migrations to head, idempotent reopen, per-connection SQLite settings."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from pos.ledger import LedgerError, open_ledger
from pos.ledger.database import READ_ONLY, create_ledger_engine, current_revision, head_revision
from pos.ledger.schema import metadata

TABLES = {
    "sales",
    "sale_items",
    "payments",
    "refunds",
    "print_jobs",
    "messages",
    "events",
    "flags",
    "day_sequences",
    "alembic_version",
}


def test_empty_database_is_migrated_to_head(empty_db_url):
    engine = create_ledger_engine(empty_db_url)
    assert current_revision(engine) is None
    engine.dispose()

    with open_ledger(empty_db_url) as ledger:
        assert current_revision(ledger.engine) == head_revision()
        assert set(inspect(ledger.engine).get_table_names()) >= TABLES


def test_migrated_schema_matches_the_code(db_url):
    """The migrations build exactly what schema.py describes: no drift either way."""
    with open_ledger(db_url) as ledger, ledger.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert diff == []


def test_every_table_is_in_schema_py_alone(db_url):
    """schema.py by itself describes every table the migrations build: no other module has to be
    imported for a table to join the metadata (a fresh interpreter imports schema.py alone)."""
    code = "from pos.ledger.schema import metadata; print(' '.join(sorted(metadata.tables)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    with open_ledger(db_url) as ledger:
        migrated = set(inspect(ledger.engine).get_table_names()) - {"alembic_version"}
    assert set(out.split()) == migrated
    assert {"reconciliations", "reconciliation_differences", "cashiers"} <= migrated


def test_opening_twice_changes_nothing(db_url, clock):
    with open_ledger(db_url, clock=clock) as first:
        sale = first.create_sale(store="S01", lane="01", total_fee=100, body="test")
        before = inspect(first.engine).get_table_names()
    with open_ledger(db_url, clock=clock) as second:
        assert current_revision(second.engine) == head_revision()
        assert inspect(second.engine).get_table_names() == before
        assert second.get_sale(sale.id) == sale


def test_sqlite_file_is_created_with_its_folder_in_wal_mode(tmp_path):
    path = tmp_path / "data" / "deeper" / "pos.sqlite3"
    with open_ledger(f"sqlite:///{path}"):
        assert path.exists()
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # WAL is kept by the file


def test_every_connection_gets_foreign_keys_and_busy_timeout(tmp_path):
    with open_ledger(f"sqlite:///{tmp_path / 'pos.sqlite3'}", busy_timeout_ms=1234) as ledger:
        connections = [ledger.engine.connect().execution_options(**READ_ONLY) for _ in range(3)]
        try:
            for conn in connections:
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
                assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 1234
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        finally:
            for conn in connections:
                conn.close()


def test_foreign_keys_are_enforced(ledger, clock):
    with pytest.raises(Exception, match=r"(?i)foreign key"):
        ledger.enqueue_job("sale_slip", sale_id=999_999)


def test_in_memory_sqlite_is_refused():
    with pytest.raises(LedgerError, match="file"):
        open_ledger("sqlite://")
    with pytest.raises(LedgerError, match="file"):
        open_ledger("sqlite:///:memory:")


def _open_at_once(url: str, openers: int) -> list[BaseException]:
    errors: list[BaseException] = []
    barrier = threading.Barrier(openers)

    def opener():
        try:
            barrier.wait()
            open_ledger(url).close()
        except BaseException as exc:  # pragma: no cover - reported by the caller
            errors.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(openers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_several_openers_of_a_new_file_at_once_all_succeed(tmp_path):
    """Till and listener starting together on a new file: the WAL switch and the migration
    each happen once, and nobody fails with "database is locked"."""
    for attempt in range(5):
        url = f"sqlite:///{tmp_path / str(attempt) / 'pos.sqlite3'}"
        assert _open_at_once(url, 6) == []
        engine = create_ledger_engine(url)
        assert current_revision(engine) == head_revision()
        engine.dispose()


def test_two_openers_at_once_migrate_once(empty_db_url):
    assert _open_at_once(empty_db_url, 4) == []
    engine = create_ledger_engine(empty_db_url)
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_unknown_time_zone_is_refused(db_url):
    with pytest.raises(LedgerError, match="time zone"):
        open_ledger(db_url, timezone="Mars/Olympus")
