"""The watcher's part for refunds: ask WeChat about every refund still open until it is final.

A refund is PENDING in the ledger from the moment its amount is reserved until WeChat's verdict
is recorded. Usually the manager's click settles it (:class:`pos.orders.refunds.RefundService`
asks ``refundquery`` right after the request), or the refund notice does (the listener). But a
refund can stay open: WeChat answers PROCESSING (a bank card takes days), the notice is lost (a
tunnel down, the listener restarting), or the request's outcome was unknown (no answer,
SYSTEMERROR). Left alone, its amount would stay reserved for ever and the manager's day would
never show it finished. So each pass of the till's watcher also:

- reads the open (PENDING) refunds of *its own* store and lane from the ledger (one indexed read,
  :meth:`pos.ledger.Ledger.open_refunds`; a chain's tills share the ledger and each follows only
  the refunds of the sales it rang up, as its watcher queries only its own orders);
- asks WeChat about each one that is due (:meth:`RefundService.follow_up`): SUCCESS completes it
  (once: ``complete_refund`` is a conditional update, so a notice arriving meanwhile changes
  nothing twice, and the slip is queued in the same transaction), REFUNDCLOSE fails it and
  releases the reservation, CHANGE holds it for the manager, PROCESSING waits, and a refund
  WeChat never heard of is sent again under its own ``out_refund_no``.

The schedule follows the refund's age (:func:`refund_interval`), computed from the ledger's
``requested_at``, so a restarted till resumes every open refund where it stood (anything due is
asked at once after a start). Only the next due time per refund is kept in memory.

Why this schedule (``shared/reference/wechatpay-v3.md`` §8.1-8.2, citing WeChat's refund guide,
pay.weixin.qq.com/doc/v3/merchant/4013071031 and 4013071200): query 1 minute after refunding;
still PROCESSING after 5 minutes: back off (5, 10, 20, 30 minutes ...); refunds to the WeChat
balance usually land within 5 minutes, to bank cards in 1-3 business days; a refund PROCESSING
for more than 7 days because the merchant's account lacked funds is CLOSED by WeChat; there is no
time limit on querying. Refund query allows 300 qps: a till's few open refunds cost nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pos.ledger import Refund, RefundState
from pos.log import get_logger
from pos.orders.refunds import RefundService

log = get_logger("pos.till.watcher")

# (age of the refund below which, ask every): see the module docstring for the sources.
REFUND_SCHEDULE: tuple[tuple[timedelta, timedelta], ...] = (
    (timedelta(minutes=5), timedelta(minutes=1)),  # a wallet refund: usually done within 5 minutes
    (timedelta(minutes=15), timedelta(minutes=5)),
    (timedelta(hours=1), timedelta(minutes=10)),
    (timedelta(hours=3), timedelta(minutes=20)),
    (timedelta(days=8), timedelta(minutes=30)),  # a bank card: 1-3 business days; CLOSED after 7 days
)
LATE_INTERVAL = timedelta(hours=6)  # older still: WeChat should have settled it; keep asking, rarely
FIRST_QUERY = REFUND_SCHEDULE[0][1]  # after the request: the manager's click asked at once already
READ_EVERY = timedelta(seconds=30)  # the open refunds are read again at least this often


def refund_interval(age: timedelta) -> timedelta:
    """How long to wait before asking again about a refund requested ``age`` ago."""
    for below, interval in REFUND_SCHEDULE:
        if age < below:
            return interval
    return LATE_INTERVAL


class RefundWatch:
    """Follows one till's open refunds for the watcher; ``due`` says when each is next due.

    ``poll(now)`` costs one read of the ledger's open refunds at most every :data:`READ_EVERY`
    (and when one is due); with nothing open, no other read and no call to WeChat.
    """

    def __init__(self, service: RefundService, *, store: str | None = None, lane: str | None = None) -> None:
        self.service = service
        self.store = store
        self.lane = lane
        self.due: dict[str, datetime] = {}  # out_refund_no -> not before
        self._open: list[Refund] = []  # as last read
        self._read_at: datetime | None = None
        self.asked = 0  # follow-ups made (for status pages and tests)

    def refresh(self) -> None:
        """Read the open refunds at the next pass (a refund was just started or re-sent)."""
        self._read_at = None

    def poll(self, now: datetime) -> int:
        """Ask about the open refunds due at ``now``; returns how many became final (a slip may be
        queued: the caller wakes the spooler). Never raises for WeChat or the network."""
        stale = self._read_at is None or not self._read_at <= now < self._read_at + READ_EVERY
        if stale or self._any_due(now):
            self._open = self.service.ledger.open_refunds(store=self.store, lane=self.lane)
            self._read_at = now
            numbers = {r.out_refund_no for r in self._open}
            for number in set(self.due) - numbers:
                del self.due[number]  # settled by a notice, the manager, or another pass
        settled = 0
        for refund in list(self._open):
            # First sight: FIRST_QUERY after the request; one found later (after a restart) is
            # asked about at once: its notice may have been missed meanwhile.
            due = self.due.get(refund.out_refund_no, refund.requested_at + FIRST_QUERY)
            if due > now:
                self.due[refund.out_refund_no] = due
                continue
            if self._ask(refund):
                settled += 1
                self.due.pop(refund.out_refund_no, None)
                self._open.remove(refund)
            else:
                self.due[refund.out_refund_no] = now + refund_interval(now - refund.requested_at)
        return settled

    def _any_due(self, now: datetime) -> bool:
        return any(due <= now for due in self.due.values())

    def _ask(self, refund: Refund) -> bool:
        """Follow one refund up; True once it is no longer PENDING."""
        self.asked += 1
        try:
            after = self.service.follow_up(refund.out_refund_no)
        except Exception:  # the database, a bug, a sale not paid: this refund later, the others now
            log.exception("refund_follow_up_failed", sale=refund.sale_id, out_refund_no=refund.out_refund_no)
            return False
        if after.state is RefundState.PENDING:
            log.info("refund_still_open", sale=refund.sale_id, out_refund_no=refund.out_refund_no)
            return False
        log.info(
            "refund_followed_up", sale=refund.sale_id, out_refund_no=refund.out_refund_no, state=after.state
        )
        return True
