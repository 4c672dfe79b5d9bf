"""A print job names the till that prints it: many tills, one ledger.

Each till's spooler prints only its own jobs (``print_jobs.store`` and ``lane``, the till's
``[store] id`` and ``[till] lane``). Existing rows take their sale's till: a sale's slips were
always meant for the till that rang it up. Rows without a sale (a Z report, a label, a test
slip queued before this revision) keep ``("", "")``, "no till in particular": the first till
whose spooler looks takes such a job (and its till is written on the row as it claims it), so
a one-till shop prints what it had queued across the upgrade, exactly once.

The columns are ``NOT NULL DEFAULT ''``: an in-place ``ADD COLUMN`` on SQLite and PostgreSQL.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("print_jobs", sa.Column("store", sa.String(8), nullable=False, server_default=""))
    op.add_column("print_jobs", sa.Column("lane", sa.String(4), nullable=False, server_default=""))
    # Correlated subqueries: the same statement on both databases, one pass over the queue.
    op.execute(
        """
        UPDATE print_jobs SET
            store = (SELECT sales.store FROM sales WHERE sales.id = print_jobs.sale_id),
            lane = (SELECT sales.lane FROM sales WHERE sales.id = print_jobs.sale_id)
        WHERE sale_id IS NOT NULL
        """
    )


def downgrade() -> None:
    # SQLite has dropped a plain column in place since 3.35.
    op.drop_column("print_jobs", "lane")
    op.drop_column("print_jobs", "store")
