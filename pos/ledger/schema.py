"""The ledger's tables, in SQLAlchemy Core, the same on SQLite and PostgreSQL.

Every table the ledger keeps is here (sales and their lines, payments, refunds,
the print queue, the audit trail, reconciliation results, cashiers): this is the
shape the code reads and writes. The database gets it through the
migrations in ``migrations/versions`` (never ``metadata.create_all``); a test
checks that the migrated database and this metadata agree.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    text,
)

from pos.ledger.errors import InvalidInput

# What a ledger can hold, on SQLite and PostgreSQL alike. Row ids are ``Integer`` columns: 32 bits
# on PostgreSQL (64 on SQLite), so an id beyond this is no row, and asking for it would overflow the
# driver. Business days: times are stored as UTC and a day's bounds are computed in the store's zone
# (and the chart looks weeks back), so days near Python's year 1 or 9999 would overflow; this
# calendar leaves decades of room either way and no shop ever trades outside it.
MAX_ROW_ID = 2**31 - 1
FIRST_DAY = date(1970, 1, 1)
LAST_DAY = date(9998, 12, 31)

# Constraint names are fixed so migrations can refer to them on every database.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on every backend.

    SQLite has no time zones: values are stored as UTC text and read back with
    ``tzinfo=UTC``. Naive datetimes are refused rather than guessed at.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidInput(f"refusing to store a naive datetime: {value!r}")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


SALE_STATES = (
    "NEW",
    "AWAITING_PAYMENT",
    "PAID",
    "PARTLY_REFUNDED",
    "REFUNDED",
    "EXPIRED",
    "VOIDED",
    "FAILED",
)
JOB_KINDS = (
    "sale_slip",
    "confirmation",
    "void_notice",
    "expired_notice",
    "refund_slip",
    "z_report",
    "label",
    "test",
)


REFUND_STATES = ("PENDING", "SUCCEEDED", "FAILED", "HELD")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


sales = Table(
    "sales",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("out_trade_no", String(32), nullable=False, unique=True),
    Column("store", String(8), nullable=False),
    Column("lane", String(4), nullable=False),
    Column("cashier", String(64), nullable=False, server_default=""),
    Column("business_date", Date, nullable=False, index=True),
    Column("body", String(128), nullable=False),
    Column("total_fee", Integer, nullable=False),
    Column("state", String(20), nullable=False, index=True),
    Column("sign_type", String(16), nullable=False),
    Column("code_url", String(256)),
    Column("prepay_id", String(64)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("ordered_at", UTCDateTime),
    Column("expires_at", UTCDateTime),
    Column("paid_at", UTCDateTime),
    Column("closed_at", UTCDateTime),
    Column("transaction_id", String(32)),
    Column("failure", Text),
    Column("refund_reserved_fee", Integer, nullable=False, server_default=text("0")),
    Column("refunded_fee", Integer, nullable=False, server_default=text("0")),
    Column("flagged", Boolean, nullable=False, server_default=text("false")),
    Column("updated_at", UTCDateTime, nullable=False),
    # The cashier asked to void before WeChat allowed closing the order (revision 0002).
    Column("void_requested_at", UTCDateTime),
    Column("void_requested_by", String(64)),
    # The sale's lines as one listing text, written when it is rung up (revision 0005): the day
    # view and the day's CSV list every sale with its items without joining its lines. NULL for
    # a sale keyed in as one amount (readers show ``body``). See models.items_listing.
    Column("items_text", Text),
    # The accepted payment's coupon figures (revision 0010; pos.ledger.payments), NULL while unpaid:
    # what the customer paid, the coupons' total, and what the merchant settles (应结订单金额).
    # total_fee stays the sale's price. Written with the paid state, as transaction_id is.
    Column("cash_fee", Integer),
    Column("coupon_fee", Integer),
    Column("settlement_total_fee", Integer),
    CheckConstraint("total_fee > 0", name="total_fee_positive"),
    CheckConstraint(_one_of("state", SALE_STATES), name="state_known"),
    CheckConstraint(
        "refund_reserved_fee >= refunded_fee AND refunded_fee >= 0 AND refund_reserved_fee <= total_fee",
        name="refunds_within_total",
    ),
)

# The manager's day view adds a day up from this index alone (revision 0004; pos.reports.day).
Index(
    "ix_sales_day_figures",
    sales.c.business_date,
    sales.c.store,
    sales.c.state,
    sales.c.total_fee,
    sales.c.refunded_fee,
    sales.c.refund_reserved_fee,
    sales.c.flagged,
    sales.c.paid_at,
    sales.c.created_at,
    sales.c.cash_fee,
    sales.c.coupon_fee,
    sales.c.settlement_total_fee,
)

sale_items = Table(
    "sale_items",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("sale_id", Integer, ForeignKey("sales.id"), nullable=False, index=True),
    Column("position", Integer, nullable=False),
    Column("name", String(128), nullable=False),
    Column("qty", Integer, nullable=False),
    Column("unit_price", Integer, nullable=False),
    Column("amount", Integer, nullable=False),
    CheckConstraint("qty > 0 AND unit_price >= 0 AND amount = qty * unit_price", name="amount_adds_up"),
)

payments = Table(
    "payments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("sale_id", Integer, ForeignKey("sales.id"), nullable=False, index=True),
    Column("transaction_id", String(32), nullable=False, unique=True),
    Column("total_fee", Integer, nullable=False),
    Column("cash_fee", Integer),  # what the customer paid (total_fee less the coupons)
    # Revision 0010: the coupons' total, and what the merchant settles (应结订单金额; total_fee
    # when WeChat sends none). Written for every payment since; filled in for older ones.
    Column("coupon_fee", Integer),
    Column("settlement_total_fee", Integer),
    Column("openid", String(128)),
    Column("time_end", UTCDateTime, nullable=False),
    Column("source", String(8), nullable=False),
    Column("accepted", Boolean, nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    CheckConstraint(_one_of("source", ("notice", "query", "bill")), name="source_known"),
)
# One accepted payment per sale: the database itself refuses a second.
Index(
    "uq_payments_accepted_sale",
    payments.c.sale_id,
    unique=True,
    sqlite_where=payments.c.accepted,
    postgresql_where=payments.c.accepted,
)

refunds = Table(
    "refunds",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("sale_id", Integer, ForeignKey("sales.id"), nullable=False, index=True),
    Column("out_refund_no", String(64), nullable=False, unique=True),
    Column("refund_fee", Integer, nullable=False),
    # Indexed (revision 0013): each till's refund follow-up (pos.till.refundwatch) reads the open
    # (PENDING) refunds on every pass; with none open that read must cost next to nothing.
    Column("state", String(12), nullable=False, index=True),
    Column("refund_id", String(32)),
    Column("reason", Text, nullable=False, server_default=""),
    Column("failure", Text),
    Column("requested_at", UTCDateTime, nullable=False),
    Column("completed_at", UTCDateTime),
    Column("resolution", String(16)),  # how the manager settled a HELD refund (migration 0011)
    # A coupon payment's refund (migration 0014): 应结退款金额, what the merchant gives back, and
    # what went back to the customer in cash. NULL: the same as refund_fee.
    Column("settlement_refund_fee", Integer),
    Column("cash_refund_fee", Integer),
    CheckConstraint("refund_fee > 0", name="refund_fee_positive"),
    CheckConstraint(_one_of("state", REFUND_STATES), name="state_known"),
)

print_jobs = Table(
    "print_jobs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("sale_id", Integer, ForeignKey("sales.id"), index=True),
    Column("kind", String(16), nullable=False),
    Column("state", String(10), nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("last_error", Text),
    Column("payload", Text),
    Column("reprint_of", Integer, ForeignKey("print_jobs.id")),
    Column("created_at", UTCDateTime, nullable=False),
    Column("claimed_at", UTCDateTime),
    Column("printed_at", UTCDateTime),
    # Revision 0007: when the spooler began writing the bytes, and (kept for good) when a copy may
    # have reached the paper before a crash cut the job short: it then prints marked REPRINT.
    Column("sent_at", UTCDateTime),
    Column("interrupted_at", UTCDateTime),
    # Revision 0012: the till that prints it (many tills share one ledger): a sale's slips go to the
    # sale's till, a Z report or label to the till that asked. ("", "") is no till in particular
    # (jobs queued before 0012 without a sale): the first till to claim it takes it.
    Column("store", String(8), nullable=False, server_default=""),
    Column("lane", String(4), nullable=False, server_default=""),
    CheckConstraint(_one_of("kind", JOB_KINDS), name="kind_known"),
    CheckConstraint(_one_of("state", ("queued", "printing", "done")), name="state_known"),
    Index(None, "state", "id"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("out_trade_no", String(32), index=True),
    Column("raw", Text, nullable=False),
    Column("verdict", String(64), nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("sale_id", Integer, ForeignKey("sales.id"), index=True),
    Column("event", String(40), nullable=False),
    Column("detail", Text),
    Column("at", UTCDateTime, nullable=False),
)

flags = Table(
    "flags",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("sale_id", Integer, ForeignKey("sales.id"), index=True),
    Column("out_trade_no", String(32)),
    Column("kind", String(24), nullable=False),
    Column("detail", Text),
    # The same anomaly reported twice (WeChat repeats notices) is one flag, not two.
    Column("dedupe_key", String(160), nullable=False, unique=True),
    Column("raised_at", UTCDateTime, nullable=False),
    Column("resolved_at", UTCDateTime),
    Column("resolved_by", String(64)),
    Column("resolution", Text),
)

day_sequences = Table(
    "day_sequences",
    metadata,
    Column("store", String(8), primary_key=True),
    Column("lane", String(4), primary_key=True),
    Column("business_date", Date, primary_key=True),
    Column("last", Integer, nullable=False),
)


# Reconciliation with WeChat's bill (revision 0003): one row per run, its differences beside it, written
# in one transaction (pos.ledger.reconciliation). The values are its enums' (a test checks they agree).
RECONCILIATION_STATUSES = ("matched", "differences", "no_bill", "not_ready", "error")
DIFFERENCE_KINDS = (
    "missing_in_ledger",
    "paid_at_wechat_only",
    "missing_at_wechat",
    "amount",
    "state",
    "other_channel",
    "settlement",  # revision 0010
)

reconciliations = Table(
    "reconciliations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("business_date", Date, nullable=False),
    Column("ran_at", UTCDateTime, nullable=False),
    Column("status", String(12), nullable=False),
    Column("message", Text, nullable=False, server_default=""),
    Column("matched", Integer, nullable=False),
    Column("bill_rows", Integer, nullable=False),
    Column("store", String(8), nullable=False, server_default=""),
    CheckConstraint(_one_of("status", RECONCILIATION_STATUSES), name="status_known"),
    Index(None, "business_date", "id"),
)

reconciliation_differences = Table(
    "reconciliation_differences",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("reconciliation_id", Integer, ForeignKey("reconciliations.id"), nullable=False, index=True),
    Column("position", Integer, nullable=False),
    Column("kind", String(24), nullable=False),
    # Bill values are WeChat's or another channel's: kept as they came, longer than ours may be.
    Column("out_trade_no", String(64), nullable=False),
    Column("transaction_id", String(64), nullable=False, server_default=""),
    Column("out_refund_no", String(64), nullable=False, server_default=""),
    Column("ledger_fee", Integer),
    Column("bill_fee", Integer),
    Column("detail", Text, nullable=False, server_default=""),
    CheckConstraint(_one_of("kind", DIFFERENCE_KINDS), name="kind_known"),
)

# The cashiers who may sign in at the till (revision 0008; pos.ledger.cashiers): a name and the hash
# of a PIN, never the PIN.
CASHIER_NAME_MAX = 32

cashiers = Table(
    "cashiers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(CASHIER_NAME_MAX), nullable=False, unique=True),
    Column("pin_hash", String(256), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)
