"""Alembic environment: always run from :func:`pos.ledger.database.upgrade` with a live connection."""

from __future__ import annotations

from alembic import context

from pos.ledger.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reachable by running the alembic CLI by hand
    raise SystemExit("run migrations through pos.ledger.open_ledger(url), not the alembic command")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=True,  # SQLite alters tables by copying them
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
