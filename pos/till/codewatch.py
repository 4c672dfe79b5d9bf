"""The watcher's part for payment codes: follow every attempt the cashier's request left open.

The cashier's page does not hold a request open for a minute while the customer types a
password: ``pay-code`` answers ``userpaying`` (or ``checking`` for an unknown outcome) at once,
and from then on this follows the attempt, from the ledger's events (so a restarted till resumes
it), one step every :attr:`CodePayment.interval` seconds:
:meth:`pos.orders.micropay.CodePayment.follow_up` queries it, takes a SUCCESS exactly once
(through ``mark_paid``), and once the deadline has passed reverses it (one call per step, again
while WeChat answers ``recall=Y``).

An attempt whose reverse never went through (``reverse_failed``) is reversed again
(:meth:`CodePayment.reverse_again`, which asks WeChat first) every :data:`LATE_INTERVAL` for
:data:`LATE_WINDOW` after the till gave up, then every :data:`REVERSE_INTERVALS` says, for as long
as WeChat accepts a reverse (:data:`pos.ledger.micropay.REVERSE_WINDOW`, 7 days less an hour): the
customer is never left charged for a sale the till gave up on. It ends reversed once WeChat confirms
(then as below), flagged when WeChat reports it paid. The schedule is computed from the ledger's
events (when the till gave up), so a restarted till carries on where it was.

An attempt reversed is asked about again every :data:`LATE_INTERVAL` for :data:`LATE_WINDOW`:
WeChat settling it after all is flagged for the manager by :meth:`CodePayment.recheck`, never taken
as a second payment. Later than that, the day's reconciliation names it (``pos reconcile``: paid
after a reverse).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pos.ledger.micropay import REVERSE_WINDOW, Attempt, attempts_from, attempts_of_sale, attempts_since
from pos.log import get_logger
from pos.orders.micropay import CodePayment

log = get_logger("pos.till.watcher")

FOLLOW_WINDOW = timedelta(days=1)  # an attempt still open this long after the pay call is still followed
LATE_WINDOW = timedelta(minutes=10)  # a given-up attempt is asked about again for this long
LATE_INTERVAL = timedelta(seconds=30)
# A reverse that never went through is tried again: every LATE_INTERVAL for LATE_WINDOW after the
# till gave up, then (age since then, interval) as below, until REVERSE_WINDOW after the pay call.
REVERSE_INTERVALS = ((timedelta(hours=1), timedelta(minutes=5)), (timedelta(days=1), timedelta(minutes=15)))
REVERSE_LATER = timedelta(hours=1)


def reverse_interval(since_given_up: timedelta) -> timedelta:
    """How long until the next reverse of an attempt the till gave up on ``since_given_up`` ago."""
    if since_given_up < LATE_WINDOW:
        return LATE_INTERVAL
    for limit, interval in REVERSE_INTERVALS:
        if since_given_up < limit:
            return interval
    return REVERSE_LATER


class Reversing:
    """An attempt being reversed again: enough to find it and schedule it without a scan."""

    def __init__(self, attempt: Attempt) -> None:
        self.sale_id, self.number, self.started_at = attempt.sale_id, attempt.out_trade_no, attempt.started_at
        self.gave_up_at = attempt.ended_at or attempt.started_at


class CodeWatch:
    """Follows open payment-code attempts for the watcher; ``due`` says when each is next due."""

    def __init__(self, desk: CodePayment, *, store: str = "", lane: str = "") -> None:
        self.desk = desk
        # A chain's tills share the ledger: each follows only its own lane's attempts (their
        # numbers begin with the store and lane), as its watcher queries only its own sales.
        self.own_prefix = f"{store}-{lane}-" if store and lane else ""
        self.due: dict[str, datetime] = {}  # attempt number (or "late:<sale id>") -> not before
        self.from_id: int | None = None  # the events to read from at the next pass (None: by time)
        # reverse_failed attempts reversed again: kept here rather than by holding from_id back for
        # days (each is re-read by its sale when due).
        self.reversing: dict[str, Reversing] = {}

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
            if attempt.reversing:
                if now - attempt.started_at < REVERSE_WINDOW:
                    self.reversing.setdefault(attempt.out_trade_no, Reversing(attempt))
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
        settled += self._reverse_due(now, seen)
        for key in set(self.due) - seen:
            del self.due[key]
        self.from_id = min([*watched, next_id])
        return settled, open_sales

    def _reverse_due(self, now: datetime, seen: set[str]) -> int:
        """Reverse again each attempt whose turn it is; returns how many reached an outcome."""
        done = 0
        for number, item in list(self.reversing.items()):
            key = f"reverse:{number}"
            due = self.due.get(key, item.gave_up_at + LATE_INTERVAL)
            if due > now:
                seen.add(key)
                self.due[key] = due
                continue
            if not self._still_reversing(item, now):
                del self.reversing[number]
                continue
            seen.add(key)
            self.due[key] = now + reverse_interval(now - item.gave_up_at)
            try:
                outcome = self.desk.reverse_again(item.sale_id, number)
            except Exception:  # the database, a bug: this attempt later, the others now
                log.exception("code_reverse_again_failed", sale=item.sale_id, out_trade_no=number)
                continue
            if outcome is not None:
                log.info("code_settled", sale=item.sale_id, out_trade_no=number, status=outcome.status)
                del self.reversing[number]
                self.due.pop(key, None)
                seen.discard(key)
                done += 1
        return done

    def _still_reversing(self, item: Reversing, now: datetime) -> bool:
        """The ledger still says so (another till of the chain, or an earlier step, may have ended
        it), and WeChat still accepts a reverse for it."""
        if now - item.started_at >= REVERSE_WINDOW:
            log.warning("code_reverse_given_up", sale=item.sale_id, out_trade_no=item.number)
            return False
        try:
            found = attempts_of_sale(self.desk.ledger, item.sale_id)
        except Exception:
            log.exception("code_reverse_read_failed", sale=item.sale_id, out_trade_no=item.number)
            return True
        return any(a.out_trade_no == item.number and a.reversing for a in found)

    def _read(self, now: datetime) -> tuple[list[Attempt], int]:
        """The attempts from the first one still followed on (all of the last day after a start)."""
        if self.from_id is None:  # as far back as an attempt may still be reversed
            found = attempts_since(self.desk.ledger, now - max(FOLLOW_WINDOW, REVERSE_WINDOW))
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
