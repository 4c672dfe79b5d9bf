"""Pay a sale by the customer's payment code: micropay, then query, then reverse if need be.

The loop follows WeChat's guidance (../shared/reference/wechatpay-micropay.md §2.4):

- SUCCESS -> the sale is PAID through :meth:`Ledger.mark_paid` (exactly once by transaction_id;
  the paid receipt is queued with it; no QR is ever printed for a code sale);
- a definite failure (expired/used code, no balance...) -> nothing moved; the sale stays
  payable; the cashier reads why and tries a new code or prints a QR;
- USERPAYING or an unknown outcome -> orderquery every ``interval`` seconds until ``deadline``
  seconds after the pay call; if it still has not settled (or the customer gave up: PAYERROR),
  reverse it, again while WeChat answers ``recall=Y`` or does not answer, so the customer is
  never charged for a sale the till gave up on. The sale does not end PAID.

Who runs the queries: ``pay(..., wait=True)`` loops here (sleeping ``interval`` between steps);
the cashier's page calls ``pay(..., wait=False)``, which answers ``userpaying``/``checking`` at
once and leaves the attempt open in the ledger, and the till's watcher then calls
:meth:`CodePayment.follow_up` every ``interval`` seconds (pos/till/codewatch.py). Both run the
same step (:meth:`CodePayment._step`), so the rules above are the same either way.

A reversed attempt that later reads SUCCESS (:meth:`CodePayment.recheck`) is flagged for the
manager, never counted as the sale's payment. One whose reverse never went through
(``reverse_failed``) is not left there: the watcher calls :meth:`CodePayment.reverse_again` on a
backing-off schedule until WeChat confirms the reverse (recorded ``reversed``, as if the first
try had worked), reports it paid (flagged, as above) or no longer reverses it (7 days).

Time is injected (``clock`` and ``sleep``), so tests move a FakeClock instead of waiting.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from pos.i18n import Translator
from pos.ledger import micropay as ledger_micropay
from pos.ledger.models import PaymentSource, Sale
from pos.log import get_logger
from pos.wechatpay.client import WeChatPayClient
from pos.wechatpay.errors import BusinessError, OutcomeUnknown, PaymentDeclined, WeChatPayError
from pos.wechatpay.micropay import MicropayPaid, check_payment_code, micropay, paid_from, reverse

log = get_logger(__name__)

EXPIRED_CODES = frozenset({"AUTH_CODE_INVALID", "AUTHCODEEXPIRE", "AUTH_CODE_ERROR"})
SHOWN = frozenset({"paid", "flagged", "reversed", "reverse_failed"})  # outcomes with words of their own
PENDING = frozenset({"userpaying", "checking"})  # the watcher is still following the attempt


@dataclass(frozen=True)
class CodeOutcome:
    """What happened: ``status`` is paid, declined, cancelled, reversed, reverse_failed or flagged
    (WeChat reported a payment the ledger would not take as this sale's: the manager is told), or
    while the outcome is open userpaying (the customer types the password) or checking."""

    status: str
    sale: Sale
    out_trade_no: str
    message: str
    err_code: str = ""
    transaction_id: str = ""

    @property
    def paid(self) -> bool:
        return self.status == "paid"

    @property
    def pending(self) -> bool:
        return self.status in PENDING


class CodePayment:
    """The payment-code use case for one till (one ledger, one v2 client)."""

    def __init__(
        self,
        ledger,
        client: WeChatPayClient,
        *,
        reverse_client: WeChatPayClient | None = None,
        spbill_create_ip: str = "127.0.0.1",
        language: str = "zh-CN",
        clock: Callable[[], datetime] | None = None,
        sleep: Callable[[float], object] | None = None,
        interval: float = 5.0,
        deadline: float = 60.0,
        reverse_tries: int = 5,
        min_reverse_age: float = 15.0,
    ) -> None:
        self.ledger = ledger
        self.client = client
        self.reverse_client = reverse_client or client
        self.ip = spbill_create_ip
        self.t = Translator(language)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.sleep = sleep or time.sleep
        self.interval = interval
        self.deadline = deadline
        self.reverse_tries = reverse_tries
        self.min_reverse_age = min_reverse_age
        self._lock = threading.Lock()
        self._busy: set[str] = set()  # attempts a cashier's request is working on right now
        self._reverse_tries: dict[str, int] = {}  # attempt -> reverse calls so far (the watcher's steps)

    def pay(self, sale_id: int, auth_code: str, *, wait: bool = True) -> CodeOutcome:
        """Charge ``auth_code`` for the sale. Raises NotAPaymentCode, OpenNativeOrder, NotPayableByCode,
        AttemptInProgress (another code for this sale is being charged).

        ``wait=False`` (the cashier's page): when WeChat's answer leaves the outcome open (USERPAYING,
        unknown) return at once with status ``userpaying`` or ``checking``; the watcher then follows
        the attempt (:meth:`follow_up`) to paid, cancelled or reversed. ``wait=True`` queries here.
        """
        code = check_payment_code(auth_code)
        attempt = ledger_micropay.start_attempt(self.ledger, sale_id)
        with self._lock:
            self._busy.add(attempt)  # the watcher leaves it alone while this call works on it
        try:
            sale = self.ledger.get_sale(sale_id)
            started = self.clock()
            try:
                paid = micropay(self.client, out_trade_no=attempt, total_fee=sale.total_fee, body=sale.body,
                                auth_code=code, spbill_create_ip=self.ip, device_info=sale.lane)  # fmt: skip
            except PaymentDeclined as exc:
                return self._declined(sale, attempt, exc)
            except OutcomeUnknown as exc:
                log.info("micropay_unknown", sale=sale_id, out_trade_no=attempt, reason=exc.reason)
                ledger_micropay.record_waiting(self.ledger, sale_id, attempt, exc.reason)
                if not wait:
                    return self._pending(sale, attempt, exc.reason)
                return self._settle(sale, attempt, started)
            return self._paid(sale, attempt, paid)
        finally:
            with self._lock:
                self._busy.discard(attempt)

    # -- outcomes ---------------------------------------------------------------------------------

    def _paid(self, sale: Sale, attempt: str, paid: MicropayPaid) -> CodeOutcome:
        if attempt in ledger_micropay.given_up_attempts(self.ledger, sale.id):
            ledger_micropay.flag_paid_after_reverse(
                self.ledger, sale, attempt, paid.transaction_id, paid.total_fee
            )
            return self._outcome("reverse_failed", sale, attempt, "paycode.reverse_failed")
        # mark_paid first (exactly once by transaction_id): a crash before the attempt is recorded
        # settled leaves it open, and the watcher's next query finds the same payment again.
        self.ledger.mark_paid(
            sale.out_trade_no, transaction_id=paid.transaction_id, total_fee=paid.total_fee,
            time_end=paid.time_end or self.clock(), source=PaymentSource.QUERY, cash_fee=paid.cash_fee,
            openid=paid.openid or None, coupon_fee=paid.coupon_fee,
            settlement_total_fee=paid.settlement_total_fee,
        )  # fmt: skip
        after = self.ledger.get_sale(sale.id)
        taken = after.state.is_paid and after.transaction_id == paid.transaction_id
        ledger_micropay.record_settled(self.ledger, sale.id, attempt, "paid" if taken else "flagged",
                                       transaction_id=paid.transaction_id)  # fmt: skip
        if not taken:
            # mark_paid stored and flagged it (another amount, a second payment): not this sale's.
            return CodeOutcome("flagged", after, attempt, self.t("paycode.flagged"),
                               transaction_id=paid.transaction_id)  # fmt: skip
        log.info("micropay_paid", sale=sale.id, out_trade_no=attempt, transaction_id=paid.transaction_id)
        return CodeOutcome("paid", after, attempt, self.t("paycode.paid"), transaction_id=paid.transaction_id)

    def _declined(self, sale: Sale, attempt: str, exc: BusinessError) -> CodeOutcome:
        ledger_micropay.record_settled(self.ledger, sale.id, attempt, "declined", err_code=exc.err_code,
                                       err_code_des=exc.err_code_des)  # fmt: skip
        message = self._declined_words(exc.err_code, exc.err_code_des)
        return CodeOutcome("declined", self.ledger.get_sale(sale.id), attempt, message, err_code=exc.err_code)

    def _declined_words(self, err_code: str, err_code_des: str) -> str:
        if err_code in EXPIRED_CODES:
            return self.t("paycode.expired")
        if err_code == "NOTENOUGH":
            return self.t("paycode.not_enough")
        return self.t("paycode.declined", detail=err_code_des or err_code)

    def _pending(self, sale: Sale, attempt: str, reason: str) -> CodeOutcome:
        status = "userpaying" if reason == "USERPAYING" else "checking"
        return CodeOutcome(status, self.ledger.get_sale(sale.id), attempt, self.t(f"paycode.{status}"))

    def _outcome(self, status: str, sale: Sale, attempt: str, key: str) -> CodeOutcome:
        return CodeOutcome(status, self.ledger.get_sale(sale.id), attempt, self.t(key))

    def status(self, sale_id: int) -> CodeOutcome | None:
        """What became of the sale's latest code, in the cashier's words (None: no code tried), for
        the page that polls while the customer types the password or the watcher follows it."""
        last = ledger_micropay.last_attempt(self.ledger, sale_id)
        if last is None:
            return None
        sale = self.ledger.get_sale(sale_id)
        if last.open:
            return self._pending(sale, last.out_trade_no, last.waiting)
        detail, number = last.detail, last.out_trade_no
        if last.outcome == "declined":
            words = self._declined_words(detail.get("err_code", ""), detail.get("err_code_des", ""))
            return CodeOutcome("declined", sale, number, words, err_code=detail.get("err_code", ""))
        if last.outcome in ("revoked", "closed") or (last.outcome == "reversed" and detail.get("cancelled")):
            return self._outcome("cancelled", sale, number, "paycode.cancelled")
        if last.outcome == "reverse_failed" and last.reverse_ended == "paid_after_reverse":
            return self._outcome("flagged", sale, number, "paycode.flagged")  # reversing ended: flagged
        status = last.outcome if last.outcome in SHOWN else "flagged"
        return CodeOutcome(status, sale, number, self.t(f"paycode.{status}"),
                           transaction_id=detail.get("transaction_id", ""))  # fmt: skip

    # -- the unknown outcome ------------------------------------------------------------------------

    def _elapsed(self, started: datetime, now: datetime | None = None) -> float:
        return ((now or self.clock()) - started).total_seconds()

    def _settle(self, sale: Sale, attempt: str, started: datetime) -> CodeOutcome:
        """Query every ``interval`` until paid, failed or the deadline; then reverse."""
        while True:
            self.sleep(self.interval)
            outcome = self._step(sale.id, attempt, started, self.clock())
            if outcome is not None:
                return outcome

    def follow_up(
        self, sale_id: int, attempt: str, started: datetime, *, now: datetime | None = None
    ) -> CodeOutcome | None:
        """The watcher's one step for an attempt left open when the cashier's request ended: query it
        (SUCCESS -> paid exactly once; REVOKED/CLOSED -> cancelled); once ``deadline`` seconds have
        passed since the pay call (or the customer gave up: PAYERROR), reverse it, one call per step
        while WeChat answers ``recall=Y``. Returns the outcome, or None: still open, ask again in
        ``interval`` seconds. Does nothing (None) while a cashier's request works on the attempt."""
        with self._lock:
            if attempt in self._busy:
                return None
        return self._step(sale_id, attempt, started, now or self.clock())

    def _step(self, sale_id: int, attempt: str, started: datetime, now: datetime) -> CodeOutcome | None:
        sale = self.ledger.get_sale(sale_id)
        cancelled = False
        try:
            status = self.client.query_order(attempt)
        except WeChatPayError:  # ORDERNOTEXIST (still in flight), transport: keep asking
            status = None
        if status is not None:
            if status.trade_state == "SUCCESS":
                self._reverse_tries.pop(attempt, None)
                return self._paid(sale, attempt, paid_from(status.fields, attempt, sale.total_fee))
            if status.trade_state in ("REVOKED", "CLOSED"):
                self._reverse_tries.pop(attempt, None)
                ledger_micropay.record_settled(self.ledger, sale.id, attempt, status.trade_state.lower())
                return self._outcome("cancelled", sale, attempt, "paycode.cancelled")
            cancelled = status.trade_state == "PAYERROR"
            last = ledger_micropay.last_attempt(self.ledger, sale_id)
            if last is not None and last.out_trade_no == attempt and last.waiting != status.trade_state:
                ledger_micropay.record_waiting(self.ledger, sale_id, attempt, status.trade_state)
        elapsed = self._elapsed(started, now)
        if (elapsed < self.deadline and not cancelled) or elapsed < self.min_reverse_age:
            return None  # WeChat: no reverse sooner than ~15 s after the pay call
        return self._reverse_step(sale, attempt, cancelled)

    def _reverse_step(self, sale: Sale, attempt: str, cancelled: bool) -> CodeOutcome | None:
        """One reverse call; the outcome once WeChat confirmed it or ``reverse_tries`` calls failed."""
        tries = self._reverse_tries.get(attempt, 0) + 1
        self._reverse_tries[attempt] = tries
        try:
            answer = reverse(self.reverse_client, out_trade_no=attempt)
        except BusinessError as exc:
            log.warning("reverse_refused", out_trade_no=attempt, err_code=exc.err_code)
            tries = self.reverse_tries
        except WeChatPayError as exc:
            log.warning("reverse_unanswered", out_trade_no=attempt, error=str(exc))
        else:
            if answer.done and not answer.recall:
                self._reverse_tries.pop(attempt, None)
                ledger_micropay.record_reversed(self.ledger, sale.id, attempt, cancelled=cancelled)
                log.info("micropay_reversed", sale=sale.id, out_trade_no=attempt)
                return self._outcome("cancelled" if cancelled else "reversed", sale, attempt,
                                     "paycode.cancelled" if cancelled else "paycode.reversed")  # fmt: skip
        if tries < self.reverse_tries:
            return None
        self._reverse_tries.pop(attempt, None)
        ledger_micropay.record_reverse_failed(self.ledger, sale.id, attempt)
        return self._outcome("reverse_failed", sale, attempt, "paycode.reverse_failed")

    def reverse_again(self, sale_id: int, attempt: str) -> CodeOutcome | None:
        """The watcher's step for an attempt whose reverse never went through (``reverse_failed``):
        the customer must not stay charged for a sale the till gave up on. Ask WeChat first: SUCCESS
        is flagged (paid after a reverse: never the sale's payment) and the reversing ends; REVOKED or
        CLOSED means nothing can be charged any more (recorded reversed); else reverse it again, and
        WeChat confirming it records it reversed, as a first-time success would. Returns the outcome,
        or None: still not reversed (no answer, recall=Y, a refusal), ask again later."""
        with self._lock:
            if attempt in self._busy:
                return None
        sale = self.ledger.get_sale(sale_id)
        try:
            status = self.client.query_order(attempt)
        except WeChatPayError:  # no answer: the reverse below is what matters
            status = None
        if status is not None and status.trade_state == "SUCCESS":
            self._flag_late(sale, attempt, paid_from(status.fields, attempt, sale.total_fee))
            ledger_micropay.record_reverse_ended(self.ledger, sale.id, attempt, "paid_after_reverse")
            return self._outcome("flagged", sale, attempt, "paycode.flagged")
        if status is not None and status.trade_state in ("REVOKED", "CLOSED"):
            return self._reversed_late(sale, attempt, status.trade_state)
        try:
            answer = reverse(self.reverse_client, out_trade_no=attempt)
        except BusinessError as exc:
            log.warning("reverse_refused", out_trade_no=attempt, err_code=exc.err_code, late=True)
            if exc.err_code == "REVERSE_EXPIRE":  # too old for a reverse: the manager refunds it
                ledger_micropay.record_reverse_ended(self.ledger, sale.id, attempt, "reverse_expired")
                return self._outcome("reverse_failed", sale, attempt, "paycode.reverse_failed")
            return None
        except WeChatPayError as exc:
            log.warning("reverse_unanswered", out_trade_no=attempt, error=str(exc), late=True)
            return None
        if answer.done and not answer.recall:
            return self._reversed_late(sale, attempt, "")
        return None

    def _reversed_late(self, sale: Sale, attempt: str, trade_state: str) -> CodeOutcome:
        ledger_micropay.record_reversed(self.ledger, sale.id, attempt)
        log.info("micropay_reversed", sale=sale.id, out_trade_no=attempt, late=True, trade_state=trade_state)
        return self._outcome("reversed", sale, attempt, "paycode.reversed")

    def _flag_late(self, sale: Sale, attempt: str, paid: MicropayPaid) -> None:
        ledger_micropay.flag_paid_after_reverse(
            self.ledger, sale, attempt, paid.transaction_id, paid.total_fee
        )
        log.warning("micropay_paid_after_reverse", sale=sale.id, out_trade_no=attempt,
                    transaction_id=paid.transaction_id)  # fmt: skip

    def recheck(self, sale_id: int) -> list[str]:
        """Query every attempt the till gave up on; one WeChat now reports paid is flagged (paid
        after a reverse, or after a reverse that never went through), never taken as the sale's
        payment. Returns the flagged numbers; an attempt WeChat does not answer for is asked again
        at the next recheck. The watcher calls it for attempts given up in the last minutes."""
        sale = self.ledger.get_sale(sale_id)
        flagged = []
        for attempt in ledger_micropay.given_up_attempts(self.ledger, sale_id):
            try:
                status = self.client.query_order(attempt)
            except WeChatPayError as exc:
                log.warning("recheck_failed", sale=sale_id, out_trade_no=attempt, error=str(exc))
                continue
            if status.trade_state == "SUCCESS":
                self._flag_late(sale, attempt, paid_from(status.fields, attempt, sale.total_fee))
                flagged.append(attempt)
        return flagged
