"""An index on ``refunds.state``: the open refunds are found without reading every refund.

Each till's watcher follows its own PENDING refunds up with WeChat on a schedule
(:mod:`pos.till.refundwatch`) and looks for them on every pass. Almost every refund is final,
so the index keeps that look one indexed read that finds nothing, however many refunds the
ledger holds.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_refunds_state"), ["state"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_refunds_state"))
