"""One exception tree for the ledger.

::

    LedgerError
    ├── InvalidInput          a value the ledger refuses to store (naive datetime, negative fen, bad id)
    ├── UnknownSale           no sale with that id / out_trade_no
    ├── InvalidTransition     the sale is not in a state this action may leave (carries the current state)
    ├── RefundRefused         the refund would exceed what was paid, or reuses an out_refund_no
    ├── UnknownRefund         no refund with that out_refund_no
    ├── UnknownJob            no print job with that id
    ├── NothingToReprint      reprint(sale, kind) for a document the sale never had
    └── InvalidJobState       the print job is not in a state this action may leave

Payment reports never raise for business reasons: :meth:`Ledger.mark_paid`
answers with a :class:`~pos.ledger.models.PaidOutcome` instead, because a real
payment must be stored whatever state the sale is in.
"""

from __future__ import annotations

from collections.abc import Iterable


class LedgerError(Exception):
    """Base of every error raised by :mod:`pos.ledger`."""


class InvalidInput(LedgerError, ValueError):
    """A value the ledger will not store; the message names the value and the rule."""


class UnknownSale(LedgerError, LookupError):
    """No sale matches; ``ref`` is the id or out_trade_no that was asked for."""

    def __init__(self, ref: int | str) -> None:
        self.ref = ref
        what = f"out_trade_no {ref!r}" if isinstance(ref, str) else f"id {ref}"
        super().__init__(f"no sale with {what}")


class InvalidTransition(LedgerError):
    """The sale's state does not allow the action; nothing was changed.

    ``current`` is the state the database holds now, so a caller can tell a
    harmless repeat (``mark_expired`` on an EXPIRED sale) from a real conflict
    (``mark_expired`` on a sale the listener just marked PAID).
    """

    def __init__(
        self, *, sale_id: int, out_trade_no: str, action: str, current: object, allowed: Iterable[object]
    ) -> None:
        self.sale_id = sale_id
        self.out_trade_no = out_trade_no
        self.action = action
        self.current = current
        self.allowed = tuple(allowed)
        names = ", ".join(str(s) for s in self.allowed)
        super().__init__(
            f"cannot {action} sale {sale_id} ({out_trade_no}): it is {current}, and {action} needs {names}"
        )


class RefundRefused(LedgerError):
    """The refund was not started; the message says why (amount left, state, out_refund_no reuse)."""


class UnknownRefund(LedgerError, LookupError):
    def __init__(self, out_refund_no: str) -> None:
        self.out_refund_no = out_refund_no
        super().__init__(f"no refund with out_refund_no {out_refund_no!r}")


class UnknownJob(LedgerError, LookupError):
    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        super().__init__(f"no print job {job_id}")


class NothingToReprint(LedgerError, LookupError):
    """The sale has no job of that kind to copy."""


class InvalidJobState(LedgerError):
    """The job is not in the state the action needs (e.g. ``job_done`` on a queued job)."""

    def __init__(self, *, job_id: int, action: str, current: object) -> None:
        self.job_id = job_id
        self.action = action
        self.current = current
        super().__init__(f"cannot {action} print job {job_id}: it is {current}")
