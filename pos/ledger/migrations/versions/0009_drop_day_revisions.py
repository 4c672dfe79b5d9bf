"""Drop revision 0006's count of changes to each day's sales: the manager's CSV streams instead.

Revision 0006 made SQLite count every insert, update and delete of a sale (by
business day, store and block of ids, in ``day_revisions``) so that the till
could keep a big day's CSV in memory and write again only the blocks that
changed. The CSV now streams from one snapshot of the day in bounded memory
(pos.ledger.queries.csv_batches), on SQLite and PostgreSQL alike, so nothing
reads the count, and every change of a sale no longer pays for it.

The downgrade makes table and triggers again as 0006 made them, counting each
existing day once.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# Frozen here on purpose (a copy of 0006's): a migration is history and must not follow later code.
_BLOCK = 4096
_BUMP = f"""
    UPDATE day_revisions SET revision = revision + 1
        WHERE business_date = {{row}}.business_date AND store = {{row}}.store
          AND block = {{row}}.id / {_BLOCK};
    INSERT OR IGNORE INTO day_revisions (business_date, store, block, revision)
        VALUES ({{row}}.business_date, {{row}}.store, {{row}}.id / {_BLOCK}, 1);
"""
_TRIGGERS = {
    "tr_sales_day_revision_insert": f"AFTER INSERT ON sales BEGIN {_BUMP.format(row='NEW')} END",
    "tr_sales_day_revision_update": (
        f"AFTER UPDATE ON sales BEGIN {_BUMP.format(row='NEW')} "
        "UPDATE day_revisions SET revision = revision + 1 WHERE business_date = OLD.business_date "
        f"AND store = OLD.store AND block = OLD.id / {_BLOCK} "
        "AND (OLD.business_date IS NOT NEW.business_date OR OLD.store IS NOT NEW.store); "
        "END"
    ),
    "tr_sales_day_revision_delete": f"AFTER DELETE ON sales BEGIN {_BUMP.format(row='OLD')} END",
}


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":  # PostgreSQL never had the triggers (see 0006)
        for name in _TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("day_revisions")


def downgrade() -> None:
    op.create_table(
        "day_revisions",
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("store", sa.String(length=8), nullable=False),
        sa.Column("block", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("business_date", "store", "block", name=op.f("pk_day_revisions")),
    )
    op.execute(
        "INSERT INTO day_revisions (business_date, store, block, revision) "
        f"SELECT business_date, store, id / {_BLOCK}, 1 FROM sales "
        f"GROUP BY business_date, store, id / {_BLOCK}"
    )
    if op.get_bind().dialect.name == "sqlite":
        for name, body in _TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {body}")
