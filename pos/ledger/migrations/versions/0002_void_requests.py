"""Void requests: the cashier asked to void a sale before WeChat allows closing its order.

WeChat refuses closeorder for the first 5 minutes of an order. A void asked for
in that window is kept on the sale (who, when) so the payment watcher closes the
order as soon as it may, even after a restart.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sales", schema=None) as batch_op:
        batch_op.add_column(sa.Column("void_requested_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("void_requested_by", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sales", schema=None) as batch_op:
        batch_op.drop_column("void_requested_by")
        batch_op.drop_column("void_requested_at")
