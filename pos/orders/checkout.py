"""Checkout: ring a sale up, place its WeChat order, retry a failed order, void a sale.

The cashier's three buttons, each ending in one ledger transition::

    checkout = Checkout(ledger, client, config)
    sale = checkout.ring_up(items=[LineItem("拿铁", 1800)])   # AWAITING_PAYMENT (slip queued) or FAILED
    sale = checkout.retry(sale.id)                            # FAILED -> order again, same out_trade_no
    sale = checkout.void(sale.id, by="小王")                  # VOIDED, or "voiding" until WeChat allows it

Rules kept here, so nothing above this module has to know WeChat's habits:

- **One order per sale.** Every unified order for a sale carries the same
  out_trade_no and, while the first deadline stands, the very same parameters
  (``time_start`` is the sale's creation second, ``time_expire`` that plus
  ``[till] order_ttl``), so a re-sent order is WeChat's "re-entry" and never a
  second order. After a :class:`~pos.wechatpay.TransportError` (the client has
  already re-sent the identical bytes) the outcome is unknown: we query once —
  ORDERNOTEXIST means it was never created — and send the same order again at
  most ``order_attempts`` times in all; then the sale is FAILED with a message
  the cashier understands and :meth:`Checkout.retry` tries again later.
- **Never raise WeChat or network trouble at the cashier.** Bad input raises
  :class:`CheckoutError` (a readable message in the store's language); anything
  WeChat does becomes a sale state.
- **The 5-minute rule.** WeChat refuses closeorder in an order's first 5
  minutes. A void asked for earlier is stored on the sale
  (:meth:`pos.ledger.Ledger.request_void`) and the watcher closes the order as
  soon as it may; the sale stays AWAITING_PAYMENT ("voiding") meanwhile and a
  customer who pays first makes it PAID, never VOIDED.

Voiding a sale without a live order: a FAILED sale never reached a customer (no
slip with a QR was queued: the slip is queued in the same transaction as
AWAITING_PAYMENT), and the ledger has no FAILED -> VOIDED transition, so
:meth:`Checkout.void` leaves it FAILED (it is not in the day's takings), records
a ``void_ignored`` event and returns it. A NEW sale is an order being placed
right now (or one the watcher will settle after a crash): voiding it is refused
with "try again in a moment".

Settling an order (:func:`~pos.orders.settling.settle_paid`,
:func:`~pos.orders.settling.close_and_settle`) lives in :mod:`pos.orders.settling`, shared with
:mod:`pos.till.watcher`; the listener rings mode-one sales up through :class:`Checkout` too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from pos.config import Config
from pos.i18n import translator
from pos.ledger import (
    InvalidTransition,
    Ledger,
    LineItem,
    Sale,
    SaleState,
)
from pos.ledger.micropay import AttemptInProgress, NotNewSale, claim_native
from pos.log import get_logger
from pos.money import MAX_FEN
from pos.orders.errors import OrdersError
from pos.orders.settling import close_allowed_at, close_and_settle, log_sale, record_query, settle_paid
from pos.wechatpay import (
    BusinessError,
    OrderStatus,
    ProtocolFail,
    SignatureError,
    TransportError,
    WeChatPayClient,
    WeChatPayError,
    WrongMerchant,
)

log = get_logger("pos.orders.checkout")

ORDER_ATTEMPTS = (
    2  # unified orders per ring-up or retry (each already re-sent by the client on transport errors)
)
MIN_TTL = timedelta(minutes=5)  # time_expire at least 5 minutes ahead (the stricter of WeChat's two rules)
# ...as WeChat's clock sees it when the request arrives: the sale's creation second, our clock's
# drift and the network all eat into exactly 5 minutes, and the gateway refuses "时间过短".
EXPIRE_MARGIN = timedelta(minutes=1)
TILL_PRODUCT_ID = "TILL"  # product_id for NATIVE orders whose first item is not in the catalogue
MAX_WECHAT_BODY = 127  # UTF-8 bytes: WeChat's String(127) (the simulator counts bytes, like WeChat)
MAX_ITEM_NAME = 60
MAX_QTY = 999
MAX_BODY = 120
MAX_ITEMS = 100


class CheckoutError(OrdersError, ValueError):
    """The cashier asked for something that cannot be done; ``str()`` is the readable message and
    ``code`` a stable name for programs (``bad_qty``, ``cannot_void``...)."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(text)
        self.code = code


def wechat_body(text: str) -> str:
    """``text`` cut to WeChat's 127 UTF-8 bytes on a character boundary (Chinese is 3 bytes each)."""
    text = text.strip()
    encoded = text.encode("utf-8")
    if len(encoded) <= MAX_WECHAT_BODY:
        return text
    return encoded[:MAX_WECHAT_BODY].decode("utf-8", errors="ignore").rstrip()


@dataclass(frozen=True)
class OrderParams:
    """The business parameters of one sale's unified order; equal params mean WeChat's re-entry."""

    out_trade_no: str
    total_fee: int
    body: str
    notify_url: str
    product_id: str
    spbill_create_ip: str
    time_start: datetime
    time_expire: datetime
    openid: str | None = None  # mode one: the payer who scanned the label

    def as_kwargs(self) -> dict[str, Any]:
        return {
            name: value for name in self.__dataclass_fields__ if (value := getattr(self, name)) is not None
        }


_NOT_EXIST = object()  # query answer: WeChat has no such order


class Checkout:
    """Rings sales up and places, retries and voids their WeChat orders. Thread-safe (the ledger
    decides every race); never raises for WeChat or network trouble."""

    def __init__(
        self,
        ledger: Ledger,
        client: WeChatPayClient,
        config: Config,
        *,
        clock: Callable[[], datetime] | None = None,
        order_attempts: int = ORDER_ATTEMPTS,
    ) -> None:
        if order_attempts < 1:
            raise ValueError("order_attempts must be at least 1")
        self.ledger = ledger
        self.client = client
        self.config = config
        self.clock = clock or (lambda: datetime.now(UTC))
        self.order_attempts = order_attempts
        self.language = config.store.language
        self.t = translator(self.language)
        self.ttl = max(timedelta(minutes=config.till.order_ttl), MIN_TTL + EXPIRE_MARGIN)

    # -- the cashier's buttons ----------------------------------------------------------------

    def ring_up(
        self,
        *,
        items: Sequence[LineItem] = (),
        amount_fen: int | None = None,
        body: str | None = None,
        cashier: str = "",
        product_id: str | None = None,
        openid: str | None = None,
        print_slip: bool = True,
    ) -> Sale:
        """NEW -> unified order -> AWAITING_PAYMENT (the slip is queued) or FAILED (``sale.failure``
        says why, in the store's language). Raises :class:`CheckoutError` for bad input only.

        Mode one (a customer scanned a shelf label) passes the label's ``product_id``, the
        payer's ``openid`` and ``print_slip=False``: nobody scans a printed QR for that sale.
        """
        sale = self._new_sale(items, amount_fen, body, cashier, ordering=True)
        params = self._params(sale, fresh=False)
        if product_id or openid:
            params = replace(params, product_id=(product_id or params.product_id)[:32], openid=openid or None)
        return self._place(sale, params, print_slip=print_slip)

    def ring_up_unordered(
        self,
        *,
        items: Sequence[LineItem] = (),
        amount_fen: int | None = None,
        body: str | None = None,
        cashier: str = "",
    ) -> Sale:
        """A NEW sale with no order at WeChat and nothing printed: the customer's payment code pays
        it (micropay orders under numbers of its own), or :meth:`order_qr` places its Native order
        later. Raises :class:`CheckoutError` for bad input, as :meth:`ring_up` does."""
        return self._new_sale(items, amount_fen, body, cashier, ordering=False)

    def _new_sale(
        self,
        items: Sequence[LineItem],
        amount_fen: int | None,
        body: str | None,
        cashier: str,
        *,
        ordering: bool,
    ) -> Sale:
        """The NEW sale; ``ordering``: its Native order follows at once, so no payment code is
        charged for it meanwhile (the ledger records that in the same transaction)."""
        lines, total_fee, body = self._check_sale(items, amount_fen, body)
        cashier = cashier or self.config.till.cashier
        if not isinstance(cashier, str) or len(cashier) > 64:
            raise self._error("bad_cashier")
        return self.ledger.create_sale(
            store=self.config.store.id,
            lane=self.config.till.lane,
            items=lines,
            total_fee=None if lines else total_fee,
            body=body,
            cashier=cashier,
            # Which v2 signature this sale's notices must carry; a v3 client signs with RSA and its
            # notices are proven by headers, so its sales keep the configured v2 value (unused).
            sign_type=getattr(self.client, "sign_type", self.config.merchant.sign_type),
            ordering=ordering,
            now=self._now(),
        )

    def order_qr(self, sale_id: int) -> Sale:
        """Place the Native order of a NEW sale rung up without one (the customer has no payment code
        after all): under the sale's own number, which no micropay attempt uses (``-M<n>``), with
        the QR slip queued. Refused (``not_new``, ``code_in_flight``) unless the sale is NEW and no
        payment code is being charged for it: two payable orders for one sale invite a double payment.
        The ledger decides it in one transaction (:func:`pos.ledger.micropay.claim_native`), so of a
        switch and a code arriving together exactly one goes ahead."""
        try:
            claim_native(self.ledger, sale_id, now=self._now())
        except NotNewSale:
            sale = self.ledger.get_sale(sale_id)
            raise self._error(
                "not_new", id=sale.id, state=self.t.state(sale.state, in_sentence=True)
            ) from None
        except AttemptInProgress:
            raise self._error("code_in_flight", id=sale_id) from None
        sale = self.ledger.get_sale(sale_id)
        return self._place(sale, self._params(sale, fresh=False))

    def retry(self, sale_id: int) -> Sale:
        """FAILED -> NEW -> order again under the same out_trade_no.

        A retry of a sale that is already ordered or paid (a double click) returns
        it unchanged; any other state raises :class:`CheckoutError`. Unknown ids
        raise :class:`pos.ledger.UnknownSale`.
        """
        sale = self.ledger.get_sale(sale_id)
        if sale.state in (SaleState.NEW, SaleState.AWAITING_PAYMENT) or sale.state.is_paid:
            return sale
        if sale.state is not SaleState.FAILED:
            raise self._error("cannot_retry", id=sale.id, state=self.t.state(sale.state, in_sentence=True))
        try:
            sale = self.ledger.retry_order(sale_id, now=self._now())
        except InvalidTransition:
            return self.ledger.get_sale(sale_id)  # another click got there first
        except AttemptInProgress:
            raise self._error("code_in_flight", id=sale_id) from None
        known = self._query(sale)
        if isinstance(known, OrderStatus):
            if known.paid:
                return settle_paid(self.ledger, sale, known, now=self._now()) or self.ledger.get_sale(sale.id)
            if known.trade_state == "CLOSED":
                return self._fail(sale, self.t("checkout.order_closed"), "closed_at_wechat")
            # WeChat has the order: only the original parameters get its code_url back.
            return self._place(sale, self._params(sale, fresh=False))
        if known is _NOT_EXIST:
            return self._place(sale, self._params(sale, fresh=True))
        return self._place(sale, self._params(sale, fresh=None))

    def void(self, sale_id: int, *, by: str = "") -> Sale:
        """Void an AWAITING_PAYMENT sale: close its order at WeChat, then VOIDED (void slip queued).

        Within the order's first 5 minutes the void is recorded on the sale and
        the watcher closes the order when WeChat allows; the sale comes back
        AWAITING_PAYMENT with ``void_requested`` set. closeorder answering
        ORDERPAID makes the sale PAID. A FAILED sale is returned unchanged (see
        the module docstring); NEW, paid, expired sales raise :class:`CheckoutError`.
        """
        now = self._now()
        sale = self.ledger.get_sale(sale_id)
        if sale.state is SaleState.VOIDED:
            return sale
        if sale.state is SaleState.FAILED:
            self.ledger.log_event("void_ignored", sale_id=sale.id, detail={"by": by}, now=now)
            log_sale(log, "void_ignored", sale, reason="no_live_order")
            return sale
        if sale.state is SaleState.NEW:
            raise self._error("still_ordering", id=sale.id)
        if sale.state is not SaleState.AWAITING_PAYMENT:
            raise self._error("cannot_void", id=sale.id, state=self.t.state(sale.state, in_sentence=True))
        try:
            sale = self.ledger.request_void(sale.id, by=by[:64], now=now)
        except InvalidTransition:
            return self.ledger.get_sale(sale.id)  # paid (or closed) a moment ago: that state stands
        if now < close_allowed_at(sale):
            log_sale(log, "void_waiting", sale, close_at=close_allowed_at(sale).isoformat())
            return sale
        return close_and_settle(self.ledger, self.client, sale, now=now).sale

    # -- placing the order ------------------------------------------------------------------

    def _place(self, sale: Sale, params: OrderParams, *, print_slip: bool = True) -> Sale:
        """Send the unified order (at most ``order_attempts`` times, same parameters); record the answer."""
        for attempt in range(1, self.order_attempts + 1):
            try:
                order = self.client.unified_order(**params.as_kwargs())
            except TransportError as exc:
                log_sale(log, "order_unknown", sale, attempt=attempt, error=exc)
                known = self._query(sale)
                if isinstance(known, OrderStatus) and known.paid:
                    return settle_paid(self.ledger, sale, known, now=self._now()) or self._reload(sale)
                if isinstance(known, OrderStatus) and known.trade_state == "CLOSED":
                    return self._fail(sale, self.t("checkout.order_closed"), "closed_at_wechat")
                # Never created, created and unpaid, or still unknown: the same order again is safe.
                continue
            except BusinessError as exc:
                if exc.err_code == "ORDERPAID":
                    return self._paid_on_reentry(sale)
                if exc.err_code == "SYSTEMERROR" and attempt < self.order_attempts:
                    log_sale(log, "order_systemerror", sale, attempt=attempt)
                    continue
                if exc.err_code == "ORDERCLOSED":
                    return self._fail(sale, self.t("checkout.order_closed"), exc.err_code)
                if exc.err_code == "SIGNERROR":
                    return self._fail(sale, self.t("checkout.bad_key"), exc.err_code)
                detail = f"{exc.err_code_des or exc.err_code} ({exc.err_code})" if exc.err_code else str(exc)
                return self._fail(sale, self.t("checkout.refused", detail=detail), exc.err_code)
            except ProtocolFail as exc:
                if "签名" in exc.return_msg or "sign" in exc.return_msg.lower():
                    return self._fail(sale, self.t("checkout.bad_key"), "return_code_fail")
                detail = exc.return_msg or "return_code=FAIL"
                return self._fail(sale, self.t("checkout.refused", detail=detail), "return_code_fail")
            except (SignatureError, WrongMerchant) as exc:
                return self._fail(sale, self.t("checkout.untrusted"), type(exc).__name__, error=exc)
            except WeChatPayError as exc:  # an answer we cannot read
                return self._fail(sale, self.t("checkout.untrusted"), type(exc).__name__, error=exc)
            else:
                try:
                    return self.ledger.record_order(
                        sale.id,
                        code_url=order.code_url,
                        prepay_id=order.prepay_id,
                        expires_at=params.time_expire.astimezone(UTC),
                        print_slip=print_slip,
                        now=self._now(),
                    )
                except InvalidTransition:
                    return self._reload(sale)  # paid through a notice already; that state stands
        return self._fail(sale, self.t("checkout.unreachable"), "unreachable")

    def _paid_on_reentry(self, sale: Sale) -> Sale:
        """unifiedorder said ORDERPAID: fetch the payment and record it. If even the query fails
        the sale stays NEW and the watcher settles it."""
        known = self._query(sale)
        if isinstance(known, OrderStatus) and known.paid:
            return settle_paid(self.ledger, sale, known, now=self._now()) or self._reload(sale)
        log_sale(log, "orderpaid_unconfirmed", sale)
        return self._reload(sale)

    def _query(self, sale: Sale) -> OrderStatus | object | None:
        """orderquery: the status, :data:`_NOT_EXIST`, or None when WeChat could not be asked."""
        try:
            status = self.client.query_order(sale.out_trade_no)
        except BusinessError as exc:
            if exc.err_code == "ORDERNOTEXIST":
                log_sale(log, "query", sale, trade_state="ORDERNOTEXIST")
                return _NOT_EXIST
            log_sale(log, "query_failed", sale, err_code=exc.err_code)
            return None
        except WeChatPayError as exc:
            log_sale(log, "query_failed", sale, error=exc)
            return None
        if not status.paid:  # a paid answer is kept by mark_paid, with its outcome
            record_query(self.ledger, sale, status, now=self._now())
        return status

    def _fail(self, sale: Sale, text: str, reason: str, *, error: object = None) -> Sale:
        try:
            failed = self.ledger.record_order_failure(sale.id, text, now=self._now())
        except InvalidTransition:
            return self._reload(sale)
        log_sale(log, "order_failed", failed, reason=reason, error=error)
        return failed

    def _params(self, sale: Sale, *, fresh: bool | None) -> OrderParams:
        """The order's parameters. ``fresh=False``: the original ones (from the sale's creation second,
        so every attempt matches); ``True``: starting now (WeChat never had the order); ``None``: the
        original ones while they leave the customer at least 5 minutes, else fresh."""
        now = self._now()
        start = sale.created_at.astimezone(UTC).replace(microsecond=0)
        if fresh or (fresh is None and start + self.ttl - now < MIN_TTL + EXPIRE_MARGIN):
            start = now.astimezone(UTC).replace(microsecond=0)
        merchant = self.config.merchant
        return OrderParams(
            out_trade_no=sale.out_trade_no,
            total_fee=sale.total_fee,
            body=wechat_body(sale.body),
            notify_url=merchant.notify_url,
            product_id=self._product_id(sale),
            spbill_create_ip=merchant.client_ip,
            time_start=start,
            time_expire=start + self.ttl,
        )

    def _product_id(self, sale: Sale) -> str:
        """The catalogue id of the first item (by name), or :data:`TILL_PRODUCT_ID`."""
        if sale.items:
            first = sale.items[0].name
            for product in self.config.products:
                if product.name == first and product.id:
                    return product.id[:32]
        return TILL_PRODUCT_ID

    # -- input ----------------------------------------------------------------------------------

    def _check_sale(
        self, items: Sequence[LineItem], amount_fen: int | None, body: str | None
    ) -> tuple[list[LineItem], int, str | None]:
        lines = list(items or ())
        if lines and amount_fen is not None:
            raise self._error("items_and_amount")
        if len(lines) > MAX_ITEMS:
            raise self._error("too_many_items", max=MAX_ITEMS)
        if body is not None and (not isinstance(body, str) or len(body.strip()) > MAX_BODY):
            raise self._error("bad_body", max=MAX_BODY)
        body = body.strip() or None if isinstance(body, str) else None
        if lines:
            for n, item in enumerate(lines, start=1):
                if not isinstance(item, LineItem):
                    raise self._error("bad_item", n=n)
                name = item.name.strip() if isinstance(item.name, str) else ""
                if not name or len(name) > MAX_ITEM_NAME:
                    raise self._error("bad_name", n=n, max=MAX_ITEM_NAME)
                if _not_int(item.qty) or not 1 <= item.qty <= MAX_QTY:
                    raise self._error("bad_qty", n=n, max=MAX_QTY)
                if _not_int(item.unit_price) or item.unit_price <= 0:
                    raise self._error("bad_price", n=n)
            lines = [LineItem(i.name.strip(), i.unit_price, i.qty) for i in lines]
            total = sum(i.amount for i in lines)
        elif amount_fen is not None:
            if _not_int(amount_fen) or amount_fen <= 0:
                raise self._error("bad_amount")
            total = amount_fen
            if body is None:
                body = self.t("checkout.default_body", store=self.config.store.name)[:MAX_BODY]
        else:
            raise self._error("need_items")
        if total > MAX_FEN:
            raise self._error("too_much")
        return lines, total, body

    def _error(self, code: str, **values: Any) -> CheckoutError:
        return CheckoutError(code, self.t(f"checkout.{code}", **values))

    def _now(self) -> datetime:
        return self.clock().astimezone(UTC)

    def _reload(self, sale: Sale) -> Sale:
        return self.ledger.get_sale(sale.id)


def _not_int(value: object) -> bool:
    return isinstance(value, bool) or not isinstance(value, int)
