"""The root of every error the use cases in :mod:`pos.orders` raise: :class:`OrdersError`."""

from __future__ import annotations


class OrdersError(Exception):
    """Anything ringing up or settling a sale raises (beside the ledger's and the protocol's own)."""
