"""Every change to a business day's sales counts, so a copy of the day can tell it is still exact.

The manager's CSV of a big day takes a few hundred milliseconds to write, and
most of a day does not change between two downloads; the till keeps what it
made and writes again only what changed (pos.till.kept_csv). "Not changed"
must be exact to the fen, so it is the database's to say: on SQLite, triggers
on ``sales`` add one to ``day_revisions`` for the sale's business day, store and
block of ids (``id / 4096``: a day of 100,000 sales spans about 25 blocks) in
the same transaction as any insert, update or delete of a sale, whoever writes
it. Existing days start at 1.

PostgreSQL gets the table but no triggers: there several tills share the ledger,
and one counter row per day and store would make every till's payment wait for
the others' to commit. Its tills make every CSV afresh.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# Frozen here on purpose: a migration is history and must not follow later code.
# UPDATE, then INSERT OR IGNORE: the first change of a day makes its row (any SQLite version).
_BLOCK = 4096  # ids per block (pos.ledger.schema.DAY_REVISION_BLOCK)
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
        # A sale moved to another day or store (the ledger never does it) changes both days.
        "UPDATE day_revisions SET revision = revision + 1 WHERE business_date = OLD.business_date "
        f"AND store = OLD.store AND block = OLD.id / {_BLOCK} "
        "AND (OLD.business_date IS NOT NEW.business_date OR OLD.store IS NOT NEW.store); "
        "END"
    ),
    "tr_sales_day_revision_delete": f"AFTER DELETE ON sales BEGIN {_BUMP.format(row='OLD')} END",
}


def upgrade() -> None:
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


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in _TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("day_revisions")
