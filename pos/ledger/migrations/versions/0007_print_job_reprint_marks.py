"""A print job remembers when its bytes began to go out, and whether it may have printed before.

After a crash a job left "printing" is printed again (a lost confirmation is worse than a
second one). If its bytes had begun to go out, the customer may already hold a copy: the
new copy must say so on paper (REPRINT, with the time of the first one), like a manual
reprint. ``sent_at`` is set by the spooler just before it writes a job's bytes (cleared
when the write fails with nothing written); ``interrupted_at`` is set from it when the job
is re-queued after a crash (or a write cut short), and kept for good.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (nullable, no default): in place on SQLite and PostgreSQL alike.
    op.add_column("print_jobs", sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("print_jobs", sa.Column("interrupted_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # SQLite has dropped a plain column in place since 3.35.
    op.drop_column("print_jobs", "interrupted_at")
    op.drop_column("print_jobs", "sent_at")
