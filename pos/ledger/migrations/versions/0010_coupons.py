"""Coupons: what the customer paid and what the merchant settles, kept per payment and per sale.

A customer may pay with a coupon (reference/wechatpay-micropay.md §5): WeChat then reports
``cash_fee`` (what the customer paid) below ``total_fee`` (the order's amount, the sale's price),
``coupon_fee`` (the coupons' total) and, when the coupon is the merchant's own (免充值, NO_CASH),
``settlement_total_fee`` (应结订单金额: what the merchant settles; absent, it is ``total_fee``).

- ``payments`` gains ``coupon_fee`` and ``settlement_total_fee`` beside its ``cash_fee``;
- ``sales`` gains the three figures of its accepted payment (``cash_fee``, ``coupon_fee``,
  ``settlement_total_fee``; NULL while unpaid), written with the paid state in the same
  statement, as ``transaction_id`` is: the day view, the Z report and the CSV add them up
  without joining every payment;
- ``ix_sales_day_figures`` covers them, so the day's figures still come from the index alone;
- a reconciliation difference may be of kind ``settlement`` (the bill's 应结订单金额 is not the
  ledger's settlement amount).

Existing payments are filled in as their reports said: no coupon where ``cash_fee`` was the
total (or unknown), ``coupon_fee`` = total - cash otherwise, and ``settlement_total_fee`` =
``total_fee`` (earlier code did not keep it; a merchant-funded coupon paid before this revision
shows as settled in full). Each paid sale gets its accepted payment's figures.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# Frozen here on purpose (copies of 0003's and 0004's with the new values): a migration is history.
_KINDS = ("missing_in_ledger", "paid_at_wechat_only", "missing_at_wechat", "amount", "state", "other_channel")
_DAY_FIGURES = (
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
_SALE_FIGURES = ("cash_fee", "coupon_fee", "settlement_total_fee")


def _kinds_check(kinds: tuple[str, ...]) -> str:
    return f"kind IN ({', '.join(repr(k) for k in kinds)})"


def _set_kinds(kinds: tuple[str, ...]) -> None:
    name = op.f("ck_reconciliation_differences_kind_known")
    with op.batch_alter_table("reconciliation_differences") as batch_op:  # SQLite: a copy; PG: ALTER
        batch_op.drop_constraint(name, type_="check")
        batch_op.create_check_constraint(name, _kinds_check(kinds))


def upgrade() -> None:
    op.add_column("payments", sa.Column("coupon_fee", sa.Integer(), nullable=True))
    op.add_column("payments", sa.Column("settlement_total_fee", sa.Integer(), nullable=True))
    for column in _SALE_FIGURES:
        op.add_column("sales", sa.Column(column, sa.Integer(), nullable=True))
    op.execute(
        "UPDATE payments SET "
        "coupon_fee = CASE WHEN cash_fee IS NOT NULL AND cash_fee < total_fee "
        "THEN total_fee - cash_fee ELSE 0 END, "
        "cash_fee = COALESCE(cash_fee, total_fee), "
        "settlement_total_fee = total_fee"
    )
    for column in _SALE_FIGURES:
        op.execute(
            f"UPDATE sales SET {column} = (SELECT p.{column} FROM payments p "
            "WHERE p.sale_id = sales.id AND p.accepted) "
            "WHERE EXISTS (SELECT 1 FROM payments p WHERE p.sale_id = sales.id AND p.accepted)"
        )
    op.drop_index("ix_sales_day_figures", table_name="sales")
    op.create_index("ix_sales_day_figures", "sales", [*_DAY_FIGURES, *_SALE_FIGURES])
    _set_kinds((*_KINDS, "settlement"))


def downgrade() -> None:
    op.execute("DELETE FROM reconciliation_differences WHERE kind = 'settlement'")
    _set_kinds(_KINDS)
    op.drop_index("ix_sales_day_figures", table_name="sales")
    op.create_index("ix_sales_day_figures", "sales", list(_DAY_FIGURES))
    # Plain DROP COLUMN (SQLite 3.35+): a batch copy of ``sales`` could not drop the table that
    # payments, refunds and print jobs point at.
    for table, columns in (("sales", _SALE_FIGURES), ("payments", ("coupon_fee", "settlement_total_fee"))):
        for column in columns:
            op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
