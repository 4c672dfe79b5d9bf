"""The simulator's business rules: orders, payments, closes, mode one (refunds: :mod:`.refunddesk`).

This module knows nothing of HTTP or XML framing: it takes verified request
fields and gives back the business fields of the answer, or raises
:class:`Rejected` (``result_code=FAIL``) or :class:`CustomerError`. The Flask
blueprints in :mod:`pos.sandbox.api` and :mod:`pos.sandbox.customer` wrap it.

Order lifecycle, as WeChat runs it::

    NOTPAY --pay--> SUCCESS --refund--> REFUND
    NOTPAY --closeorder--> CLOSED

An order past its ``time_expire`` cannot be paid but still reads NOTPAY until
the merchant closes it (the real service does not close it at once either).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import requests

from pos.log import get_logger
from pos.sandbox import coupons, earlyclose, ids, tradestates, validate
from pos.sandbox.clock import SimClock, parse_wechat_time, wechat_time
from pos.sandbox.engine_v3 import V3Engine
from pos.sandbox.errors import CustomerError, Rejected
from pos.sandbox.micropay import TRADE_STATE_DESC as _MICROPAY_STATE_DESC
from pos.sandbox.micropay import PayCodes
from pos.sandbox.notifier import Notifier
from pos.sandbox.refunddesk import RefundDesk
from pos.sandbox.settings import SimSettings
from pos.sandbox.state import CLOSED, NOTPAY, REFUND, SUCCESS, Order, SimState
from pos.sandbox.v3keys import make_identity
from pos.wechatpay import modeone, xmlcodec
from pos.wechatpay import sign as signing
from pos.wechatpay.errors import BadBizPayUrl, XmlError

log = get_logger(__name__)

# Request fields that are not part of an order's identity on re-entry.
_NOT_PARAMS = frozenset({"nonce_str", "sign", "sign_type"})
_BANKS = ("OTHERS", "CMB_DEBIT", "ICBC_DEBIT", "CFT")
_TRADE_STATE_DESC = {
    NOTPAY: "订单未支付",
    SUCCESS: "支付成功",
    REFUND: "订单发生过退款，退款详情请查询退款单",
    CLOSED: "订单已关闭",
    **_MICROPAY_STATE_DESC,
}


class Simulator(RefundDesk):
    """State + settings + clock + notifier, and the operations of the v2 API on them."""

    def __init__(self, settings: SimSettings | None = None, state: SimState | None = None) -> None:
        self.settings = settings or SimSettings()
        self.state = state if state is not None else SimState(self.settings.state_file or None)
        self.clock = SimClock(self.state.clock_offset)
        self.clock.on_advance(self._remember_clock)
        self.clock.on_advance(self.settle_refunds)
        self.notifier = Notifier(self.clock, self.settings)
        # API v3 on the same state: its merchant keys and WeChat's, made per simulator.
        self.v3 = V3Engine(self, make_identity(self.settings.mch_id, self.settings.appid))
        self.paycodes = PayCodes(self)  # the customer's payment codes: /pay/micropay, reverse
        # WeChat keeps retrying across our restarts: notices still pending are sent again.
        for order in list(self.state.orders.values()):
            if order.notice == "pending":
                self.send_payment_notice(order)

    def close(self) -> None:
        self.notifier.stop()

    def _remember_clock(self) -> None:
        with self.state.lock:
            self.state.clock_offset = self.clock.offset
            self.state.save()

    def key(self, sandbox: bool) -> str:
        return self.settings.sandbox_key if sandbox else self.settings.api_key

    # -- unified order ------------------------------------------------------------------------

    def unified_order(self, fields: Mapping[str, str], sandbox: bool, sign_type: str) -> dict[str, str]:
        validate.check(fields, validate.UNIFIED_ORDER)
        if fields["trade_type"] != "NATIVE":
            raise Rejected("INVALID_REQUEST", "trade_type参数错误（模拟器只支持NATIVE）")
        if not fields.get("product_id"):
            raise Rejected("LACK_PARAMS", "缺少参数product_id（trade_type=NATIVE时必传）")
        if fields.get("fee_type", "CNY") != "CNY":
            raise Rejected("INVALID_REQUEST", "fee_type参数错误（只支持CNY）")
        now = self.clock.now()
        expires_at = None
        if fields.get("time_expire"):
            expires_at = parse_wechat_time(fields["time_expire"])
        params = {k: v for k, v in fields.items() if k not in _NOT_PARAMS}
        with self.state.lock:
            order = self.state.order(sandbox, fields["out_trade_no"])
            if order is None:
                # A new order only: a re-entry is judged by its unchanged parameters (below).
                if expires_at is not None and expires_at < now + self.settings.min_expire:
                    raise Rejected("INVALID_REQUEST", "time_expire时间过短，刷卡至少1分钟，其他5分钟")
                order = Order(
                    out_trade_no=fields["out_trade_no"],
                    sandbox=sandbox,
                    params=params,
                    sign_type=sign_type,
                    total_fee=int(fields["total_fee"]),
                    created_at=now,
                    prepay_id=ids.prepay_id(now),
                    code_url=self._fresh_code_url(),
                    code_expires_at=now + self.settings.code_ttl,
                    expires_at=expires_at,
                )
                self.state.add(order)
                self.state.save()
                log.info("order", out_trade_no=order.out_trade_no, total_fee=order.total_fee)
            else:
                self._check_reentry(order, params, now)
                if now >= order.code_expires_at:
                    # Same order, prepay_id and code_url past their 2 hours: hand out fresh ones.
                    order.prepay_id = ids.prepay_id(now)
                    order.code_url = self._fresh_code_url()
                    order.code_expires_at = now + self.settings.code_ttl
                    self.state.save()
            return {
                "device_info": order.param("device_info"),
                "trade_type": order.param("trade_type") or "NATIVE",
                "prepay_id": order.prepay_id,
                "code_url": order.code_url,
            }

    def _check_reentry(self, order: Order, params: Mapping[str, str], now: float) -> None:
        if order.state in (SUCCESS, REFUND):
            raise Rejected("ORDERPAID", "该订单已支付")
        if order.state == CLOSED:
            raise Rejected("ORDERCLOSED", "该订单已关闭")
        if dict(params) != order.params:
            raise Rejected("INVALID_REQUEST", "201 商户订单号重复")
        if order.expires_at is not None and now >= order.expires_at:
            raise Rejected("ORDERCLOSED", "订单已过期，请更换商户订单号重新下单")

    def _fresh_code_url(self) -> str:
        while True:
            url = ids.code_url()
            if self.state.by_code_url(url) is None:
                return url

    # -- query / close -----------------------------------------------------------------------

    def _find(self, fields: Mapping[str, str], sandbox: bool) -> Order:
        if fields.get("transaction_id"):
            order = self.state.by_transaction(sandbox, fields["transaction_id"])
        elif fields.get("out_trade_no"):
            order = self.state.order(sandbox, fields["out_trade_no"])
        else:
            raise Rejected("LACK_PARAMS", "缺少参数out_trade_no或transaction_id")
        if order is None:
            raise Rejected("ORDERNOTEXIST", "订单不存在")
        return order

    def order_query(self, fields: Mapping[str, str], sandbox: bool) -> dict[str, str]:
        validate.check(fields, validate.ORDER_REF)
        with self.state.lock:
            order = self._find(fields, sandbox)
            out = {
                "device_info": order.param("device_info"),
                "out_trade_no": order.out_trade_no,
                "total_fee": str(order.total_fee),
                "trade_state": order.state,
                "trade_state_desc": _TRADE_STATE_DESC[order.state],
            }
            shown = self._overlay(order)
            if shown is not None:
                out.update(trade_state=shown, trade_state_desc=tradestates.DESCRIPTIONS[shown])
            if order.state in (SUCCESS, REFUND):
                out.update(self._paid_fields(order))
            return out

    def _overlay(self, order: Order) -> str | None:
        """USERPAYING / PAYERROR / REVOKED set by a switch for this unpaid order (tradestates)."""
        return tradestates.overlay(self.settings.faults.trade_states, order.out_trade_no, order.state)

    def _paid_fields(self, order: Order) -> dict[str, str]:
        return {
            "openid": order.openid,
            "is_subscribe": order.is_subscribe,
            "trade_type": order.param("trade_type") or "NATIVE",
            "bank_type": order.bank_type,
            "total_fee": str(order.total_fee),
            "fee_type": "CNY",
            "cash_fee": str(order.cash_fee),
            "transaction_id": order.transaction_id,
            "out_trade_no": order.out_trade_no,
            "attach": order.param("attach"),
            "time_end": order.time_end,
            **coupons.fields(order.total_fee, order.coupon_fee, order.coupon_type, order.coupon_id),
        }

    def close_order(self, fields: Mapping[str, str], sandbox: bool) -> dict[str, str]:
        validate.check(fields, {**validate.COMMON, "out_trade_no": (True, 32, "trade_no")})
        with self.state.lock:
            order = self._find({"out_trade_no": fields["out_trade_no"]}, sandbox)
            if order.state in (SUCCESS, REFUND):
                raise Rejected("ORDERPAID", "订单已支付，不能发起关单")
            if order.state == CLOSED or self._overlay(order) == "REVOKED":
                raise Rejected("ORDERCLOSED", "订单已关闭，无法重复关闭")
            now = self.clock.now()
            if now - order.created_at < self.settings.close_min_age:
                mode = self.settings.faults.early_close
                if mode == "refused":
                    raise Rejected("TRADE_STATE_ERROR", earlyclose.refusal_text(self.settings.close_min_age))
                if mode == "ignored":
                    log.info("early_close_ignored", out_trade_no=order.out_trade_no)
                    return {"result_msg": "OK"}  # ...and the order stays payable
            order.state = CLOSED
            order.closed_at = now
            self.state.save()
            log.info("closed", out_trade_no=order.out_trade_no)
            return {"result_msg": "OK"}

    # -- paying ---------------------------------------------------------------------------------

    def order_for_code(self, code_url: str) -> Order:
        """The order behind a live ``code_url``; CustomerError says why it cannot be paid."""
        with self.state.lock:
            order = self.state.by_code_url(code_url)
            if order is None:
                raise CustomerError(404, "unknown_code", "二维码无效：没有这个订单")
            self._check_payable(order)
            return order

    def _check_payable(self, order: Order) -> None:
        now = self.clock.now()
        if order.state in (SUCCESS, REFUND):
            raise CustomerError(409, "paid", "该订单已支付，请勿重复支付")
        if order.state == CLOSED:
            raise CustomerError(409, "closed", "该订单已关闭")
        if self._overlay(order) == "REVOKED":
            raise CustomerError(409, "revoked", "该订单已撤销")
        if now >= order.code_expires_at:
            raise CustomerError(410, "expired", "二维码已过期（超过2小时）")
        if order.expires_at is not None and now >= order.expires_at:
            raise CustomerError(410, "expired", "订单已过期（超过time_expire）")

    def open_orders(self, limit: int = 20) -> list[Order]:
        """Orders a customer could pay right now, newest first (the phone page lists them)."""
        with self.state.lock:
            payable = []
            for order in self.state.orders.values():
                try:
                    self._check_payable(order)
                except CustomerError:
                    continue
                payable.append(order)
        payable.sort(key=lambda o: o.created_at, reverse=True)
        return payable[:limit]

    def pay(self, code_url: str, *, notify: bool = True, openid: str | None = None) -> Order:
        """The customer scans ``code_url`` and pays; a payment notice follows when ``notify``."""
        with self.state.lock:
            order = self.order_for_code(code_url)
            return self._pay(order, notify=notify, openid=openid)

    def _pay(self, order: Order, *, notify: bool, openid: str | None) -> Order:
        with self.state.lock:
            self._check_payable(order)
            now = self.clock.now()
            order.state = SUCCESS
            order.paid_at = now
            order.time_end = wechat_time(now)
            order.transaction_id = self._fresh_transaction_id(now)
            order.openid = openid or ids.openid()
            order.bank_type = _BANKS[int(order.transaction_id[-1]) % len(_BANKS)]
            order.coupon_fee, order.coupon_type, order.coupon_id = coupons.apply(
                self.settings.faults.coupon, order.total_fee
            )
            order.cash_fee = order.total_fee - order.coupon_fee
            self.state.save()
            log.info("paid", out_trade_no=order.out_trade_no, transaction_id=order.transaction_id)
        if notify:
            self.send_payment_notice(order)
        return order

    def _fresh_transaction_id(self, now: float) -> str:
        while True:
            candidate = ids.transaction_id(now)
            if all(o.transaction_id != candidate for o in self.state.orders.values()):
                return candidate

    def payment_notice(self, order: Order) -> dict[str, str]:
        """The notice's fields, signed with the order's sign type but carrying no sign_type."""
        fields = {
            "appid": order.param("appid"),
            "mch_id": order.param("mch_id"),
            "device_info": order.param("device_info"),
            "nonce_str": ids.nonce(),
            "result_code": "SUCCESS",
            "return_code": "SUCCESS",
            **self._paid_fields(order),
        }
        return signing.signed(fields, self.key(order.sandbox), order.sign_type)

    def send_payment_notice(self, order: Order) -> int:
        """Queue the payment notice in the API the order was placed with (v3: JSON, signed headers)."""
        if order.api == "v3":
            body = self.v3.payment_notice(order)
            sign, api, probe = self.v3.notice_signer(), "v3", body
        else:
            fields = self.payment_notice(order)
            body = encode_notice(fields)
            sign, api = None, "v2"
            probe = encode_notice(
                dict(fields, sign=signing.sign(fields, "WECHATPAY/SIGNTEST/" + ids.nonce(), order.sign_type))
            )
        with self.state.lock:
            order.notice = "pending"
            self.state.save()

        def settled(outcome: str) -> None:
            with self.state.lock:
                order.notice = outcome
                self.state.save()

        return self.notifier.submit(
            "pay", order.param("notify_url"), body, order.out_trade_no, probe, settled, sign=sign, api=api
        )

    # -- short URLs and mode one ------------------------------------------------------------------

    def short_url(self, long_url: str) -> dict[str, str]:
        with self.state.lock:
            for short, long in self.state.short_urls.items():
                if long == long_url:
                    return {"short_url": short}
            short = ids.short_url()
            while short in self.state.short_urls:
                short = ids.short_url()
            self.state.short_urls[short] = long_url
            self.state.save()
            return {"short_url": short}

    def scan(self, url: str, *, openid: str | None = None, notify: bool = True) -> Order:
        """The customer scans a mode-one label: ask the merchant's callback for a prepay_id, pay it.

        Follows §9.3/§9.4: a signed callback XML goes to ``settings.callback_url``; the reply
        must be signed, SUCCESS/SUCCESS, for our appid/mch_id, and name a live prepay_id.
        """
        s = self.settings
        with self.state.lock:
            url = self.state.short_urls.get(url, url)
        try:
            link = modeone.parse_bizpayurl(url, api_key=s.api_key, appid=s.appid, mch_id=s.mch_id)
        except BadBizPayUrl as exc:
            raise CustomerError(400, "bad_url", f"原生支付URL参数错误：{exc}") from None
        if not s.callback_url:
            raise CustomerError(409, "no_callback", "商户没有设置扫码支付回调URL（callback_url）")
        callback = signing.signed(
            {
                "appid": s.appid,
                "openid": openid or ids.openid(),
                "mch_id": s.mch_id,
                "is_subscribe": "N",
                "nonce_str": ids.nonce(),
                "product_id": link.product_id,
            },
            s.api_key,
        )
        try:
            response = requests.post(
                s.callback_url,
                data=xmlcodec.encode_as_wechat(callback),
                headers={"Content-Type": "text/xml; charset=utf-8"},
                timeout=s.notify_timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise CustomerError(502, "callback_unreachable", f"商户回调无法访问：{exc}") from None
        if response.status_code != 200:
            raise CustomerError(502, "callback_http", f"商户回调返回 httpcode {response.status_code}，非200")
        try:
            reply = xmlcodec.decode(response.content)
        except XmlError as exc:
            raise CustomerError(502, "callback_reply", f"商户后台返回的数据字段结构不合法：{exc}") from None
        if reply.get("return_code") != "SUCCESS":
            raise CustomerError(502, "callback_fail", f"商户返回失败：{reply.get('return_msg', '')}")
        reply_type = signing.HMAC_SHA256 if len(reply.get("sign", "")) == 64 else signing.MD5
        if not signing.is_valid(reply, s.api_key, reply_type):
            raise CustomerError(502, "callback_sign", "商户回调应答签名错误")
        if reply.get("appid") != s.appid or reply.get("mch_id") != s.mch_id:
            raise CustomerError(502, "callback_reply", "商户回调应答的appid或mch_id不符")
        if reply.get("result_code") != "SUCCESS":
            raise CustomerError(409, "merchant_refused", reply.get("err_code_des") or "商户拒绝了这次支付")
        with self.state.lock:
            order = self.state.by_prepay_id(reply.get("prepay_id", ""))
            if order is None:
                raise CustomerError(502, "unknown_prepay_id", "商户返回的prepay_id不存在")
            try:
                self._check_payable(order)
            except CustomerError as exc:
                raise CustomerError(exc.status, exc.error, f"prepay_id 不可支付：{exc.message}") from None
            return self._pay(order, notify=notify, openid=callback["openid"])

    # -- views for the customer page and tests ---------------------------------------------------

    def describe(self, order: Order) -> dict[str, object]:
        out = dataclasses.asdict(order)
        out.pop("params")
        out["body"] = order.param("body")
        out["notify_url"] = order.param("notify_url")
        return out


def encode_notice(fields: Mapping[str, str]) -> bytes:
    """WeChat's own layout: fields in name order, ``total_fee`` bare, everything else in CDATA."""
    return xmlcodec.encode_as_wechat(dict(sorted(fields.items())), bare={"total_fee"})
