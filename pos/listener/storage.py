"""How the listener's handlers keep a received message, and the one failure they answer with.

Writers to the ledger take turns inside the ledger itself (on SQLite, across
threads and processes: see :mod:`pos.ledger.writelock`), so the handlers here
need no queue of their own.

Any database error becomes :class:`DatabaseUnavailable`, which a handler answers
with FAIL so that WeChat sends the notice again later.
"""

from __future__ import annotations

from sqlalchemy.exc import SQLAlchemyError

from pos.ledger import Ledger, MessageKind
from pos.listener.errors import ListenerError


class DatabaseUnavailable(ListenerError):
    """The ledger could not be read or written: answer FAIL so WeChat sends the notice again."""

    def __init__(self, error: str, out_trade_no: str | None = None) -> None:
        super().__init__(error)
        self.out_trade_no = out_trade_no


def store_message(
    ledger: Ledger, kind: MessageKind, body: bytes, *, verdict: str, out_trade_no: str | None
) -> None:
    """Keep a received message with its verdict in the audit log, before the handler answers."""
    try:
        ledger.record_message(kind, body, verdict=verdict, out_trade_no=out_trade_no)
    except SQLAlchemyError as exc:
        raise DatabaseUnavailable(type(exc).__name__, out_trade_no) from None
