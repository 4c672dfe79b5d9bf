"""Reconciliation with WeChat's bill: one row per run, its differences beside it.

``pos reconcile`` (and the manager's "reconcile now") downloads a day's bill and
matches it against the ledger; each run and what it found is kept, so the day
view shows the latest verdict and the history stays auditable. See
:mod:`pos.ledger.reconciliation`.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reconciliations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("ran_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("message", sa.Text(), server_default="", nullable=False),
        sa.Column("matched", sa.Integer(), nullable=False),
        sa.Column("bill_rows", sa.Integer(), nullable=False),
        sa.Column("store", sa.String(length=8), server_default="", nullable=False),
        sa.CheckConstraint(
            "status IN ('matched', 'differences', 'no_bill', 'not_ready', 'error')",
            name=op.f("ck_reconciliations_status_known"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliations")),
    )
    with op.batch_alter_table("reconciliations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reconciliations_business_date_id"), ["business_date", "id"], unique=False
        )

    op.create_table(
        "reconciliation_differences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reconciliation_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("out_trade_no", sa.String(length=64), nullable=False),
        sa.Column("transaction_id", sa.String(length=64), server_default="", nullable=False),
        sa.Column("out_refund_no", sa.String(length=64), server_default="", nullable=False),
        sa.Column("ledger_fee", sa.Integer(), nullable=True),
        sa.Column("bill_fee", sa.Integer(), nullable=True),
        sa.Column("detail", sa.Text(), server_default="", nullable=False),
        sa.CheckConstraint(
            "kind IN ('missing_in_ledger', 'paid_at_wechat_only', 'missing_at_wechat', 'amount', 'state', "
            "'other_channel')",
            name=op.f("ck_reconciliation_differences_kind_known"),
        ),
        sa.ForeignKeyConstraint(
            ["reconciliation_id"],
            ["reconciliations.id"],
            name=op.f("fk_reconciliation_differences_reconciliation_id_reconciliations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliation_differences")),
    )
    with op.batch_alter_table("reconciliation_differences", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reconciliation_differences_reconciliation_id"), ["reconciliation_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("reconciliation_differences", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reconciliation_differences_reconciliation_id"))
    op.drop_table("reconciliation_differences")
    with op.batch_alter_table("reconciliations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reconciliations_business_date_id"))
    op.drop_table("reconciliations")
