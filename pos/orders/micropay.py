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

A reversed attempt that later reads SUCCESS (:meth:`CodePayment.recheck`) is flagged for the
manager, never counted as the sale's payment. Time is injected (``clock`` and ``sleep``), so
tests move a FakeClock instead of waiting.
"""

from __future__ import annotations

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


@dataclass(frozen=True)
class CodeOutcome:
    """What happened: ``status`` is paid, declined, cancelled, reversed, reverse_failed or flagged
    (WeChat reported a payment the ledger would not take as this sale's: the manager is told)."""

    status: str
    sale: Sale
    out_trade_no: str
    message: str
    err_code: str = ""
    transaction_id: str = ""

    @property
    def paid(self) -> bool:
        return self.status == "paid"


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

    def pay(self, sale_id: int, auth_code: str) -> CodeOutcome:
        """Charge ``auth_code`` for the sale. Raises NotAPaymentCode, OpenNativeOrder, NotPayableByCode,
        AttemptInProgress (another code for this sale is being charged)."""
        code = check_payment_code(auth_code)
        attempt = ledger_micropay.start_attempt(self.ledger, sale_id)
        sale = self.ledger.get_sale(sale_id)
        started = self.clock()
        try:
            paid = micropay(self.client, out_trade_no=attempt, total_fee=sale.total_fee, body=sale.body,
                            auth_code=code, spbill_create_ip=self.ip, device_info=sale.lane)  # fmt: skip
        except PaymentDeclined as exc:
            return self._declined(sale, attempt, exc)
        except OutcomeUnknown as exc:
            log.info("micropay_unknown", sale=sale_id, out_trade_no=attempt, reason=exc.reason)
            return self._settle(sale, attempt, started)
        return self._paid(sale, attempt, paid)

    # -- outcomes ---------------------------------------------------------------------------------

    def _paid(self, sale: Sale, attempt: str, paid: MicropayPaid) -> CodeOutcome:
        if attempt in ledger_micropay.given_up_attempts(self.ledger, sale.id):
            ledger_micropay.flag_paid_after_reverse(
                self.ledger, sale, attempt, paid.transaction_id, paid.total_fee
            )
            return self._outcome("reverse_failed", sale, attempt, "paycode.reverse_failed")
        ledger_micropay.record_settled(
            self.ledger, sale.id, attempt, "paid", transaction_id=paid.transaction_id
        )
        self.ledger.mark_paid(
            sale.out_trade_no, transaction_id=paid.transaction_id, total_fee=paid.total_fee,
            time_end=paid.time_end or self.clock(), source=PaymentSource.QUERY, cash_fee=paid.cash_fee,
            openid=paid.openid or None, coupon_fee=paid.coupon_fee,
            settlement_total_fee=paid.settlement_total_fee,
        )  # fmt: skip
        after = self.ledger.get_sale(sale.id)
        if not after.state.is_paid or after.transaction_id != paid.transaction_id:
            # mark_paid stored and flagged it (another amount, a second payment): not this sale's.
            return CodeOutcome("flagged", after, attempt, self.t("paycode.flagged"),
                               transaction_id=paid.transaction_id)  # fmt: skip
        return CodeOutcome("paid", after, attempt, self.t("paycode.paid"), transaction_id=paid.transaction_id)

    def _declined(self, sale: Sale, attempt: str, exc: BusinessError) -> CodeOutcome:
        ledger_micropay.record_settled(self.ledger, sale.id, attempt, "declined", err_code=exc.err_code)
        if exc.err_code in EXPIRED_CODES:
            message = self.t("paycode.expired")
        elif exc.err_code == "NOTENOUGH":
            message = self.t("paycode.not_enough")
        else:
            message = self.t("paycode.declined", detail=exc.err_code_des or exc.err_code)
        return CodeOutcome("declined", self.ledger.get_sale(sale.id), attempt, message, err_code=exc.err_code)

    def _outcome(self, status: str, sale: Sale, attempt: str, key: str) -> CodeOutcome:
        return CodeOutcome(status, self.ledger.get_sale(sale.id), attempt, self.t(key))

    # -- the unknown outcome ------------------------------------------------------------------------

    def _elapsed(self, started: datetime) -> float:
        return (self.clock() - started).total_seconds()

    def _settle(self, sale: Sale, attempt: str, started: datetime) -> CodeOutcome:
        """Query until paid, failed or the deadline; then reverse."""
        cancelled = False
        while self._elapsed(started) < self.deadline:
            self.sleep(self.interval)
            try:
                status = self.client.query_order(attempt)
            except WeChatPayError:  # ORDERNOTEXIST (still in flight), transport: keep asking
                continue
            if status.trade_state == "SUCCESS":
                return self._paid(sale, attempt, paid_from(status.fields, attempt, sale.total_fee))
            if status.trade_state in ("REVOKED", "CLOSED"):
                ledger_micropay.record_settled(self.ledger, sale.id, attempt, status.trade_state.lower())
                return self._outcome("cancelled", sale, attempt, "paycode.cancelled")
            if status.trade_state == "PAYERROR":
                cancelled = True
                break
        if self._elapsed(started) < self.min_reverse_age:  # WeChat: not sooner than ~15 s after the pay call
            self.sleep(self.min_reverse_age - self._elapsed(started))
        if self._reverse(sale, attempt):
            return self._outcome("cancelled" if cancelled else "reversed", sale, attempt,
                                 "paycode.cancelled" if cancelled else "paycode.reversed")  # fmt: skip
        return self._outcome("reverse_failed", sale, attempt, "paycode.reverse_failed")

    def _reverse(self, sale: Sale, attempt: str) -> bool:
        """Reverse ``attempt`` (retrying while recall=Y or no answer); True when WeChat confirmed it."""
        for _ in range(self.reverse_tries):
            try:
                answer = reverse(self.reverse_client, out_trade_no=attempt)
            except BusinessError as exc:
                log.warning("reverse_refused", out_trade_no=attempt, err_code=exc.err_code)
                break
            except WeChatPayError as exc:
                log.warning("reverse_unanswered", out_trade_no=attempt, error=str(exc))
            else:
                if answer.done and not answer.recall:
                    ledger_micropay.record_reversed(self.ledger, sale.id, attempt)
                    return True
            self.sleep(self.interval)
        ledger_micropay.record_reverse_failed(self.ledger, sale.id, attempt)
        return False

    def recheck(self, sale_id: int) -> list[str]:
        """Query every attempt the till gave up on; one WeChat now reports paid is flagged (paid
        after a reverse, or after a reverse that never went through), never taken as the sale's
        payment. Returns the flagged numbers. (The watcher does not call it yet: see README.)"""
        sale = self.ledger.get_sale(sale_id)
        flagged = []
        for attempt in ledger_micropay.given_up_attempts(self.ledger, sale_id):
            status = self.client.query_order(attempt)
            if status.trade_state == "SUCCESS":
                paid = paid_from(status.fields, attempt, sale.total_fee)
                ledger_micropay.flag_paid_after_reverse(
                    self.ledger, sale, attempt, paid.transaction_id, paid.total_fee
                )
                flagged.append(attempt)
        return flagged
