"""The customer's payment code in the simulator: ``/pay/micropay``, ``/secapi/pay/reverse``, and
``/_sim/paycode`` to make codes that behave as a test needs.

Codes are made on demand (``POST /_sim/paycode {"outcome": ...}``) and remembered with their
outcome; each works once, as WeChat's do:

- ``paid``: micropay answers SUCCESS;
- ``password``: USERPAYING; the order reads USERPAYING until the simulated customer enters the
  password or gives up (``POST /_sim/paycode/<code> {"action": "pay" | "cancel"}``: SUCCESS, or
  PAYERROR "支付失败,请撤销订单" as observed on the real gateway);
- ``expired``: AUTH_CODE_INVALID ``101 付款码已过期,请退出重试`` (what real answers carry);
- ``not_enough``: NOTENOUGH;
- ``unknown``: SYSTEMERROR, with the order left USERPAYING (undetermined) until settled by the
  same ``/_sim/`` call; a reverse closes it for good (REVOKED).

Reverse on a paid order refunds it (REVOKED). ``{"action": "pay", "late": true}`` pays even a
REVOKED order: WeChat's back end settling after the reverse, the case the till must flag.
Orders live in the same :class:`~pos.sandbox.state.SimState` as Native ones (orderquery sees
them); the codes themselves are kept in memory only.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from pos.log import get_logger
from pos.sandbox import coupons, ids, validate
from pos.sandbox.clock import wechat_time
from pos.sandbox.errors import CustomerError, Rejected
from pos.sandbox.state import REFUND, SUCCESS, Order

log = get_logger(__name__)

USERPAYING, REVOKED, PAYERROR = "USERPAYING", "REVOKED", "PAYERROR"
OUTCOMES = ("paid", "password", "expired", "not_enough", "unknown")
TRADE_STATE_DESC = {USERPAYING: "需要用户输入支付密码", REVOKED: "已撤销", PAYERROR: "支付失败,请撤销订单"}
# The per-coupon fields a micropay answer lacks (reference/wechatpay-micropay.md §5.2).
_PER_COUPON = re.compile(r"coupon_count$|coupon_(type|id|fee)_\d+$")

MICROPAY: validate.Spec = {
    **validate.COMMON,
    "device_info": (False, 32, "str"),
    "body": (True, 127, "str"),
    "detail": (False, 6144, "str"),
    "attach": (False, 127, "str"),
    "out_trade_no": (True, 32, "trade_no"),
    "total_fee": (True, 10, "int"),
    "fee_type": (False, 16, "str"),
    "spbill_create_ip": (True, 64, "str"),
    "goods_tag": (False, 32, "str"),
    "limit_pay": (False, 32, "str"),
    "auth_code": (True, 128, "str"),
}


class RejectedRecall(Rejected):
    """A reverse refusal that carries ``recall`` (Y: call again)."""

    def __init__(self, err_code: str, err_code_des: str, recall: str) -> None:
        super().__init__(err_code, err_code_des)
        self.extra = {"recall": recall}


@dataclass
class PayCode:
    auth_code: str
    outcome: str
    out_trade_no: str = ""
    sandbox: bool = False
    used: bool = False


class PayCodes:
    """The payment codes a simulated customer shows, and the micropay/reverse rules over them."""

    def __init__(self, sim) -> None:  # sim: pos.sandbox.engine.Simulator (no import circle)
        self.sim = sim
        self.lock = threading.Lock()
        self.codes: dict[str, PayCode] = {}

    def make(self, outcome: str) -> str:
        """A fresh 18-digit code (prefix 13) that will behave as ``outcome``."""
        if outcome not in OUTCOMES:
            raise CustomerError(400, "bad_outcome", f"outcome must be one of {', '.join(OUTCOMES)}")
        with self.lock:
            while True:
                code = "13" + "".join(secrets.choice("0123456789") for _ in range(16))
                if code not in self.codes:
                    self.codes[code] = PayCode(code, outcome)
                    return code

    # -- the gateway's side ------------------------------------------------------------------------

    def micropay(self, fields: Mapping[str, str], sandbox: bool) -> dict[str, str]:
        validate.check(fields, MICROPAY)
        state = self.sim.state
        with self.lock, state.lock:
            code = self.codes.get(fields["auth_code"])
            if code is None:
                raise Rejected("AUTH_CODE_INVALID", "101 付款码无效,请重新扫码")
            if state.order(sandbox, fields["out_trade_no"]) is not None:
                raise Rejected("OUT_TRADE_NO_USED", "商户订单号重复")
            if code.used:
                raise Rejected("AUTH_CODE_INVALID", "101 每个二维码仅限使用一次,请刷新再试")
            code.used = True
            if code.outcome == "expired":
                raise Rejected("AUTH_CODE_INVALID", "101 付款码已过期,请退出重试")
            if code.outcome == "not_enough":
                raise Rejected("NOTENOUGH", "余额不足")
            now = self.sim.clock.now()
            params = {k: v for k, v in fields.items() if k not in ("nonce_str", "sign", "sign_type")}
            params["trade_type"] = "MICROPAY"
            order = Order(
                out_trade_no=fields["out_trade_no"],
                sandbox=sandbox,
                params=params,
                sign_type=fields.get("sign_type") or "MD5",
                total_fee=int(fields["total_fee"]),
                created_at=now,
                prepay_id="",
                code_url="",
                code_expires_at=now,  # no QR: never listed on the phone page
                state=USERPAYING,
            )
            state.add(order)
            code.out_trade_no, code.sandbox = order.out_trade_no, sandbox
            if code.outcome == "paid":
                self._settle_paid(order)
                # The micropay answer carries the coupons' totals only; the list is the query's.
                return {k: v for k, v in self.sim._paid_fields(order).items() if not _PER_COUPON.match(k)}
            state.save()
        if code.outcome == "password":
            raise Rejected("USERPAYING", "需要用户输入支付密码")
        raise Rejected("SYSTEMERROR", "系统超时")

    def reverse(self, fields: Mapping[str, str], sandbox: bool) -> dict[str, str]:
        validate.check(fields, validate.ORDER_REF)
        with self.sim.state.lock:
            try:
                order = self.sim._find(fields, sandbox)
            except Rejected as exc:
                raise RejectedRecall(exc.err_code, exc.err_code_des, "N") from None
            if order.param("trade_type") != "MICROPAY":
                raise RejectedRecall("INVALID_REQUEST", "当前交易不允许撤销（只能撤销付款码订单）", "N")
            if order.state == REFUND:
                raise RejectedRecall("REVERSE_EXPIRE", "订单已退款，请使用退款接口", "N")
            if order.state != REVOKED:
                was = order.state
                order.state = REVOKED
                order.closed_at = self.sim.clock.now()
                self.sim.state.save()
                log.info("reversed", out_trade_no=order.out_trade_no, was=was)
        return {"recall": "N"}

    # -- the customer's side -----------------------------------------------------------------------

    def settle(self, auth_code: str, action: str, *, late: bool = False) -> Order:
        """The simulated customer enters the password (``pay``) or gives up (``cancel``)."""
        if action not in ("pay", "cancel"):
            raise CustomerError(400, "bad_action", "action must be pay or cancel")
        with self.lock, self.sim.state.lock:
            code = self.codes.get(auth_code)
            if code is None or not code.out_trade_no:
                raise CustomerError(404, "unknown_code", "no micropay order was placed with this code")
            order = self.sim.state.order(code.sandbox, code.out_trade_no)
            assert order is not None
            allowed = order.state == USERPAYING or (late and action == "pay" and order.state == REVOKED)
            if not allowed:
                raise CustomerError(409, "settled", f"the order is {order.state}, not waiting")
            if action == "pay":
                self._settle_paid(order)
            else:
                order.state = PAYERROR
            self.sim.state.save()
            return order

    def _settle_paid(self, order: Order) -> None:
        now = self.sim.clock.now()
        order.state = SUCCESS
        order.paid_at = now
        order.time_end = wechat_time(now)
        order.transaction_id = self.sim._fresh_transaction_id(now)
        order.openid = ids.openid()
        order.bank_type = "OTHERS"
        order.coupon_fee, order.coupon_type, order.coupon_id = coupons.apply(
            self.sim.settings.faults.coupon, order.total_fee
        )  # the coupon switch (pos.sandbox.coupons), as for a scanned QR
        order.cash_fee = order.total_fee - order.coupon_fee
        self.sim.state.save()
        log.info("micropay_paid", out_trade_no=order.out_trade_no, transaction_id=order.transaction_id)
