"""Indexes for the manager's day: its figures and its CSV read a day of sales without the table rows.

The day view adds up a business day by state (counts, totals, refunds, flags)
and by hour of payment; the CSV lists every sale with its items. On a day of
100,000 sales these were the slow part (see bench/report.py): each sale's row,
then each item's row, fetched from the table. These two covering indexes hold
exactly the columns those queries read, so SQLite answers from the index alone:

- ``ix_sales_day_figures`` (business_date, store, state, amounts, flag, times);
- ``ix_sale_items_lines`` (sale_id, position, name, qty): a sale's lines in order.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

DAY_FIGURES = (
    "business_date",
    "store",
    "state",
    "total_fee",
    "refunded_fee",
    "refund_reserved_fee",
    "flagged",
    "paid_at",
    "created_at",
)
LINES = ("sale_id", "position", "name", "qty")


def upgrade() -> None:
    op.create_index("ix_sales_day_figures", "sales", list(DAY_FIGURES))
    op.create_index("ix_sale_items_lines", "sale_items", list(LINES))


def downgrade() -> None:
    op.drop_index("ix_sale_items_lines", table_name="sale_items")
    op.drop_index("ix_sales_day_figures", table_name="sales")
