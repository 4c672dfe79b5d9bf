"""Each sale keeps its lines as one listing text (``拿铁×2; 柠檬茶×1``), written when it is rung up.

The day view and the day's CSV list every sale with its items. Joining each
sale's lines in the database for every listing was the slowest part of the CSV
of a big day (about 150 ms of a 100,000-sale day, see bench/report.py). A sale's
lines never change once it is rung up, so the ledger now stores the listing text
beside the sale in the same transaction, and the index revision 0004 made for
that join (``ix_sale_items_lines``) goes. Existing sales get their text here,
built from their lines in order; a sale keyed in as one amount has none (NULL),
and readers show its ``body``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# Frozen here on purpose: a migration is history and must not follow later code.
_BACKFILL_POSTGRESQL = """
UPDATE sales SET items_text = (
    SELECT string_agg(name || '×' || qty, '; ' ORDER BY position) FROM sale_items WHERE sale_id = sales.id
)
"""
# SQLite before 3.44 has no ORDER BY inside an aggregate; group_concat keeps the subquery's order.
_BACKFILL_SQLITE = """
UPDATE sales SET items_text = (
    SELECT group_concat(line, '; ') FROM (
        SELECT name || '×' || qty AS line FROM sale_items WHERE sale_id = sales.id ORDER BY position
    )
)
"""


def upgrade() -> None:
    with op.batch_alter_table("sales", schema=None) as batch_op:
        batch_op.add_column(sa.Column("items_text", sa.Text(), nullable=True))
    dialect = op.get_bind().dialect.name
    op.execute(_BACKFILL_POSTGRESQL if dialect == "postgresql" else _BACKFILL_SQLITE)
    op.drop_index("ix_sale_items_lines", table_name="sale_items")


def downgrade() -> None:
    op.create_index("ix_sale_items_lines", "sale_items", ["sale_id", "position", "name", "qty"])
    # Not batch mode: on SQLite it copies the sales table, which its foreign keys forbid; SQLite
    # has dropped a plain column in place since 3.35.
    op.drop_column("sales", "items_text")
