"""Reconciliation with WeChat Pay's daily bill (``pos reconcile``).

WeChat's own guidance: on day D+1, download day D's bill and match it against
your books; a payment WeChat took that you did not record means a customer who
paid and perhaps got nothing. This package does it::

    from pos.reconcile import reconcile_day

    result = reconcile_day(ledger, client, config, date(2026, 11, 27))
    result.status        # matched, differences, no_bill, not_ready, error
    result.problems      # the differences, each with its out_trade_no and what to do

The match itself is :mod:`pos.reconcile.matcher` (pure), the run
:mod:`pos.reconcile.runner`, the stored results :mod:`pos.ledger.reconciliation`
(``latest_reconciliation`` for the day view), the printed form
:mod:`pos.reconcile.slip`, the command :mod:`pos.reconcile.cli`.
"""

from pos.lazy import lazy_exports

# Loaded when first asked for: ``pos.reconcile.cli`` lives in this package and must import without
# the ledger and SQLAlchemy, for ``pos --help`` (see pos/cli.py and pos/lazy.py).
__getattr__ = lazy_exports(
    __name__,
    {
        "Difference": "pos.ledger.reconciliation",
        "DifferenceKind": "pos.ledger.reconciliation",
        "Reconciliation": "pos.ledger.reconciliation",
        "ReconciliationStatus": "pos.ledger.reconciliation",
        "latest_reconciliation": "pos.ledger.reconciliation",
        "queue_print": "pos.reconcile.slip",
        "reconcile_day": "pos.reconcile.runner",
        "slip_rows": "pos.reconcile.slip",
    },
)

__all__ = [
    "Difference",
    "DifferenceKind",
    "Reconciliation",
    "ReconciliationStatus",
    "latest_reconciliation",
    "queue_print",
    "reconcile_day",
    "slip_rows",
]
