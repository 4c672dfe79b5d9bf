"""Cashiers who sign in at the till with a PIN (its hash only).

``pos cashier add NAME`` writes a row; the cashier's page asks for the PIN when
any row exists. Sales already record their cashier's name (``sales.cashier``),
voids and reprints record theirs in the event log. See :mod:`pos.ledger.cashiers`.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cashiers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("pin_hash", sa.String(length=256), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cashiers")),
        sa.UniqueConstraint("name", name=op.f("uq_cashiers_name")),
    )


def downgrade() -> None:
    op.drop_table("cashiers")
