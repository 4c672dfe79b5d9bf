"""The watcher's part for payment codes: follow every attempt the cashier's request left open.

The cashier's page does not hold a request open for a minute while the customer types a
password: ``pay-code`` answers ``userpaying`` (or ``checking`` for an unknown outcome) at once,
and from then on this follows the attempt, from the ledger's events (so a restarted till resumes
it), one step every :attr:`CodePayment.interval` seconds:
:meth:`pos.orders.micropay.CodePayment.follow_up` queries it, takes a SUCCESS exactly once
(through ``mark_paid``), and once the deadline has passed reverses it (one call per step, again
while WeChat answers ``recall=Y``).

An attempt given up on (reversed, or whose reverse never went through) is asked about again every
:data:`LATE_INTERVAL` for :data:`LATE_WINDOW`: WeChat settling it after all is flagged for the
manager by :meth:`CodePayment.recheck`, never taken as a second payment. Later than that, the
day's reconciliation names it (``pos reconcile``: paid after a reverse).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pos.ledger.micropay import Attempt, attempts_from, attempts_since
from pos.log import get_logger
from pos.orders.micropay import CodePayment

log = get_logger("pos.till.watcher")

FOLLOW_WINDOW = timedelta(days=1)  # an attempt still open this long after the pay call is still followed
LATE_WINDOW = timedelta(minutes=10)  # a given-up attempt is asked about again for this long
LATE_INTERVAL = timedelta(seconds=30)


class CodeWatch:
    """Follows open payment-code attempts for the watcher; ``due`` says when each is next due."""

    def __init__(self, desk: CodePayment, *, store: str = "", lane: str = "") -> None:
        self.desk = desk
        # A chain's tills share the ledger: each follows only its own lane's attempts (their
        # numbers begin with the store and lane), as its watcher queries only its own sales.
        self.own_prefix = f"{store}-{lane}-" if store and lane else ""
        self.due: dict[str, datetime] = {}  # attempt number (or "late:<sale id>") -> not before
        self.from_id: int | None = None  # the events to read from at the next pass (None: by time)

    def poll(self, now: datetime) -> tuple[int, set[int]]:
        """Act on the attempts due at ``now``. Returns how many reached an outcome and the ids of
        the sales with an attempt still open (the watcher does not call those "interrupted")."""
        interval = timedelta(seconds=self.desk.interval)
        settled, open_sales, seen = 0, set(), set()
        found, next_id = self._read(now)
        watched = []  # the first event ids of the attempts still to follow after this pass
        for attempt in found:
            if not attempt.out_trade_no.startswith(self.own_prefix):
                continue
            if attempt.open and now - attempt.started_at > FOLLOW_WINDOW:
                continue
            if attempt.open:
                open_sales.add(attempt.sale_id)
                key, first = attempt.out_trade_no, attempt.started_at + interval
            elif attempt.given_up and attempt.ended_at is not None and now - attempt.ended_at < LATE_WINDOW:
                key, first = f"late:{attempt.sale_id}", attempt.ended_at + LATE_INTERVAL
            else:
                continue
            if key in seen:
                continue  # one recheck per sale and pass asks about all its given-up attempts
            seen.add(key)
            due = self.due.get(key, first)
            watched.append(attempt.event_id)
            if due > now:
                self.due[key] = due
                continue
            if attempt.open:
                done = self._follow(attempt.sale_id, attempt.out_trade_no, attempt.started_at, now)
                self.due[key] = now + interval
                if done:
                    settled += 1
                    open_sales.discard(attempt.sale_id)
                    self.due.pop(key, None)  # given up: followed as late from the next pass
            else:
                self._recheck(attempt.sale_id)
                self.due[key] = now + LATE_INTERVAL
        for key in set(self.due) - seen:
            del self.due[key]
        self.from_id = min([*watched, next_id])
        return settled, open_sales

    def _read(self, now: datetime) -> tuple[list[Attempt], int]:
        """The attempts from the first one still followed on (all of the last day after a start)."""
        if self.from_id is None:
            found = attempts_since(self.desk.ledger, now - FOLLOW_WINDOW)
            _, next_id = attempts_from(self.desk.ledger, max((a.event_id for a in found), default=0) + 1)
            return found, next_id
        return attempts_from(self.desk.ledger, self.from_id)

    def _follow(self, sale_id: int, number: str, started: datetime, now: datetime) -> bool:
        try:
            outcome = self.desk.follow_up(sale_id, number, started, now=now)
        except Exception:  # the database, a bug: this attempt later, the others now
            log.exception("code_follow_up_failed", sale=sale_id, out_trade_no=number)
            return False
        if outcome is None:
            return False
        log.info("code_settled", sale=sale_id, out_trade_no=number, status=outcome.status)
        return True

    def _recheck(self, sale_id: int) -> None:
        try:
            self.desk.recheck(sale_id)
        except Exception:
            log.exception("code_recheck_failed", sale=sale_id)
