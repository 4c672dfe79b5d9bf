"""The manager's side of held refunds (WeChat's ``CHANGE``): the list on top of every day page,
and the form that records what the manager did about one.

A held refund is money the customer has not got back although WeChat accepted the refund (see
:mod:`pos.ledger.held`). It is shown on every day's page, not only its own day's, until the
manager records one of :class:`~pos.ledger.HeldResolution`. The route itself is registered
in :mod:`pos.manager.views` (``POST /manager/refunds/<out_refund_no>/resolve``); the rules
are here, so that bad input is told apart from a refund that is gone or already settled:

- an unknown refund number: 404; a refund that is not held (resolved already, or never
  held): 409; no or an unknown ``how``, or a note over 500 characters: 400. Nothing
  changes in any of these cases (the ledger checks again in its one transaction).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from pos.ledger import HeldResolution, InvalidInput, Ledger, RefundRefused, UnknownRefund
from pos.ledger.held import MAX_NOTE
from pos.log import get_logger
from pos.manager.words import Words
from pos.money import format_price

log = get_logger("pos.manager")

HOWS = tuple(h.value for h in HeldResolution)
# What an out_refund_no can be (WeChat: String(64) of letters, digits, _-|*@); anything else in
# the URL is no refund of ours, and never reaches the database (a NUL byte would upset it).
REFUND_NUMBER = re.compile(r"[0-9A-Za-z_\-|*@]{1,64}")


@dataclass(frozen=True)
class Verdict:
    """What the resolve route answers: an HTTP status and a sentence for the manager."""

    status: int
    text: str

    @property
    def ok(self) -> bool:
        return self.status < 400


def held_views(ledger: Ledger, store: str, w: Words, zone: ZoneInfo) -> list[dict[str, Any]]:
    """Every held refund of ``store``, as the day page's "Refunds held" card lists them."""
    out = []
    for held in ledger.held_refunds(store=store):
        refund = held.refund
        out.append(
            {
                "out_refund_no": refund.out_refund_no,
                "sale_id": refund.sale_id,
                "line": w(
                    "held.line",
                    day=held.business_date.isoformat(),
                    out_trade_no=held.out_trade_no,
                    total=format_price(held.total_fee),
                    out_refund_no=refund.out_refund_no,
                    amount=format_price(refund.refund_fee),
                ),
                "held_at": refund.completed_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
                if refund.completed_at
                else "",
                "message": refund.failure or "",
                "todo": w("flag.refund_held.todo"),
            }
        )
    return out


def held_json(ledger: Ledger, store: str) -> list[dict[str, Any]]:
    """The same list for ``/manager/api/day``."""
    return [
        {
            "out_refund_no": h.refund.out_refund_no,
            "out_trade_no": h.out_trade_no,
            "sale_id": h.refund.sale_id,
            "refund_fee": h.refund.refund_fee,
            "business_date": h.business_date.isoformat(),
        }
        for h in ledger.held_refunds(store=store)
    ]


def resolve(ledger: Ledger, out_refund_no: str, form: Mapping[str, str], *, by: str, w: Words) -> Verdict:
    """Record what the manager did about held refund ``out_refund_no`` (form: ``how``, ``note``)."""
    if not REFUND_NUMBER.fullmatch(out_refund_no):
        return Verdict(404, w("held.unknown"))
    how = (form.get("how") or "").strip()
    note = (form.get("note") or "").strip()
    if how not in HOWS:
        return Verdict(400, w("held.bad_how"))
    if len(note) > MAX_NOTE:
        return Verdict(400, w("held.note_too_long"))
    try:
        ledger.resolve_held_refund(out_refund_no, how, by=by, note=note)
    except UnknownRefund:
        return Verdict(404, w("held.unknown"))
    except RefundRefused:
        return Verdict(409, w("held.not_held", out_refund_no=out_refund_no))
    except InvalidInput:
        return Verdict(400, w("held.bad_how"))
    log.info("manager_refund_resolved", out_refund_no=out_refund_no, how=how, by=by)
    return Verdict(200, w("held.resolved_now", out_refund_no=out_refund_no, how=w(f"held.how.{how}")))
