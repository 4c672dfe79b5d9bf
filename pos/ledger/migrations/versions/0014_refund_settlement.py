"""Refunds of coupon payments: what the merchant gives back and what the customer gets back.

When a payment used a coupon, WeChat's refund answers, refund queries, refund notices and the
bill say how much of each refund the merchant settles back (wechatpay-v2.md §7:
``settlement_refund_fee``, 应结退款金额 = refund − the merchant-funded coupon's share; v3
``amount.settlement_refund``; the bill's 退款金额 beside 申请退款金额) and how much went back in
cash (``cash_refund_fee``; v3 ``amount.payer_refund``). ``refunds`` gains both columns.

NULL means "the same as refund_fee": every refund before this revision (earlier code kept
neither) and every refund of a payment without a coupon. Nothing is filled in: a refund of a
merchant-funded coupon payment made before this revision counts as settled back in full, as it
did before.

Both are plain nullable ``ADD COLUMN``s: in place on SQLite and PostgreSQL.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_COLUMNS = ("settlement_refund_fee", "cash_refund_fee")


def upgrade() -> None:
    for column in _COLUMNS:
        op.add_column("refunds", sa.Column(column, sa.Integer(), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+), as 0010 does: a batch copy of ``refunds`` is not needed.
    for column in _COLUMNS:
        op.execute(f"ALTER TABLE refunds DROP COLUMN {column}")
