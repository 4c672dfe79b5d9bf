"""The root of every error reconciliation raises: :class:`ReconcileError`."""

from __future__ import annotations


class ReconcileError(Exception):
    """Anything matching WeChat's bill against the ledger raises (for example: no bill yet)."""
