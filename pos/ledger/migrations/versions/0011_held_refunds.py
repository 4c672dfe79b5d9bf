"""Refunds WeChat could not return to the customer (CHANGE) are HELD until the manager acts.

A refund whose money could not go back to the customer's card (refund_status CHANGE, v3
ABNORMAL) used to be FAILED, which released its reserved amount as if nothing had happened.
It is now HELD: the amount stays reserved, the sale is not refunded, and the manager settles it
(re-sent on WeChat's merchant platform, or paid another way), recorded in ``resolution``.

The downgrade turns HELD refunds back into FAILED ones (releasing their reservation, as the
older code did) and drops the column.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# Frozen here on purpose: a migration is history and must not follow later code.
_NEW = "state IN ('PENDING', 'SUCCEEDED', 'FAILED', 'HELD')"
_OLD = "state IN ('PENDING', 'SUCCEEDED', 'FAILED')"


def upgrade() -> None:
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("resolution", sa.String(length=16), nullable=True))
        batch_op.drop_constraint(batch_op.f("ck_refunds_state_known"), type_="check")
        batch_op.create_check_constraint(batch_op.f("ck_refunds_state_known"), sa.text(_NEW))


def downgrade() -> None:
    op.execute(
        "UPDATE sales SET refund_reserved_fee = refund_reserved_fee - (SELECT COALESCE(SUM(refund_fee), 0) "
        "FROM refunds WHERE refunds.sale_id = sales.id AND refunds.state = 'HELD') "
        "WHERE id IN (SELECT sale_id FROM refunds WHERE state = 'HELD')"
    )
    op.execute("UPDATE refunds SET state = 'FAILED' WHERE state = 'HELD'")
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_refunds_state_known"), type_="check")
        batch_op.create_check_constraint(batch_op.f("ck_refunds_state_known"), sa.text(_OLD))
        batch_op.drop_column("resolution")
