"""Initial ledger schema: sales and their items, payments, refunds, print jobs,
the audit log of received messages, events, flags for the manager, and the
per-day out_trade_no sequences.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "day_sequences",
        sa.Column("store", sa.String(length=8), nullable=False),
        sa.Column("lane", sa.String(length=4), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("store", "lane", "business_date", name=op.f("pk_day_sequences")),
    )
    op.create_table(
        "messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("out_trade_no", sa.String(length=32), nullable=True),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("verdict", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
    )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_messages_out_trade_no"), ["out_trade_no"], unique=False)

    op.create_table(
        "sales",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("out_trade_no", sa.String(length=32), nullable=False),
        sa.Column("store", sa.String(length=8), nullable=False),
        sa.Column("lane", sa.String(length=4), nullable=False),
        sa.Column("cashier", sa.String(length=64), server_default="", nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("body", sa.String(length=128), nullable=False),
        sa.Column("total_fee", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("sign_type", sa.String(length=16), nullable=False),
        sa.Column("code_url", sa.String(length=256), nullable=True),
        sa.Column("prepay_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ordered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("transaction_id", sa.String(length=32), nullable=True),
        sa.Column("failure", sa.Text(), nullable=True),
        sa.Column("refund_reserved_fee", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("refunded_fee", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("flagged", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "state IN ('NEW', 'AWAITING_PAYMENT', 'PAID', 'PARTLY_REFUNDED', 'REFUNDED', "
            "'EXPIRED', 'VOIDED', 'FAILED')",
            name=op.f("ck_sales_state_known"),
        ),
        sa.CheckConstraint(
            "refund_reserved_fee >= refunded_fee AND refunded_fee >= 0 AND refund_reserved_fee <= total_fee",
            name=op.f("ck_sales_refunds_within_total"),
        ),
        sa.CheckConstraint("total_fee > 0", name=op.f("ck_sales_total_fee_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sales")),
        sa.UniqueConstraint("out_trade_no", name=op.f("uq_sales_out_trade_no")),
    )
    with op.batch_alter_table("sales", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sales_business_date"), ["business_date"], unique=False)
        batch_op.create_index(batch_op.f("ix_sales_state"), ["state"], unique=False)

    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sale_id", sa.Integer(), nullable=True),
        sa.Column("event", sa.String(length=40), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["sale_id"], ["sales.id"], name=op.f("fk_events_sale_id_sales")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_events_sale_id"), ["sale_id"], unique=False)

    op.create_table(
        "flags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sale_id", sa.Integer(), nullable=True),
        sa.Column("out_trade_no", sa.String(length=32), nullable=True),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("dedupe_key", sa.String(length=160), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(length=64), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["sale_id"], ["sales.id"], name=op.f("fk_flags_sale_id_sales")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flags")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_flags_dedupe_key")),
    )
    with op.batch_alter_table("flags", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_flags_sale_id"), ["sale_id"], unique=False)

    op.create_table(
        "payments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sale_id", sa.Integer(), nullable=False),
        sa.Column("transaction_id", sa.String(length=32), nullable=False),
        sa.Column("total_fee", sa.Integer(), nullable=False),
        sa.Column("cash_fee", sa.Integer(), nullable=True),
        sa.Column("openid", sa.String(length=128), nullable=True),
        sa.Column("time_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("accepted", sa.Boolean(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("source IN ('notice', 'query', 'bill')", name=op.f("ck_payments_source_known")),
        sa.ForeignKeyConstraint(["sale_id"], ["sales.id"], name=op.f("fk_payments_sale_id_sales")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint("transaction_id", name=op.f("uq_payments_transaction_id")),
    )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payments_sale_id"), ["sale_id"], unique=False)
        batch_op.create_index(
            "uq_payments_accepted_sale",
            ["sale_id"],
            unique=True,
            sqlite_where=sa.text("accepted"),
            postgresql_where=sa.text("accepted"),
        )

    op.create_table(
        "print_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sale_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("payload", sa.Text(), nullable=True),
        sa.Column("reprint_of", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("printed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "kind IN ('sale_slip', 'confirmation', 'void_notice', 'expired_notice', 'refund_slip', "
            "'z_report', 'label', 'test')",
            name=op.f("ck_print_jobs_kind_known"),
        ),
        sa.CheckConstraint("state IN ('queued', 'printing', 'done')", name=op.f("ck_print_jobs_state_known")),
        sa.ForeignKeyConstraint(
            ["reprint_of"], ["print_jobs.id"], name=op.f("fk_print_jobs_reprint_of_print_jobs")
        ),
        sa.ForeignKeyConstraint(["sale_id"], ["sales.id"], name=op.f("fk_print_jobs_sale_id_sales")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_print_jobs")),
    )
    with op.batch_alter_table("print_jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_print_jobs_sale_id"), ["sale_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_print_jobs_state_id"), ["state", "id"], unique=False)

    op.create_table(
        "refunds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sale_id", sa.Integer(), nullable=False),
        sa.Column("out_refund_no", sa.String(length=64), nullable=False),
        sa.Column("refund_fee", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("refund_id", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column("failure", sa.Text(), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "state IN ('PENDING', 'SUCCEEDED', 'FAILED')", name=op.f("ck_refunds_state_known")
        ),
        sa.CheckConstraint("refund_fee > 0", name=op.f("ck_refunds_refund_fee_positive")),
        sa.ForeignKeyConstraint(["sale_id"], ["sales.id"], name=op.f("fk_refunds_sale_id_sales")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refunds")),
        sa.UniqueConstraint("out_refund_no", name=op.f("uq_refunds_out_refund_no")),
    )
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_refunds_sale_id"), ["sale_id"], unique=False)

    op.create_table(
        "sale_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sale_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("qty", sa.Integer(), nullable=False),
        sa.Column("unit_price", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "qty > 0 AND unit_price >= 0 AND amount = qty * unit_price",
            name=op.f("ck_sale_items_amount_adds_up"),
        ),
        sa.ForeignKeyConstraint(["sale_id"], ["sales.id"], name=op.f("fk_sale_items_sale_id_sales")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sale_items")),
    )
    with op.batch_alter_table("sale_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sale_items_sale_id"), ["sale_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sale_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sale_items_sale_id"))

    op.drop_table("sale_items")
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_refunds_sale_id"))

    op.drop_table("refunds")
    with op.batch_alter_table("print_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_print_jobs_state_id"))
        batch_op.drop_index(batch_op.f("ix_print_jobs_sale_id"))

    op.drop_table("print_jobs")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_payments_accepted_sale",
            sqlite_where=sa.text("accepted"),
            postgresql_where=sa.text("accepted"),
        )
        batch_op.drop_index(batch_op.f("ix_payments_sale_id"))

    op.drop_table("payments")
    with op.batch_alter_table("flags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_flags_sale_id"))

    op.drop_table("flags")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_events_sale_id"))

    op.drop_table("events")
    with op.batch_alter_table("sales", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sales_state"))
        batch_op.drop_index(batch_op.f("ix_sales_business_date"))

    op.drop_table("sales")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_messages_out_trade_no"))

    op.drop_table("messages")
    op.drop_table("day_sequences")
