"""The root of every error the listener raises: :class:`ListenerError`.

These never reach WeChat as a traceback: the app turns each into its reply (``FAIL``, 413, 503).
"""

from __future__ import annotations


class ListenerError(Exception):
    """Anything the listener's own code raises (a body too large, the ledger unavailable)."""
