"""Refunds a manager asks for: one out_refund_no each, never more than was paid, never twice.

    service = RefundService(ledger, client, config)
    refund = service.refund(sale.id, 500, reason="少找零", by="manager")  # -> ledger Refund
    service.sync(sale.id)           # confirm PENDING refunds with /pay/refundquery (or re-send them)
    service.follow_up(out_refund_no)  # the same for one refund (the till's scheduled follow-up)

One refund goes like this:

1. **The certificate.** ``/secapi/pay/refund`` wants the merchant's API client
   certificate. It comes from ``[merchant] cert_file`` / ``key_file``; missing,
   unreadable, expired or mismatched files are refused here, with the setting
   named, before anything is reserved or sent. The client presents exactly these
   files.
2. **The reservation.** :meth:`~pos.ledger.Ledger.start_refund` checks "every
   refund not failed <= the payment" and reserves the amount in one conditional
   UPDATE, and names the refund (``<out_trade_no>-R<n>``). Two managers refunding
   at once cannot go over the payment; the database decides.
3. **The request**, with that out_refund_no and ``notify_url`` = the listener's
   ``/wechatpay/refund-notify``. The client re-sends the identical bytes on
   transport failures. When the outcome stays unknown (no answer, SYSTEMERROR,
   an answer we cannot trust) the refund stays PENDING and keeps its number:
   :meth:`RefundService.sync` asks WeChat about it and re-sends it *under the
   same number* if WeChat never saw it, and calling :meth:`RefundService.refund`
   again for the same amount while it is pending retries it instead of
   starting a second refund. A definite refusal (``NOTENOUGH``, a wrong
   signature, ...) fails the refund, which releases the reservation.
4. **Completion.** WeChat's SUCCESS answer to the refund request only means
   *accepted*. So we never complete on it: right after acceptance the service
   asks ``/pay/refundquery`` and completes on ``refund_status=SUCCESS`` (the
   simulator, like WeChat for change-wallet payments, refunds at once, so this
   usually finishes within the manager's click), fails it on ``REFUNDCLOSE``,
   holds it on ``CHANGE`` (the money could not go back to the customer's card: the
   amount stays reserved until the manager re-sends it or pays it another way, see
   :mod:`pos.ledger.held`), and leaves ``PROCESSING`` for the refund notice (the
   listener) or a later :meth:`sync` / :meth:`follow_up` (the till's watcher asks about every
   open refund on a schedule: :mod:`pos.till.refundwatch`). Both paths end in
   :meth:`~pos.ledger.Ledger.complete_refund`, whose conditional update makes the second one a
   no-op, and which queues the refund slip in the same transaction: it prints once, whoever was
   first.

Errors a manager sees are :class:`RefundError` sentences in the store's language.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from pos.config import Config
from pos.i18n import translator
from pos.ledger import (
    InvalidTransition,
    Ledger,
    Refund,
    RefundRefused,
    RefundState,
    Sale,
    UnknownRefund,
    UnknownSale,
)
from pos.log import get_logger
from pos.money import format_price
from pos.orders.errors import OrdersError
from pos.wechatpay import WeChatPayClient
from pos.wechatpay.answers import RefundItem
from pos.wechatpay.errors import BusinessError, MessageError, ProtocolFail, TransportError, WeChatPayError

log = get_logger("pos.orders.refunds")

REFUND_NOTIFY_PATH = "/wechatpay/refund-notify"
# err_code values after which the same out_refund_no must simply be sent again.
RETRY_CODES = frozenset({"SYSTEMERROR", "BIZERR_NEED_RETRY"})
FINAL_FAILURES = ("REFUNDCLOSE",)
HELD_STATUS = "CHANGE"  # 退款异常: WeChat could not return the money; the manager must act
MAX_DESC = 80  # refund_desc is String(80)


class RefundError(OrdersError):
    """A refund that was not made (or not yet): ``str(exc)`` is the sentence for the manager.

    ``code`` is the stable key (``certificate_missing``, ``too_much``, ``refused``, ...);
    ``refund`` is the ledger's record when one was started (FAILED when refused).
    """

    def __init__(self, code: str, text: str, refund: Refund | None = None) -> None:
        super().__init__(text)
        self.code = code
        self.refund = refund


class RefundPending(RefundError):
    """WeChat's outcome is unknown: the refund stays PENDING with its out_refund_no (``refund``),
    to be settled by :meth:`RefundService.sync`, the refund notice, or the same request again."""


def refund_notify_url(config: Config) -> str:
    """Where WeChat sends refund notices: ``[merchant] refund_notify_url``, else beside notify_url.

    ``https://shop.example/pos/wechatpay/notify`` -> ``https://shop.example/pos/wechatpay/refund-notify``
    (a proxy's path prefix is kept); a notify_url not ending in ``/notify`` gets the listener's
    own path on its origin.
    """
    merchant = config.merchant
    if merchant.refund_notify_url:
        return merchant.refund_notify_url
    parts = urlsplit(merchant.notify_url)
    path = parts.path
    if path.endswith("/wechatpay/notify"):
        path = path[: -len("/notify")] + "/refund-notify"
    else:
        path = REFUND_NOTIFY_PATH
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


class RefundService:
    """Refunds of paid sales through WeChat Pay, recorded in the ledger. Thread-safe."""

    def __init__(
        self,
        ledger: Ledger,
        client: WeChatPayClient,
        config: Config,
        *,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.ledger = ledger
        self.client = client
        self.config = config
        self.language = config.store.language
        self.notify_url = refund_notify_url(config)
        self._clock = clock
        # One manager's double click must not become two refunds: the "is one pending?" look and
        # the reservation happen under this lock (the ledger still guards the total on its own).
        self._starting = threading.Lock()

    # -- public -----------------------------------------------------------------------------

    def refund(self, sale_id: int, refund_fee: int, *, reason: str = "", by: str = "") -> Refund:
        """Refund ``refund_fee`` fen of a paid sale; returns the ledger's refund.

        SUCCEEDED: WeChat confirmed it and the slip is queued. PENDING: WeChat accepted it and
        is still processing (the notice or :meth:`sync` will finish it). Raises
        :class:`RefundPending` when the outcome is unknown and :class:`RefundError` when
        nothing was (or will be) refunded.
        """
        if isinstance(refund_fee, bool) or not isinstance(refund_fee, int) or refund_fee <= 0:
            raise RefundError("amount", self._t("amount"))
        self._use_certificate()
        sale = self._sale(sale_id)
        with self._starting:
            retry = next(
                (
                    r
                    for r in self.ledger.refunds_for_sale(sale.id)
                    if r.state is RefundState.PENDING and r.refund_fee == refund_fee
                ),
                None,
            )
            refund = retry or self._start(sale, refund_fee, reason)
        self.ledger.log_event(
            "refund_requested",
            sale_id=sale.id,
            detail={"out_refund_no": refund.out_refund_no, "refund_fee": refund_fee, "by": by,
                    "retry": retry is not None},
            now=self._now(),
        )  # fmt: skip
        log.info(
            "refund_requested",
            sale=sale.id,
            out_refund_no=refund.out_refund_no,
            refund_fee=refund_fee,
            retry=retry is not None,
        )
        return self._send(sale, refund)

    def sync(self, sale_id: int) -> list[Refund]:
        """Settle the sale's PENDING and HELD refunds by asking WeChat; returns all its refunds after.

        ``refund_status`` SUCCESS completes (slip queued; for a HELD refund: the manager's re-send
        went through), REFUNDCLOSE fails (reservation released, manager flagged), CHANGE holds
        (reservation kept, manager flagged), PROCESSING waits. A refund WeChat never heard of
        (REFUNDNOTEXIST: the request was lost on the way) is sent again under its own number.
        Anything that goes wrong leaves the refund PENDING for the next sync.
        """
        sale = self._sale(sale_id)
        for refund in self.ledger.refunds_for_sale(sale.id):
            if refund.state in (RefundState.PENDING, RefundState.HELD):
                self._settle(sale, refund)
        return self.ledger.refunds_for_sale(sale.id)

    def follow_up(self, out_refund_no: str) -> Refund:
        """:meth:`sync` for one refund: what the till's scheduled follow-up calls
        (:mod:`pos.till.refundwatch`). Returns the refund after; one that is already final is
        returned as it is, without asking WeChat (a notice settled it since it was last read)."""
        refund = self.ledger.get_refund(out_refund_no)
        if refund.state not in (RefundState.PENDING, RefundState.HELD):
            return refund
        self._settle(self._sale(refund.sale_id), refund)
        return self.ledger.get_refund(out_refund_no)

    def _settle(self, sale: Sale, refund: Refund) -> None:
        """Ask WeChat about one PENDING or HELD refund and record the answer (see :meth:`sync`)."""
        try:
            status = self.client.refund_query(out_refund_no=refund.out_refund_no)
        except BusinessError as exc:
            if exc.err_code == "REFUNDNOTEXIST" and refund.state is RefundState.PENDING:
                try:
                    self._use_certificate()
                    self._send(sale, refund)
                except RefundError as error:
                    log.warning(
                        "refund_resend_failed",
                        sale=sale.id,
                        out_refund_no=refund.out_refund_no,
                        code=error.code,
                    )
                return
            log.warning("refund_query_failed", out_refund_no=refund.out_refund_no, err_code=exc.err_code)
            return
        except WeChatPayError as exc:
            log.warning(
                "refund_query_failed",
                out_refund_no=refund.out_refund_no,
                error=type(exc).__name__,
            )
            return
        item = next((i for i in status.refunds if i.out_refund_no == refund.out_refund_no), None)
        if item is not None:
            self._apply(refund, item)

    def describe(self, refund: Refund) -> str:
        """Where a refund stands, as one sentence for the manager."""
        values = {"out_refund_no": refund.out_refund_no, "amount": format_price(refund.refund_fee)}
        if refund.state is RefundState.SUCCEEDED:
            return self._t("state_succeeded", **values)
        if refund.state is RefundState.FAILED:
            return self._t("state_failed", reason=refund.failure or "-", **values)
        if refund.state is RefundState.HELD:
            return self._t("state_held", **values)
        return self._t("state_pending", **values)

    # -- steps ------------------------------------------------------------------------------

    def _t(self, key: str, /, **values: Any) -> str:
        return translator(self.language)(f"refunds.{key}", **values)

    def _now(self) -> dt.datetime | None:
        return self._clock() if self._clock else None

    def _use_certificate(self) -> None:
        """Check the configured certificate files and make the client present them."""
        merchant = self.config.merchant
        if merchant.api == "v3":
            return  # v3 refunds are signed with the merchant's private key; no TLS client certificate
        if not merchant.cert_file or not merchant.key_file:
            raise RefundError("certificate_missing", self._t("certificate_missing"))
        cert_data = self._read(merchant.cert_file, "cert_file")
        key_data = self._read(merchant.key_file, "key_file")
        try:
            cert = x509.load_pem_x509_certificate(cert_data)
        except ValueError:
            raise self._unreadable(merchant.cert_file, "cert_file", "not_cert") from None
        try:
            key = serialization.load_pem_private_key(key_data, password=None)
        except (ValueError, TypeError):
            raise self._unreadable(merchant.key_file, "key_file", "not_key") from None
        if cert.not_valid_after_utc < dt.datetime.now(dt.UTC):
            raise RefundError(
                "certificate_expired",
                self._t("certificate_expired", path=merchant.cert_file,
                        date=cert.not_valid_after_utc.date().isoformat()),
            )  # fmt: skip
        public = serialization.PublicFormat.SubjectPublicKeyInfo
        encoding = serialization.Encoding.DER
        if cert.public_key().public_bytes(encoding, public) != key.public_key().public_bytes(
            encoding, public
        ):
            raise RefundError("certificate_mismatch", self._t("certificate_mismatch"))
        self.client.cert = (merchant.cert_file, merchant.key_file)

    def _read(self, path: str, key: str) -> bytes:
        try:
            return Path(path).read_bytes()
        except FileNotFoundError:
            raise self._unreadable(path, key, "missing") from None
        except PermissionError:
            raise self._unreadable(path, key, "permission") from None
        except OSError as exc:
            raise self._unreadable(path, key, exc.strerror or type(exc).__name__) from None

    def _unreadable(self, path: str, key: str, problem: str) -> RefundError:
        t, known = translator(self.language), f"refunds.problem.{problem}"
        text = t(known) if known in t else problem
        return RefundError("certificate_unreadable", self._t("certificate_unreadable", path=path, key=key,
                                                             problem=text))  # fmt: skip

    def _sale(self, sale_id: int) -> Sale:
        try:
            sale = self.ledger.get_sale(sale_id)
        except UnknownSale:
            raise RefundError("unknown_sale", self._t("unknown_sale", sale=sale_id)) from None
        if not sale.state.is_paid:
            raise RefundError(
                "not_paid", self._t("not_paid", out_trade_no=sale.out_trade_no, state=sale.state.value)
            )
        return sale

    def _start(self, sale: Sale, refund_fee: int, reason: str) -> Refund:
        try:
            return self.ledger.start_refund(sale.id, refund_fee, reason=reason, now=self._now())
        except InvalidTransition as exc:
            raise RefundError(
                "not_paid", self._t("not_paid", out_trade_no=sale.out_trade_no, state=str(exc.current))
            ) from None
        except RefundRefused:
            current = self.ledger.get_sale(sale.id)
            raise RefundError(
                "too_much",
                self._t("too_much", amount=format_price(refund_fee), out_trade_no=sale.out_trade_no,
                        total=format_price(current.total_fee),
                        left=format_price(max(current.refundable_fee, 0))),
            ) from None  # fmt: skip

    def _send(self, sale: Sale, refund: Refund) -> Refund:
        """Ask WeChat to refund, then confirm by query. Same out_refund_no every time."""
        try:
            return self._request(sale, refund)
        except _Settled as settled:
            return settled.refund

    def _request(self, sale: Sale, refund: Refund) -> Refund:
        values = {"out_refund_no": refund.out_refund_no, "amount": format_price(refund.refund_fee)}
        try:
            accepted = self.client.refund(
                out_refund_no=refund.out_refund_no,
                total_fee=sale.total_fee,
                refund_fee=refund.refund_fee,
                out_trade_no=sale.out_trade_no,
                transaction_id=sale.transaction_id or None,
                refund_desc=refund.reason[:MAX_DESC] or None,
                notify_url=self.notify_url,
            )
        except BusinessError as exc:
            detail = f"{exc.err_code}: {exc.err_code_des}".strip(": ")
            if exc.err_code in RETRY_CODES:
                raise self._pending("pending_busy", refund, detail, values) from None
            failed = self._fail(refund, detail)
            raise RefundError("refused", self._t("refused", reason=detail, **values), failed) from None
        except ProtocolFail as exc:
            # return_code=FAIL: WeChat refused the request itself (signature, certificate not match...).
            detail = str(exc) or "return_code=FAIL"
            failed = self._fail(refund, detail)
            raise RefundError("refused", self._t("refused", reason=detail, **values), failed) from None
        except TransportError as exc:
            text = str(exc)
            key = "pending_tls" if "SSL" in text or "HTTP 400" in text else "pending_unreachable"
            raise self._pending(key, refund, _short(text), values) from None
        except MessageError as exc:  # a bad signature, another merchant, unreadable fields
            raise self._pending("pending_untrusted", refund, _short(str(exc)), values) from None
        self.ledger.log_event(
            "refund_accepted",
            sale_id=sale.id,
            detail={"out_refund_no": refund.out_refund_no, "refund_id": accepted.refund_id},
            now=self._now(),
        )
        # A coupon payment's refund: what the merchant gives back (应结退款金额) and the cash part,
        # kept now in case the refund notice (v3's has neither) completes the refund first. A refund
        # without a coupon says the refund's own amount (or nothing): no write.
        settled = accepted.settlement_refund_fee
        cash = _cash(accepted.refund_fee, accepted.cash_refund_fee, accepted.coupon_refund_fee)
        if {settled, cash} - {None, refund.refund_fee}:
            self.ledger.note_refund_figures(
                refund.out_refund_no, settlement_refund_fee=settled, cash_refund_fee=cash
            )
        try:
            status = self.client.refund_query(out_refund_no=refund.out_refund_no)
        except WeChatPayError as exc:
            # Accepted, not yet confirmed: the notice or a later sync() will settle it.
            log.info("refund_unconfirmed", out_refund_no=refund.out_refund_no, error=type(exc).__name__)
            return self.ledger.get_refund(refund.out_refund_no)
        item = next((i for i in status.refunds if i.out_refund_no == refund.out_refund_no), None)
        if item is not None:
            self._apply(refund, item)
        current = self.ledger.get_refund(refund.out_refund_no)
        if current.state is RefundState.FAILED:
            raise RefundError("refused", self.describe(current), current)
        return current

    def _apply(self, refund: Refund, item: RefundItem) -> None:
        """Record what refundquery says about one refund; every branch is safe to repeat."""
        if item.refund_fee is not None and item.refund_fee != refund.refund_fee:
            self.ledger.log_event(
                "refund_amount_mismatch",
                sale_id=refund.sale_id,
                detail={"out_refund_no": refund.out_refund_no, "ours": refund.refund_fee,
                        "wechat": item.refund_fee},
                now=self._now(),
            )  # fmt: skip
            log.error("refund_amount_mismatch", out_refund_no=refund.out_refund_no)
            return
        try:
            if item.refund_status == "SUCCESS":
                self.ledger.complete_refund(
                    refund.out_refund_no,
                    refund_id=item.refund_id or None,
                    settlement_refund_fee=item.settlement_refund_fee,
                    cash_refund_fee=_cash(refund.refund_fee, None, item.coupon_refund_fee),
                    now=self._now(),
                )
            elif item.refund_status in FINAL_FAILURES and refund.state is RefundState.PENDING:
                self._fail(refund, f"refund_status={item.refund_status}")
            elif item.refund_status == HELD_STATUS and refund.state is RefundState.PENDING:
                self.ledger.hold_refund(refund.out_refund_no, f"refund_status={HELD_STATUS}", now=self._now())
        except (RefundRefused, UnknownRefund) as exc:
            # e.g. WeChat says SUCCESS for a refund we hold as FAILED: keep both stories for the manager.
            self.ledger.log_event(
                "refund_conflict",
                sale_id=refund.sale_id,
                detail={
                    "out_refund_no": refund.out_refund_no,
                    "wechat": item.refund_status,
                    "ledger": str(exc),
                },
                now=self._now(),
            )
            log.error("refund_conflict", out_refund_no=refund.out_refund_no, status=item.refund_status)

    def _fail(self, refund: Refund, reason: str) -> Refund:
        try:
            return self.ledger.fail_refund(refund.out_refund_no, reason, now=self._now())
        except RefundRefused:  # it succeeded meanwhile (a notice): the ledger's story stands
            return self.ledger.get_refund(refund.out_refund_no)

    def _pending(self, key: str, refund: Refund, detail: str, values: dict[str, str]) -> RefundError:
        """The error for an unknown outcome, unless the refund was settled meanwhile (by a notice)."""
        current = self.ledger.get_refund(refund.out_refund_no)
        if current.state is RefundState.SUCCEEDED:
            return _Settled(current)
        if current.state is RefundState.FAILED:
            return RefundError("refused", self.describe(current), current)
        self.ledger.log_event(
            "refund_unknown",
            sale_id=refund.sale_id,
            detail={"out_refund_no": refund.out_refund_no, "problem": key, "detail": detail},
            now=self._now(),
        )
        log.warning("refund_unknown", out_refund_no=refund.out_refund_no, problem=key)
        return RefundPending(key, self._t(key, detail=detail, **values), current)


class _Settled(RefundError):
    """Internal: the answer was lost, but the refund is SUCCEEDED already (the notice came first)."""

    def __init__(self, refund: Refund) -> None:
        super().__init__("settled", "", refund)
        self.refund: Refund = refund


def _short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cash(refund_fee: int, cash_refund_fee: int | None, coupon_refund_fee: int | None) -> int | None:
    """The cash part of a refund: WeChat's cash_refund_fee, else the refund less the coupons' share."""
    if cash_refund_fee is not None:
        return cash_refund_fee
    return None if coupon_refund_fee is None else refund_fee - coupon_refund_fee
