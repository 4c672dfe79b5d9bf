"""The ledger's audit trail: messages as they came, the event log, and flags for the manager.

Every transition writes its event (and, for an anomaly, its flag) in its own
transaction through :func:`write_event` and :func:`raise_flag`, so the trail
can never disagree with the state it explains. :class:`Audit` is the part of
:class:`pos.ledger.Ledger` that records and reads them on their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, insert, select, update

from pos.ledger.core import LedgerCore, Raw, check_enum, dumps, insert_ignore, loads
from pos.ledger.errors import LedgerError
from pos.ledger.models import Event, Flag, FlagKind, Message, MessageKind
from pos.ledger.schema import events, flags, messages, sales
from pos.log import get_logger

log = get_logger(__name__)

# Statements every payment runs, built once (building a statement costs more than running it here).
_INSERT_EVENT = insert(events).returning(events.c.id)
_INSERT_MESSAGE = insert(messages).returning(messages.c.id)


class Audit(LedgerCore):
    """Messages, events and flags (see the module docstring)."""

    def record_message(
        self,
        kind: MessageKind | str,
        raw: Raw,
        *,
        verdict: str,
        out_trade_no: str | None = None,
        now: datetime | None = None,
    ) -> int:
        """Keep a received message as it came (bytes, text or fields) with what we made of it
        (``verdict``: "bad_signature", "not_paid", ...). Messages passed to :meth:`mark_paid` as
        ``raw`` are recorded there; use this for the rest."""
        at = self._now(now)
        kind = check_enum(MessageKind, kind, "kind")
        with self._write() as conn:
            return write_message(conn, kind, out_trade_no, raw, verdict, at)

    def messages_for(self, out_trade_no: str) -> list[Message]:
        with self._read() as conn:
            rows = conn.execute(
                select(messages).where(messages.c.out_trade_no == out_trade_no).order_by(messages.c.id)
            )
            return [
                Message(r.id, MessageKind(r.kind), r.out_trade_no, r.raw, r.verdict, r.received_at)
                for r in rows
            ]

    def log_event(
        self,
        event: str,
        *,
        sale_id: int | None = None,
        detail: Mapping[str, Any] | None = None,
        now: datetime | None = None,
    ) -> int:
        """Add a line to the event log (e.g. "close_failed" with WeChat's err_code); transitions log
        their own events."""
        at = self._now(now)
        with self._write() as conn:
            return write_event(conn, sale_id, event, detail, at)

    def events_for_sale(self, sale_id: int) -> list[Event]:
        with self._read() as conn:
            rows = conn.execute(select(events).where(events.c.sale_id == sale_id).order_by(events.c.id))
            return [Event(r.id, r.sale_id, r.event, loads(r.detail), r.at) for r in rows]

    def open_flags(self) -> list[Flag]:
        """Anomalies not yet resolved by the manager, oldest first."""
        return self._flags(flags.c.resolved_at.is_(None))

    def flags_for_sale(self, sale_id: int) -> list[Flag]:
        return self._flags(flags.c.sale_id == sale_id)

    def resolve_flag(self, flag_id: int, *, by: str, note: str = "", now: datetime | None = None) -> Flag:
        """The manager looked at it. Resolving twice keeps the first resolution."""
        at = self._now(now)
        with self._write() as conn:
            conn.execute(
                update(flags)
                .where(flags.c.id == flag_id, flags.c.resolved_at.is_(None))
                .values(resolved_at=at, resolved_by=by, resolution=note)
            )
            row = conn.execute(select(flags).where(flags.c.id == flag_id)).first()
            if row is None:
                raise LedgerError(f"no flag {flag_id}")
            return _flag_record(row)

    def _flags(self, where: Any) -> list[Flag]:
        with self._read() as conn:
            return [_flag_record(r) for r in conn.execute(select(flags).where(where).order_by(flags.c.id))]


# -- inside a caller's transaction ---------------------------------------------------------------


def write_event(
    conn: Connection, sale_id: int | None, event: str, detail: Mapping[str, Any] | None, at: datetime
) -> int:
    """One line of the event log; returns its id."""
    values = {"sale_id": sale_id, "event": event, "detail": dumps(detail) if detail else None, "at": at}
    return conn.execute(_INSERT_EVENT, values).scalar_one()


def raise_flag(
    conn: Connection,
    kind: FlagKind,
    sale_id: int | None,
    out_trade_no: str | None,
    detail: Mapping[str, Any],
    dedupe_key: str,
    at: datetime,
) -> int:
    """Raise an anomaly once (the same report repeated finds the flag already there) and mark its
    sale flagged; returns the flag's id."""
    key = f"{kind.value}:{dedupe_key}"[:160]
    insert_ignore(
        conn,
        flags,
        {
            "sale_id": sale_id,
            "out_trade_no": out_trade_no,
            "kind": kind.value,
            "detail": dumps(detail),
            "dedupe_key": key,
            "raised_at": at,
        },
        [flags.c.dedupe_key],
    )
    if sale_id is not None:
        conn.execute(update(sales).where(sales.c.id == sale_id).values(flagged=True))
    log.warning("flag", kind=kind.value, sale=sale_id or "-", out_trade_no=out_trade_no)
    return conn.execute(select(flags.c.id).where(flags.c.dedupe_key == key)).scalar_one()


def write_message(
    conn: Connection, kind: MessageKind, out_trade_no: str | None, raw: Raw, verdict: str, at: datetime
) -> int:
    """Keep a received message as text (bytes decoded, fields as JSON); returns its id."""
    if isinstance(raw, bytes):
        text = raw.decode("utf-8", errors="replace")
    elif isinstance(raw, str):
        text = raw
    else:
        text = dumps(raw)
    values = {
        "kind": kind.value,
        "out_trade_no": out_trade_no,
        "raw": text,
        "verdict": verdict[:64],
        "received_at": at,
    }
    return conn.execute(_INSERT_MESSAGE, values).scalar_one()


def _flag_record(row: Row[Any]) -> Flag:
    return Flag(
        id=row.id,
        sale_id=row.sale_id,
        out_trade_no=row.out_trade_no,
        kind=FlagKind(row.kind),
        detail=loads(row.detail),
        raised_at=row.raised_at,
        resolved_at=row.resolved_at,
        resolved_by=row.resolved_by,
        resolution=row.resolution,
    )
