"""The payment watcher: asks WeChat about every unpaid sale until it is paid, expired or voided.

WeChat's notice is the fast path, but notices get lost (a tunnel down, a firewall,
the listener restarting), and a sale must not stay "pending" forever. So for
every AWAITING_PAYMENT sale the watcher:

- queries the order (``/pay/orderquery``) on a schedule computed from the sale's
  own times, :func:`query_interval`: every 2 s for the first 2 minutes while the
  customer is at the counter, then 5 s, 10 s, 20 s, and every 30 s until the deadline;
- marks it PAID (``source="query"``) as soon as WeChat says SUCCESS (or REFUND);
- at the deadline (``expires_at``, never before WeChat's 5-minute rule allows)
  closes the order, then EXPIRED; closeorder answering ORDERPAID means PAID;
- closes the order of a sale the cashier voided as soon as the 5-minute rule
  allows, then VOIDED (see :meth:`pos.ledger.Ledger.request_void`);
- settles a sale left NEW by a crash in the middle of placing its order: paid
  at WeChat -> PAID, otherwise FAILED ("interrupted, press Retry") once it is
  older than :data:`NEW_GRACE`;
- follows every payment code whose outcome was still open when the cashier's request ended
  (USERPAYING, unknown) to paid, cancelled or reversed, and asks once more about attempts given
  up on in the last minutes, so a late SUCCESS is flagged (:mod:`pos.till.codewatch`);
- asks WeChat about every refund of its lane still open (PENDING: PROCESSING, or an unknown
  outcome), on a schedule that slows down over days, until it is final (:mod:`pos.till.refundwatch`).

Nothing is kept only in memory but the next due time per sale: each pass reads
the pending sales from the ledger, so a restarted watcher resumes every one of
them and continues its schedule (the interval follows the sale's age, not the
watcher's). Transport errors back off per sale (2, 4, 8 ... 30 s) and never stop
the thread. Query answers go to the audit log when the trade state changes (the
first NOTPAY, then SUCCESS or CLOSED), so a two-minute wait costs one row, not sixty.

    watcher = Watcher(ledger, client, config)
    watcher.start()          # a daemon thread
    watcher.expect(sale)     # a sale was just ordered here: its first query is due in 2 s
    watcher.nudge()          # a sale was voided or retried: look now
    watcher.stop()

Tests drive :meth:`Watcher.poll_once` with a clock they move. ``passes``, ``errors``
and ``last_error`` say how the thread is doing (for a status page). A pass acts on
the due sales one after another, so while WeChat does not answer each due sale
costs the client's timeout (times its retries); the per-sale back-off keeps that
to one attempt per sale every 30 s at most.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from pos.config import Config
from pos.i18n import translator
from pos.ledger import InvalidTransition, Ledger, Sale, SaleState
from pos.log import get_logger
from pos.orders.micropay import CodePayment
from pos.orders.refunds import RefundService
from pos.orders.settling import (
    close_allowed_at,
    close_and_settle,
    mark_closed,
    record_query,
    settle_paid,
)
from pos.till.codewatch import CodeWatch
from pos.till.refundwatch import RefundWatch
from pos.wechatpay import BusinessError, OrderStatus, WeChatPayClient, WeChatPayError

log = get_logger("pos.till.watcher")

# (age of the order below which, query every): the customer is at the counter, then less and less likely.
SCHEDULE: tuple[tuple[timedelta, timedelta], ...] = (
    (timedelta(minutes=2), timedelta(seconds=2)),
    (timedelta(minutes=3), timedelta(seconds=5)),
    (timedelta(minutes=5), timedelta(seconds=10)),
    (timedelta(minutes=10), timedelta(seconds=20)),
)
MAX_INTERVAL = timedelta(seconds=30)
FIRST_BACKOFF = timedelta(seconds=2)  # after a transport error; doubles up to MAX_INTERVAL
NEW_GRACE = timedelta(minutes=5)  # a NEW sale older than this is not being ordered by anyone any more
IDLE_WAKE = 2.0  # seconds: while sales are pending, the loop re-reads them at least this often
# Seconds between looks while nothing is pending: a sale rung up in this process is announced
# (Watcher.expect), so these looks only find sales made elsewhere (a mode-one sale a listener rang
# up for this lane). A chain's idle tills would otherwise each read the ledger every 2 s all day.
EMPTY_WAKE = 10.0
MIN_WAKE = 0.01


def query_interval(age: timedelta) -> timedelta:
    """How long to wait before the next query of an order this old (see :data:`SCHEDULE`)."""
    for below, interval in SCHEDULE:
        if age < below:
            return interval
    return MAX_INTERVAL


def backoff(failures: int) -> timedelta:
    """Wait after ``failures`` transport errors in a row: 2 s, 4 s, 8 s, 16 s, then 30 s."""
    return min(FIRST_BACKOFF * (2 ** max(failures - 1, 0)), MAX_INTERVAL)


def deadline_for(sale: Sale, default_ttl: timedelta) -> datetime:
    """When the watcher closes the order: as soon as allowed for a void, else at the deadline, never
    before the 5-minute rule allows."""
    allowed = close_allowed_at(sale)
    if sale.void_requested:
        return allowed
    ordered = sale.ordered_at or sale.created_at
    expires = sale.expires_at or ordered + default_ttl
    return max(expires, allowed)


class Watcher:
    """Queries, closes and settles pending sales; see the module docstring."""

    def __init__(
        self,
        ledger: Ledger,
        client: WeChatPayClient,
        config: Config,
        *,
        clock: Callable[[], datetime] | None = None,
        on_settled: Callable[[], None] | None = None,
        codes: CodePayment | None = None,
        refunds: RefundService | None = None,
    ) -> None:
        """``on_settled`` is called after a pass that settled a sale (paid, expired, voided: a slip was
        queued), so the spooler in the same process prints it at once instead of at its next look.
        ``codes``: the till's payment-code desk, whose open attempts each pass follows up
        (:class:`pos.till.codewatch.CodeWatch`). ``refunds``: the till's refund service, whose open
        refunds each pass follows up (:class:`pos.till.refundwatch.RefundWatch`)."""
        self.ledger = ledger
        self.client = client
        self.config = config
        self.clock = clock or (lambda: datetime.now(UTC))
        self.on_settled = on_settled
        self.language = config.store.language
        self.ttl = timedelta(minutes=max(config.till.order_ttl, 5))
        self._due: dict[int, datetime] = {}  # sale id -> not before
        self._failures: dict[int, int] = {}  # sale id -> transport errors in a row
        self._last_state: dict[int, str] = {}  # sale id -> the trade_state last written to the audit log
        self._seen_state: dict[int, SaleState] = {}  # sale id -> its state when the above were computed
        self._pass_lock = threading.Lock()
        self._wake = threading.Event()  # the loop looks at its schedule again (expect, nudge, stop)
        self._nudged = threading.Event()  # ... and makes a pass now (nudge)
        self._plan_lock = threading.Lock()
        self._expected: dict[int, datetime] = {}  # sales announced since the last pass -> first query due
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.codes = (
            CodeWatch(codes, store=config.store.id, lane=config.till.lane) if codes is not None else None
        )
        self.refunds = (
            RefundWatch(refunds, store=config.store.id, lane=config.till.lane)
            if refunds is not None
            else None
        )
        self.passes = 0  # passes done (for status pages and tests)
        self.errors = 0  # passes or sales that ended in an error
        self.last_error: str | None = None

    # -- the thread -------------------------------------------------------------------------------

    def start(self) -> Watcher:
        """Start the daemon thread; it resumes every pending sale in the ledger at once."""
        if self._thread is not None and self._thread.is_alive():
            return self
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="pos-watcher", daemon=True)
        self._thread.start()
        log.info("watcher_started")
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the current call to WeChat (if any) returns."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        log.info("watcher_stopped")

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def nudge(self) -> None:
        """Make a pass now (a sale was voided or retried, a payment code is still open)."""
        self._nudged.set()
        self._wake.set()

    def expect(self, sale: Sale) -> None:
        """``sale`` was just ordered in this process: its first query is due 2 s after the order.

        Noted without a pass (the spooler is printing its slip meanwhile, and the pass would find
        nothing due): the thread only shortens its sleep to that moment. An idle watcher sleeps
        :data:`EMPTY_WAKE`, so without this a sale rung up on an idle till would wait that long.
        """
        if sale.state is not SaleState.AWAITING_PAYMENT:
            return
        first = (sale.ordered_at or sale.created_at) + SCHEDULE[0][1]
        with self._plan_lock:
            self._expected[sale.id] = first
        self._wake.set()

    def settled(self, sale_id: int) -> None:
        """``sale_id`` is settled and this process knows it (its confirmation slip printed here, the
        notice having reached a listener): its announced first query is not needed, so no pass runs
        2 s after the order only to find it paid. A sale a pass has already seen keeps its schedule
        (the next pass finds it settled and forgets it)."""
        with self._plan_lock:
            known = self._expected.pop(sale_id, None) is not None
        if known:
            self._wake.set()  # sleep again, to the next moment still due

    def _run(self) -> None:
        look = True
        while not self._stopping.is_set():
            self._wake.clear()
            if look:
                self._nudged.clear()
                try:
                    self.poll_once()
                except Exception as exc:  # never let the thread die: log, count, carry on
                    self._count_error(exc)
                    log.exception("watcher_pass_failed", error=exc)
            woken = self._wake.wait(self.sleep_seconds())
            look = not woken or self._nudged.is_set()  # woken by expect() alone: sleep again, shorter

    def sleep_seconds(self) -> float:
        """How long the thread waits before its next pass: until the next due moment, at most
        :data:`IDLE_WAKE` while sales are pending, :data:`EMPTY_WAKE` while none is."""
        due = self.next_due()
        if due is None:
            return EMPTY_WAKE
        seconds = (due - self.clock()).total_seconds()
        return min(max(seconds, MIN_WAKE), IDLE_WAKE)

    def next_due(self) -> datetime | None:
        """The earliest moment a pending sale needs attention (None: nothing pending)."""
        dues = [
            *self._due.values(),
            *(self.codes.due.values() if self.codes else ()),
            *(self.refunds.due.values() if self.refunds else ()),
        ]
        with self._plan_lock:
            dues.extend(self._expected.values())
        return min(dues, default=None)

    # -- one pass -----------------------------------------------------------------------------

    def poll_once(self, now: datetime | None = None) -> int:
        """Look at every pending sale once; act on those due at ``now``. Returns how many were acted on.

        Deterministic for a given ledger, WeChat and ``now``; never raises for
        WeChat or the network (a failing sale is retried later with back-off).
        """
        with self._pass_lock:
            with self._plan_lock:  # this pass reads every pending sale, the announced ones too
                self._expected.clear()
            now = (now or self.clock()).astimezone(UTC)
            busy: set[int] = set()  # sales with a payment code still open: not "interrupted" meanwhile
            code_settled = 0
            if self.codes is not None:
                code_settled, busy = self.codes.poll(now)
            own = self.ledger.pending_sales(store=self.config.store.id, lane=self.config.till.lane)
            sales = [s for s in own if s.id not in busy]
            pending = {sale.id: sale.state for sale in sales}
            for sale_id in [i for i, state in self._seen_state.items() if pending.get(i) is not state]:
                self._forget(sale_id)  # settled, or NEW -> AWAITING_PAYMENT: a new schedule
            self._seen_state.update(pending)
            acted = settled = 0
            for sale in sales:
                if self._stopping.is_set():
                    break
                due = self._due_for(sale, now)
                if due > now:
                    self._due[sale.id] = due
                    continue
                acted += 1
                try:
                    following = self._handle(sale, now)
                except Exception as exc:  # a bug or the database: this sale later, the others now
                    self._count_error(exc)
                    log.exception("watch_failed", sale=sale.id, out_trade_no=sale.out_trade_no)
                    following = self._failed(sale, now)
                if following is None:
                    self._forget(sale.id)
                    settled += 1
                else:
                    self._due[sale.id] = following
            settled += code_settled + self._follow_refunds(now)
            self.passes += 1
        if settled and self.on_settled is not None:
            self.on_settled()
        return acted

    def _follow_refunds(self, now: datetime) -> int:
        """The refunds' part of a pass; a failure there (the database) leaves the sales' part done."""
        if self.refunds is None or self._stopping.is_set():
            return 0
        try:
            return self.refunds.poll(now)
        except Exception as exc:
            self._count_error(exc)
            log.exception("refund_watch_failed")
            return 0

    def _due_for(self, sale: Sale, now: datetime) -> datetime:
        """The next moment to act on ``sale``: remembered, or computed from its times after a restart."""
        due = self._due.get(sale.id)
        if sale.state is SaleState.NEW:
            return due or sale.created_at + NEW_GRACE
        if due is None:
            # First sight: a sale just ordered gets its first query 2 s after the order; one
            # found after a restart is asked about at once (a notice may have been missed).
            first = (sale.ordered_at or sale.created_at) + SCHEDULE[0][1]
            due = first if now < first else now
        if sale.id not in self._failures:
            due = min(due, deadline_for(sale, self.ttl))  # a void request moves the close forward
        return due

    # -- what to do with one sale ------------------------------------------------------------------

    def _handle(self, sale: Sale, now: datetime) -> datetime | None:
        """Act on one due sale; returns when to look again, or None when it is settled."""
        if sale.state is SaleState.NEW:
            return self._settle_new(sale, now)
        deadline = deadline_for(sale, self.ttl)
        if now >= deadline:
            result = close_and_settle(self.ledger, self.client, sale, now=now)
            if result.settled:
                log.info(
                    "watch_closed",
                    sale=sale.id,
                    out_trade_no=sale.out_trade_no,
                    state=result.sale.state,
                    reason=result.reason,
                )
                return None
            if result.reason.startswith("Transport"):
                self.errors += 1
                self.last_error = f"closeorder: {result.reason}"
            return self._failed(sale, now)
        try:
            status = self.client.query_order(sale.out_trade_no)
        except BusinessError as exc:
            # ORDERNOTEXIST for an order we hold a code_url for, SYSTEMERROR...: ask again later;
            # the close at the deadline settles it whatever happened.
            log.warning("query_refused", sale=sale.id, out_trade_no=sale.out_trade_no, err_code=exc.err_code)
            return self._failed(sale, now)
        except WeChatPayError as exc:
            log.warning("query_failed", sale=sale.id, out_trade_no=sale.out_trade_no, error=exc)
            self._count_error(exc)
            return self._failed(sale, now)
        self._failures.pop(sale.id, None)
        return self._on_status(sale, status, now, deadline)

    def _on_status(
        self, sale: Sale, status: OrderStatus, now: datetime, deadline: datetime
    ) -> datetime | None:
        if status.paid:
            settled = settle_paid(self.ledger, sale, status, now=now)  # mark_paid keeps the raw answer
            self._last_state[sale.id] = status.trade_state
            if settled is not None and settled.state is not SaleState.AWAITING_PAYMENT:
                log.info("watch_paid", sale=sale.id, out_trade_no=sale.out_trade_no, state=settled.state)
                return None
            return self._next_query(sale, now, deadline)
        if self._last_state.get(sale.id) != status.trade_state:
            record_query(self.ledger, sale, status, now=now)
            self._last_state[sale.id] = status.trade_state
        if status.trade_state in ("CLOSED", "REVOKED"):
            # Closed (or, for a payment-code order, reversed) at WeChat while we still wait: by us
            # just before a crash, or by someone else. Nobody can pay it any more: VOIDED if the
            # cashier asked, else EXPIRED. USERPAYING and PAYERROR are not final: keep asking.
            self.ledger.log_event("closed_at_wechat", sale_id=sale.id, now=now)
            closed = mark_closed(self.ledger, sale, now=now)
            log.warning("closed_at_wechat", sale=sale.id, out_trade_no=sale.out_trade_no, state=closed.state)
            return None
        return self._next_query(sale, now, deadline)

    def _next_query(self, sale: Sale, now: datetime, deadline: datetime) -> datetime:
        ordered = sale.ordered_at or sale.created_at
        return min(now + query_interval(now - ordered), deadline)

    def _settle_new(self, sale: Sale, now: datetime) -> datetime | None:
        """A sale NEW for longer than any ring-up takes: its order was interrupted (a crash)."""
        try:
            status = self.client.query_order(sale.out_trade_no)
        except BusinessError as exc:
            if exc.err_code != "ORDERNOTEXIST":
                return self._failed(sale, now)
            status = None
        except WeChatPayError as exc:
            self._count_error(exc)
            return self._failed(sale, now)
        if status is not None:
            if not status.paid:
                record_query(self.ledger, sale, status, now=now)
            if status.paid:
                settled = settle_paid(self.ledger, sale, status, now=now)
                return None if settled is not None and settled.state.is_paid else self._failed(sale, now)
        with contextlib.suppress(InvalidTransition):  # ordered after all, meanwhile: the next pass watches it
            failure = translator(self.language)("checkout.interrupted")
            self.ledger.record_order_failure(sale.id, failure, now=now)
        log.warning("order_interrupted", sale=sale.id, out_trade_no=sale.out_trade_no)
        return None

    def _failed(self, sale: Sale, now: datetime) -> datetime:
        failures = self._failures.get(sale.id, 0) + 1
        self._failures[sale.id] = failures
        return now + backoff(failures)

    def _forget(self, sale_id: int) -> None:
        self._seen_state.pop(sale_id, None)
        self._due.pop(sale_id, None)
        self._failures.pop(sale_id, None)
        self._last_state.pop(sale_id, None)

    def _count_error(self, exc: BaseException) -> None:
        self.errors += 1
        self.last_error = f"{type(exc).__name__}: {exc}"
