"""A covering index for the day's CSV: every sale of a business day, in id order, without the table rows.

The manager's CSV export (``pos.till.report.csv_chunks``, ``pos report --csv``)
lists every sale of a day: ten columns, in the order the sales were rung up. The
sales table's rows are wide (code_url, prepay_id, failure, ...), so reading the
day from the table meant reading about 340 bytes a sale for the 130 or so the
CSV prints; on a day of 100,000 sales that was the larger part of SQLite's own
work (see bench/report.py). This index holds the day's key, then ``id`` (so the
rows come out in the CSV's order without a sort), then exactly the columns the
CSV prints, so SQLite answers the query from the index alone.

Its price: about 165 bytes a sale on disk, and each update of a sale's state,
payment or refund also rewrites its entry here.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

DAY_CSV = (
    "business_date",
    "store",
    "id",
    "created_at",
    "out_trade_no",
    "transaction_id",
    "body",
    "total_fee",
    "refunded_fee",
    "state",
    "lane",
    "cashier",
    "paid_at",
)


def upgrade() -> None:
    op.create_index("ix_sales_day_csv", "sales", list(DAY_CSV))


def downgrade() -> None:
    op.drop_index("ix_sales_day_csv", table_name="sales")
