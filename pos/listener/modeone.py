"""Mode one (模式一): a customer scans a shelf label, WeChat asks us for an order, we answer.

The label's QR is a signed ``weixin://wxpay/bizpayurl`` naming a product id
(``pos label`` queues one). When a customer scans it, WeChat POSTs the product
id and the customer's openid to our callback; we check WeChat's signature, find
the product in ``[[products]]``, ring up a sale with a NATIVE unified order
(``product_id`` and ``openid`` set) and answer with the signed ``prepay_id``.
WeChat then shows the customer the payment sheet, and the payment notice
follows as for any sale. Nobody scans a printed QR for this sale, so no sale
slip is queued; the confirmation prints when it is paid. The order is placed
by :class:`pos.orders.Checkout`, under the same rules as the till's sales.

Refusals are signed too (WeChat shows ``err_code_des`` to the customer), and
are written for the customer: "商品不存在或已下架", not a stack trace.
"""

from __future__ import annotations

from sqlalchemy.exc import SQLAlchemyError

from pos.config import Config, Product, product_key
from pos.i18n import translator
from pos.ledger import Ledger, LineItem, MessageKind, SaleState
from pos.listener.reply import Reply
from pos.log import get_logger
from pos.money import parse_yuan
from pos.orders import Checkout, CheckoutError
from pos.wechatpay import notices
from pos.wechatpay import sign as signing
from pos.wechatpay.errors import (
    InvalidField,
    MessageError,
    SignatureError,
    WrongMerchant,
    XmlError,
)

log = get_logger("pos.listener.modeone")

MIN_TTL_MINUTES = 5  # WeChat closes orders only after five minutes


class ScanCallbacks:
    """Turns one mode-one callback body into one :class:`Reply` (signed XML)."""

    def __init__(self, config: Config, ledger: Ledger, checkout: Checkout) -> None:
        self.merchant = config.merchant
        self.max_body = config.listener.max_body
        self.products = {product_key(product.id): product for product in config.products}
        self.t = translator(config.store.language)  # what the customer reads in WeChat when we cannot sell
        self.ledger = ledger
        self.checkout = checkout

    def handle(self, body: bytes, *, remote: str = "-") -> Reply:
        try:
            fields = notices.read_notice(body, max_bytes=self.max_body)
        except XmlError as exc:
            log.warning("callback_rejected", reason=type(exc).__name__, remote=remote)
            return Reply(notices.fail_reply("报文格式错误"), status=400, verdict="malformed")
        try:
            callback = notices.verify_scan_callback(
                fields,
                api_key=self.merchant.api_key,
                appid=self.merchant.appid,
                mch_id=self.merchant.mch_id,
                sign_type=_sign_type_of(fields),
            )
        except (SignatureError, WrongMerchant) as exc:
            reason = "signature" if isinstance(exc, SignatureError) else "wrong_merchant"
            log.warning("callback_rejected", reason=reason, remote=remote)
            return Reply(notices.fail_reply("签名失败"), verdict=reason)
        except (InvalidField, MessageError):
            log.warning("callback_rejected", reason="missing_field", remote=remote)
            return Reply(notices.fail_reply("缺少参数"), verdict="missing_field")

        product = self.products.get(product_key(callback.product_id))
        log.info("callback_received", product=callback.product_id, remote=remote)
        if product is None:
            self._store(body, "unknown_product", None)
            log.warning("callback_refused", reason="unknown_product", product=callback.product_id)
            return self._refuse("unknown_product")
        try:
            sale = self.checkout.ring_up(
                items=[LineItem(product.name, parse_yuan(product.price))],
                product_id=product.id,
                openid=callback.openid,
                print_slip=False,
            )
        except SQLAlchemyError as exc:
            log.error("callback_refused", reason="database", error=type(exc).__name__)
            return self._refuse("busy")
        except CheckoutError as exc:  # a catalogue entry the till cannot sell (e.g. a name too long)
            log.error("callback_refused", reason=exc.code, product=product.id)
            return self._refuse("order_failed")
        if sale.state is not SaleState.AWAITING_PAYMENT or not sale.prepay_id:
            self._store(body, "order_failed", sale.out_trade_no)
            log.warning(
                "callback_refused",
                reason="order_failed",
                out_trade_no=sale.out_trade_no,
                sale=sale.id,
                failure=sale.failure,
            )
            return self._refuse("order_failed")
        self._store(body, "ordered", sale.out_trade_no)
        log.info("callback_ordered", out_trade_no=sale.out_trade_no, sale=sale.id, product=product.id)
        reply = notices.scan_reply(
            sale.prepay_id,
            appid=self.merchant.appid,
            mch_id=self.merchant.mch_id,
            api_key=self.merchant.api_key,
            sign_type=self.merchant.sign_type,
        )
        return Reply(reply, verdict="ordered")

    def _refuse(self, what: str) -> Reply:
        reply = notices.scan_fail_reply(
            self.t(f"modeone.{what}"),
            appid=self.merchant.appid,
            mch_id=self.merchant.mch_id,
            api_key=self.merchant.api_key,
            sign_type=self.merchant.sign_type,
        )
        return Reply(reply, verdict=what)

    def _store(self, body: bytes, verdict: str, out_trade_no: str | None) -> None:
        """Keep the verified callback with what became of it; a database hiccup must not stop the sale."""
        try:
            self.ledger.record_message(MessageKind.CALLBACK, body, verdict=verdict, out_trade_no=out_trade_no)
        except SQLAlchemyError as exc:
            log.error("callback_not_recorded", error=type(exc).__name__)


def _sign_type_of(fields: dict[str, str]) -> str:
    """The callback's own sign_type if it names one, else by the sign's length (64 hex: HMAC-SHA256)."""
    named = fields.get("sign_type")
    if named:
        return named
    return signing.HMAC_SHA256 if len(fields.get("sign", "")) == 64 else signing.MD5


def find_product(config: Config, product_id: str) -> Product | None:
    """The ``[[products]]`` entry with this id, or None."""
    return config.find_product(product_id)
