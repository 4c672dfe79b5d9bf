"""The simulator's v2 refunds: refund, refundquery and the refund notice, as WeChat runs them.

A part of :class:`pos.sandbox.engine.Simulator` kept in its own module (the simulator inherits
it): the refund rules read and change the same state, settings, clock and notifier as the
order rules, under the same lock. How a PROCESSING refund ends is :mod:`.refundflow`'s job.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from pos.log import get_logger
from pos.sandbox import coupons, ids, refundflow, validate
from pos.sandbox.clock import SimClock, dashed_time
from pos.sandbox.errors import Rejected
from pos.sandbox.notifier import Notifier
from pos.sandbox.settings import SimSettings
from pos.sandbox.state import REFUND, SUCCESS, Order, Refund, SimState
from pos.wechatpay import notices, xmlcodec

if TYPE_CHECKING:
    from pos.sandbox.engine_v3 import V3Engine

log = get_logger("pos.sandbox.engine")

MAX_REFUNDS = 50


class RefundDesk:
    """The refund half of the v2 simulator; :class:`~pos.sandbox.engine.Simulator` supplies the rest."""

    settings: SimSettings
    state: SimState
    clock: SimClock
    notifier: Notifier
    v3: V3Engine

    def key(self, sandbox: bool) -> str:
        raise NotImplementedError  # the simulator's

    def _find(self, fields: Mapping[str, str], sandbox: bool) -> Order:
        raise NotImplementedError  # the simulator's

    # -- refunds ------------------------------------------------------------------------------------

    def refund(self, fields: Mapping[str, str], sandbox: bool) -> dict[str, str]:
        validate.check(fields, validate.REFUND)
        with self.state.lock:
            order = self._find(fields, sandbox)
            if order.state not in (SUCCESS, REFUND):
                raise Rejected("ORDERNOTEXIST", "订单不存在或未支付")
            total_fee, refund_fee = int(fields["total_fee"]), int(fields["refund_fee"])
            if total_fee != order.total_fee:
                raise Rejected("INVALID_REQUEST", "订单金额或退款金额与之前请求不一致，请核实后再试")
            existing = next((r for r in order.refunds if r.out_refund_no == fields["out_refund_no"]), None)
            if existing is not None:
                if existing.refund_fee != refund_fee:
                    raise Rejected("INVALID_REQUEST", "订单金额或退款金额与之前请求不一致，请核实后再试")
                return self._refund_answer(order, existing)
            if self._refund_no_used(sandbox, fields["out_refund_no"]):
                raise Rejected("INVALID_REQUEST", "商户退款单号重复")
            if len(order.refunds) >= MAX_REFUNDS:
                raise Rejected("ERROR", f"一笔订单最多退款{MAX_REFUNDS}次")
            if order.refunded + refund_fee > order.total_fee:
                raise Rejected("INVALID_REQUEST", "退款金额大于支付金额")
            now = self.clock.now()
            refund = Refund(
                out_refund_no=fields["out_refund_no"],
                refund_id=ids.refund_id(now),
                refund_fee=refund_fee,
                requested_at=now,
                succeeded_at=now,
                refund_desc=fields.get("refund_desc", ""),
                notify_url=fields.get("notify_url") or self.settings.refund_notify_url,
                coupon_refund_fee=coupons.refund_share(order, refund_fee),
            )
            faults = self.settings.faults
            refundflow.begin(refund, faults.refund_outcome, now, faults.refund_seconds)
            order.refunds.append(refund)
            order.state = REFUND
            self.state.save()
            log.info("refund", out_trade_no=order.out_trade_no, refund_fee=refund_fee, status=refund.status)
        if refund.notify_url and refund.status != refundflow.PROCESSING:
            self.send_refund_notice(order, refund)
        return self._refund_answer(order, refund)

    def settle_refunds(self) -> None:
        """PROCESSING refunds whose moment has come end as the switch said; their notices go out."""
        refundflow.settle(self)

    def _refund_no_used(self, sandbox: bool, out_refund_no: str) -> bool:
        return any(
            r.out_refund_no == out_refund_no
            for o in self.state.orders.values()
            if o.sandbox == sandbox
            for r in o.refunds
        )

    def _refund_answer(self, order: Order, refund: Refund) -> dict[str, str]:
        return {
            "transaction_id": order.transaction_id,
            "out_trade_no": order.out_trade_no,
            "out_refund_no": refund.out_refund_no,
            "refund_id": refund.refund_id,
            "refund_channel": "",
            "refund_fee": str(refund.refund_fee),
            "total_fee": str(order.total_fee),
            "settlement_total_fee": str(_settlement_total(order)),
            "fee_type": "CNY",
            "cash_fee": str(order.cash_fee),
            **coupons.refund_fields(order, refund),
        }

    def refund_notice(self, order: Order, refund: Refund) -> dict[str, str]:
        """Outer fields of a 退款结果通知: no sign; the facts are inside the encrypted req_info."""
        inner = {
            "out_refund_no": refund.out_refund_no,
            "out_trade_no": order.out_trade_no,
            "refund_account": "REFUND_SOURCE_UNSETTLED_FUNDS",
            "refund_fee": str(refund.refund_fee),
            "refund_id": refund.refund_id,
            "refund_recv_accout": "支付用户零钱",
            "refund_request_source": "API",
            "refund_status": refund.status,
            "settlement_refund_fee": str(coupons.settlement_refund_fee(order, refund)),
            "settlement_total_fee": str(_settlement_total(order)),
            "success_time": dashed_time(refund.succeeded_at),
            "total_fee": str(order.total_fee),
            "transaction_id": order.transaction_id,
        }
        return {
            "return_code": "SUCCESS",
            "appid": order.param("appid"),
            "mch_id": order.param("mch_id"),
            "nonce_str": ids.nonce(),
            "req_info": notices.encrypt_req_info(inner, self.key(order.sandbox)),
        }

    def send_refund_notice(self, order: Order, refund: Refund) -> int:
        if refund.api == "v3":
            body = self.v3.refund_notice(order, refund)
            url, signer = refund.notify_url, self.v3.notice_signer()
            return self.notifier.submit("refund", url, body, order.out_trade_no, body, sign=signer, api="v3")
        body = xmlcodec.encode_as_wechat(self.refund_notice(order, refund))
        return self.notifier.submit("refund", refund.notify_url, body, order.out_trade_no)

    def refund_query(self, fields: Mapping[str, str], sandbox: bool) -> dict[str, str]:
        validate.check(fields, validate.REFUND_QUERY)
        self.settle_refunds()
        with self.state.lock:
            order, refunds = self._find_refunds(fields, sandbox)
            offset = fields.get("offset", "0")
            if not offset.isdigit():
                raise Rejected("INVALID_REQUEST", "offset参数格式错误")
            start = int(offset)
            page = refunds[start : start + 10]
            if not page:
                raise Rejected("REFUNDNOTEXIST", "退款订单查询失败")
            out = {
                "transaction_id": order.transaction_id,
                "out_trade_no": order.out_trade_no,
                "total_fee": str(order.total_fee),
                "settlement_total_fee": str(_settlement_total(order)),
                "fee_type": "CNY",
                "cash_fee": str(order.cash_fee),
                "total_refund_count": str(len(refunds)),
                "refund_count": str(len(page)),
            }
            for n, refund in enumerate(page):
                out.update(
                    {
                        f"out_refund_no_{n}": refund.out_refund_no,
                        f"refund_id_{n}": refund.refund_id,
                        f"refund_channel_{n}": "ORIGINAL",
                        f"refund_fee_{n}": str(refund.refund_fee),
                        **coupons.refund_fields(order, refund, f"_{n}"),
                        f"refund_status_{n}": refund.status,
                        f"refund_account_{n}": "REFUND_SOURCE_UNSETTLED_FUNDS",
                        f"refund_recv_accout_{n}": "支付用户零钱",
                        f"refund_success_time_{n}": dashed_time(refund.succeeded_at),
                    }
                )
            return out

    def _find_refunds(self, fields: Mapping[str, str], sandbox: bool) -> tuple[Order, list[Refund]]:
        for name in ("refund_id", "out_refund_no"):
            if fields.get(name):
                for order in self.state.orders.values():
                    if order.sandbox != sandbox:
                        continue
                    for refund in order.refunds:
                        if getattr(refund, name) == fields[name]:
                            return order, [refund]
                raise Rejected("REFUNDNOTEXIST", "退款订单查询失败")
        if not (fields.get("transaction_id") or fields.get("out_trade_no")):
            raise Rejected(
                "LACK_PARAMS", "缺少参数：refund_id、out_refund_no、transaction_id、out_trade_no 四选一"
            )
        try:
            order = self._find(fields, sandbox)
        except Rejected:
            raise Rejected("REFUNDNOTEXIST", "退款订单查询失败") from None
        return order, list(order.refunds)


def _settlement_total(order: Order) -> int:
    return coupons.settlement_total_fee(order.total_fee, order.coupon_fee, order.coupon_type)
