"""The ledger: the till's state of record, and the only place a sale changes state.

Open it once per process and share it between threads::

    from pos.ledger import LineItem, open_ledger

    ledger = open_ledger("sqlite:///pos-demo/pos.sqlite3")      # migrates to the newest schema
    sale = ledger.create_sale(store="S01", lane="01", items=[LineItem("拿铁", 1800)])
    ledger.record_order(sale.id, code_url=..., prepay_id=..., expires_at=...)
    outcome = ledger.mark_paid(sale.out_trade_no, transaction_id=..., total_fee=1800,
                               time_end=..., source="notice")
    job = ledger.claim_next_job()     # the spooler prints it, then ledger.job_done(job.id)

It knows nothing of HTTP, WeChat's XML or printers: callers hand it plain values
(fen ints, aware datetimes, ids) and get frozen records back. See
:mod:`pos.ledger.ledger` for the rules each method keeps and the module each
concern lives in; every table is in :mod:`pos.ledger.schema`.
"""

from pos.ledger.errors import (
    InvalidInput,
    InvalidJobState,
    InvalidTransition,
    LedgerError,
    NothingToReprint,
    RefundRefused,
    UnknownJob,
    UnknownRefund,
    UnknownSale,
)
from pos.ledger.held import HeldRefund
from pos.ledger.identifiers import business_date, format_out_trade_no, is_valid_out_trade_no
from pos.ledger.ledger import Ledger, open_ledger
from pos.ledger.models import (
    Event,
    Flag,
    FlagKind,
    HeldResolution,
    JobKind,
    JobState,
    LineItem,
    Message,
    MessageKind,
    PaidOutcome,
    PaidStatus,
    Payment,
    PaymentSource,
    PrintJob,
    Refund,
    RefundOutcome,
    RefundState,
    Sale,
    SaleItem,
    SaleState,
)
from pos.ledger.schema import FIRST_DAY, LAST_DAY, MAX_ROW_ID

__all__ = [
    "FIRST_DAY",
    "LAST_DAY",
    "MAX_ROW_ID",
    "Event",
    "Flag",
    "FlagKind",
    "HeldRefund",
    "HeldResolution",
    "InvalidInput",
    "InvalidJobState",
    "InvalidTransition",
    "JobKind",
    "JobState",
    "Ledger",
    "LedgerError",
    "LineItem",
    "Message",
    "MessageKind",
    "NothingToReprint",
    "PaidOutcome",
    "PaidStatus",
    "Payment",
    "PaymentSource",
    "PrintJob",
    "Refund",
    "RefundOutcome",
    "RefundRefused",
    "RefundState",
    "Sale",
    "SaleItem",
    "SaleState",
    "UnknownJob",
    "UnknownRefund",
    "UnknownSale",
    "business_date",
    "format_out_trade_no",
    "is_valid_out_trade_no",
    "open_ledger",
]
