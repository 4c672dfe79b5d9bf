"""The manager's lookups of the one word catalogue (:mod:`pos.i18n`) that need the ledger's types.

A sale's state is named with the cashier's ``status.*`` words, so a sale is called the same on
both sides of the till.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from pos.i18n import Translator
from pos.ledger import SaleState

if TYPE_CHECKING:
    from pos.reports.day import SaleLine


class Words(Translator):
    """``w("day.paid")`` bound to one language, with the day view's state helpers."""

    def line_state(self, line: SaleLine, now: datetime) -> str:
        """A sale of the day view: its state, or "past deadline, closing" / "voiding" while its
        order is being closed at WeChat (it is still AWAITING_PAYMENT in the ledger)."""
        if line.closing(now):
            return self("status.closing")
        if line.void_requested and line.state is SaleState.AWAITING_PAYMENT:
            return self("status.voiding")
        return self.status(line.state)

    def states(self) -> dict[SaleState, str]:
        return {state: self.status(state) for state in SaleState}
