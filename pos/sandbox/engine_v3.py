"""API v3's business rules over the simulator's one state: orders placed on v3 are v2 orders too.

An order placed with ``POST /v3/pay/transactions/native`` is stored as the same
:class:`~pos.sandbox.state.Order` v2's unifiedorder makes (its ``params`` in v2's names:
``body`` for ``description``, ``total_fee`` for ``amount.total``…, plus the v3 request for
re-entry), marked ``api="v3"`` so its payment notice goes out as v3 JSON. Either API can
then query, close, refund and bill it. Refunds carry their own ``api`` the same way.

Errors are :class:`V3Error` — HTTP status, ``code``, ``message`` — with the codes of
docs/wechatpay-v3.md §4-§9.

The fault switches of ``POST /_sim/faults`` apply here as on v2, in v3's words:
``trade_states`` shows USERPAYING / PAYERROR / REVOKED as the query's ``trade_state`` (a
REVOKED order's close answers 400 ``ORDER_CLOSED``); ``early_close`` rules a close within
``close_min_age`` (``ignored``: 204 and the order stays payable; ``refused``: 400
``INVALID_REQUEST`` with the rule's text, code UNVERIFIED); ``refund_outcome`` makes refunds
PROCESSING, then SUCCESS, ``ABNORMAL`` (v2's CHANGE) or ``CLOSED`` (v2's REFUNDCLOSE), with
a ``REFUND.*`` notice when they settle; ``coupon`` pays part of the order with a coupon
(``amount.payer_total`` < ``total`` and a ``promotion_detail`` entry, ``CASH`` or ``NOCASH``).
"""

from __future__ import annotations

import functools
import json
import re
import time
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import rsa

from pos.log import get_logger
from pos.sandbox import coupons, earlyclose, ids, refundflow, tradestates
from pos.sandbox.clock import BEIJING
from pos.sandbox.errors import SandboxError
from pos.sandbox.state import CLOSED, NOTPAY, REFUND, SUCCESS, Order, Refund
from pos.sandbox.v3keys import V3Identity
from pos.wechatpay.v3 import crypto
from pos.wechatpay.v3.certificates import resource_nonce

if TYPE_CHECKING:
    from pos.sandbox.engine import Simulator

log = get_logger(__name__)

OUT_TRADE_NO = re.compile(r"^[0-9A-Za-z_\-|*]{6,32}$")
OUT_REFUND_NO = re.compile(r"^[0-9A-Za-z_\-|*@]{1,64}$")
MIN_EXPIRE, MAX_EXPIRE = 60, 90 * 86400
MAX_REFUNDS = 50
_DESC = {
    NOTPAY: "订单未支付",
    SUCCESS: "支付成功",
    REFUND: "订单发生过退款，退款详情请查询退款单",
    CLOSED: "订单已关闭",
}
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


# v2's refund statuses (the simulator's state) in v3's words.
V3_REFUND_STATUS = {"REFUNDCLOSE": "CLOSED", "CHANGE": "ABNORMAL"}


def promotion(order: Order) -> dict[str, Any]:
    """The order's coupon as v3's ``promotion_detail`` entry (CASH: WeChat-funded, NOCASH: the
    merchant's own; v2 spells the latter NO_CASH)."""
    funded = "NOCASH" if order.coupon_type == "NO_CASH" else "CASH"
    return {
        "coupon_id": order.coupon_id, "name": "模拟器代金券", "scope": "GLOBAL", "type": funded,
        "amount": order.coupon_fee, "stock_id": "SIM" + order.coupon_id,
        "wechatpay_contribute": order.coupon_fee if funded == "CASH" else 0,
        "merchant_contribute": order.coupon_fee if funded == "NOCASH" else 0,
        "other_contribute": 0, "currency": "CNY",
    }  # fmt: skip


class V3Error(SandboxError):
    """A v3 error answer: ``status`` and ``{"code", "message", "detail"?}``."""

    def __init__(self, status: int, code: str, message: str, detail: Mapping[str, Any] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.detail = dict(detail) if detail else None

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.detail:
            out["detail"] = self.detail
        return out


def rfc3339(at: float) -> str:
    return datetime.fromtimestamp(at, BEIJING).replace(microsecond=0).isoformat()


def _param_error(field: str, issue: str, value: object = None) -> V3Error:
    detail: dict[str, Any] = {"field": field, "location": "body", "issue": issue}
    if value is not None:
        detail["value"] = value
    return V3Error(400, "PARAM_ERROR", f"参数错误：{field} {issue}", detail)


def _text(data: Mapping[str, Any], name: str, limit: int, required: bool = True) -> str:
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise _param_error(f"/{name}", "is required")
        return ""
    if not isinstance(value, str):
        raise _param_error(f"/{name}", "must be a string")
    if len(value.encode("utf-8")) > limit:
        raise _param_error(f"/{name}", f"is longer than {limit} bytes")
    return value


def _amount(data: Mapping[str, Any], name: str) -> int:
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 or value > 10**10:
        raise _param_error(f"/amount/{name}", "must be an integer number of fen, at least 1", value)
    return value


def _notify_url(value: str, field: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise _param_error(field, "must be an absolute http(s) URL without a query string")
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK and not parts.hostname.startswith("127."):
        raise _param_error(field, "must be https (http only for loopback in the simulator)")
    return value


class V3Engine:
    """The v3 operations, on the :class:`~pos.sandbox.engine.Simulator`'s state, clock and notifier."""

    def __init__(self, sim: Simulator, identity: V3Identity) -> None:
        self.sim = sim
        self.identity = identity

    # -- orders ---------------------------------------------------------------------------------

    def native_order(self, data: Mapping[str, Any]) -> dict[str, Any]:
        ident = self.identity
        appid = _text(data, "appid", 32)
        if _text(data, "mchid", 32) != ident.mchid:
            raise V3Error(400, "INVALID_REQUEST", "请求中的mchid与请求头中的商户号不一致")
        if appid != ident.appid:
            raise V3Error(400, "APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配")
        description = _text(data, "description", 127)
        out_trade_no = _text(data, "out_trade_no", 32)
        if not OUT_TRADE_NO.match(out_trade_no):
            raise _param_error("/out_trade_no", "must be 6-32 of [0-9A-Za-z_-|*]", out_trade_no)
        notify_url = _notify_url(_text(data, "notify_url", 255), "/notify_url")
        attach = _text(data, "attach", 128, required=False)
        amount = data.get("amount")
        if not isinstance(amount, Mapping):
            raise _param_error("/amount", "is required")
        total = _amount(amount, "total")
        if amount.get("currency", "CNY") != "CNY":
            raise _param_error("/amount/currency", "Currency code is invalid", amount.get("currency"))
        scene = data.get("scene_info") if isinstance(data.get("scene_info"), Mapping) else {}
        now = self.sim.clock.now()
        expires_at = self._expiry(data.get("time_expire"), now)
        params = {
            "appid": appid,
            "mch_id": ident.mchid,
            "body": description,
            "out_trade_no": out_trade_no,
            "total_fee": str(total),
            "notify_url": notify_url,
            "attach": attach,
            "device_info": str(scene.get("device_id", "")) if scene else "",
            "spbill_create_ip": str(scene.get("payer_client_ip", "")) if scene else "",
            "trade_type": "NATIVE",
            "v3_request": json.dumps(data, sort_keys=True, ensure_ascii=False),
        }
        state = self.sim.state
        with state.lock:
            order = state.order(False, out_trade_no)
            if order is None:
                order = Order(
                    out_trade_no=out_trade_no, sandbox=False, params=params, sign_type="MD5",
                    total_fee=total, created_at=now, prepay_id=ids.prepay_id(now),
                    code_url=self.sim._fresh_code_url(), code_expires_at=now + self.sim.settings.code_ttl,
                    expires_at=expires_at, api="v3",
                )  # fmt: skip
                state.add(order)
                log.info("order", api="v3", out_trade_no=out_trade_no, total=total)
            else:
                if order.state in (SUCCESS, REFUND):
                    raise V3Error(400, "ORDER_PAID", "该订单已支付")
                if order.state == CLOSED:
                    raise V3Error(400, "ORDER_CLOSED", "该订单已失效")
                if order.params != params:
                    raise V3Error(400, "INVALID_REQUEST", "请求重入时，参数与首次请求时不一致")
                if order.expires_at is not None and now >= order.expires_at:
                    raise V3Error(400, "ORDER_CLOSED", "该订单已失效")
                # Identical parameters: a fresh code_url, the old one stops working.
                order.code_url = self.sim._fresh_code_url()
                order.code_expires_at = now + self.sim.settings.code_ttl
            state.save()
            return {"code_url": order.code_url}

    @staticmethod
    def _expiry(value: Any, now: float) -> float | None:
        """RFC 3339; silently moved into [now + 1 min, now + 90 days], as the v3 page says."""
        if value is None:
            return None
        if not isinstance(value, str):
            raise _param_error("/time_expire", "must be an RFC 3339 string")
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise _param_error("/time_expire", "is not RFC 3339", value) from None
        if moment.tzinfo is None:
            raise _param_error("/time_expire", "needs an offset (+08:00)", value)
        return min(max(moment.timestamp(), now + MIN_EXPIRE), now + MAX_EXPIRE)

    def _order(self, out_trade_no: str | None = None, transaction_id: str | None = None) -> Order:
        state = self.sim.state
        if transaction_id:
            order = state.by_transaction(False, transaction_id)
        else:
            order = state.order(False, out_trade_no or "")
        if order is None:
            raise V3Error(404, "ORDER_NOT_EXIST", "订单不存在")
        return order

    def transaction(self, order: Order) -> dict[str, Any]:
        """The Transaction object: what a query answers and a payment notice carries."""
        out: dict[str, Any] = {
            "appid": order.param("appid"),
            "mchid": order.param("mch_id"),
            "out_trade_no": order.out_trade_no,
            "trade_type": "NATIVE",
            "trade_state": order.state,
            "trade_state_desc": _DESC[order.state],
            "attach": order.param("attach"),
            "amount": {"total": order.total_fee, "currency": "CNY"},
        }
        shown = tradestates.overlay(self.sim.settings.faults.trade_states, order.out_trade_no, order.state)
        if shown is not None:
            out.update(trade_state=shown, trade_state_desc=tradestates.DESCRIPTIONS[shown])
        if order.state in (SUCCESS, REFUND):
            out.update(
                transaction_id=order.transaction_id,
                bank_type=order.bank_type,
                success_time=rfc3339(order.paid_at or 0),
                payer={"openid": order.openid},
                amount={"total": order.total_fee, "payer_total": order.cash_fee, "currency": "CNY",
                        "payer_currency": "CNY"},
            )  # fmt: skip
            if order.coupon_fee:
                out["promotion_detail"] = [promotion(order)]
        if order.param("device_info"):
            out["scene_info"] = {"device_id": order.param("device_info")}
        return out

    def query(self, out_trade_no: str | None = None, transaction_id: str | None = None) -> dict[str, Any]:
        with self.sim.state.lock:
            return self.transaction(self._order(out_trade_no, transaction_id))

    def close(self, out_trade_no: str, data: Mapping[str, Any]) -> None:
        if data.get("mchid") != self.identity.mchid:
            raise V3Error(400, "PARAM_ERROR", "参数错误：mchid与请求头中的商户号不一致",
                          {"field": "/mchid", "location": "body"})  # fmt: skip
        with self.sim.state.lock:
            order = self._order(out_trade_no)
            if order.state in (SUCCESS, REFUND):
                raise V3Error(400, "ORDER_PAID", "订单已支付，不能发起关单，请发起退款")
            faults = self.sim.settings.faults
            if tradestates.overlay(faults.trade_states, out_trade_no, order.state) == "REVOKED":
                raise V3Error(400, "ORDER_CLOSED", "订单已撤销")
            if order.state == CLOSED:  # closing is re-entrant: a closed order answers 204 again
                return
            now = self.sim.clock.now()
            min_age = self.sim.settings.close_min_age
            if now - order.created_at < min_age and faults.early_close != "closed":
                if faults.early_close == "refused":
                    raise V3Error(400, "INVALID_REQUEST", earlyclose.refusal_text(min_age))
                log.info("early_close_ignored", api="v3", out_trade_no=out_trade_no)
                return  # 204, and the order stays payable
            order.state = CLOSED
            order.closed_at = now
            self.sim.state.save()
            log.info("closed", api="v3", out_trade_no=out_trade_no)

    # -- refunds --------------------------------------------------------------------------------

    def refund(self, data: Mapping[str, Any]) -> dict[str, Any]:
        out_refund_no = _text(data, "out_refund_no", 64)
        if not OUT_REFUND_NO.match(out_refund_no):
            raise _param_error("/out_refund_no", "must be 1-64 of [0-9A-Za-z_-|*@]", out_refund_no)
        amount = data.get("amount")
        if not isinstance(amount, Mapping):
            raise _param_error("/amount", "is required")
        refund_fee, total = _amount(amount, "refund"), _amount(amount, "total")
        if amount.get("currency", "CNY") != "CNY":
            raise _param_error("/amount/currency", "Currency code is invalid", amount.get("currency"))
        notify_url = _text(data, "notify_url", 256, required=False)
        if notify_url:
            _notify_url(notify_url, "/notify_url")
        reason = _text(data, "reason", 80, required=False)
        transaction_id = _text(data, "transaction_id", 32, required=False)
        out_trade_no = _text(data, "out_trade_no", 32, required=False)
        if not (transaction_id or out_trade_no):
            raise _param_error("/out_trade_no", "transaction_id or out_trade_no is required")
        sim = self.sim
        with sim.state.lock:
            try:
                order = self._order(out_trade_no, transaction_id)
            except V3Error:
                raise V3Error(404, "RESOURCE_NOT_EXISTS", "订单不存在") from None
            if order.state not in (SUCCESS, REFUND):
                raise V3Error(404, "RESOURCE_NOT_EXISTS", "订单不存在")
            if total != order.total_fee:
                raise V3Error(400, "INVALID_REQUEST", "您的请求参数与订单信息不一致")
            existing = next((r for r in order.refunds if r.out_refund_no == out_refund_no), None)
            if existing is not None:
                if existing.refund_fee != refund_fee:
                    raise V3Error(400, "INVALID_REQUEST", "您的请求参数与订单信息不一致")
                return self.refund_answer(order, existing)
            if sim._refund_no_used(False, out_refund_no):
                raise V3Error(400, "INVALID_REQUEST", "商户退款单号重复")
            if len(order.refunds) >= MAX_REFUNDS:
                raise V3Error(403, "RULE_LIMIT", f"一笔订单最多退款{MAX_REFUNDS}次")
            if order.refunded + refund_fee > order.total_fee:
                raise V3Error(400, "INVALID_REQUEST", "退款金额超过订单可退金额")
            now = sim.clock.now()
            refund = Refund(
                out_refund_no=out_refund_no, refund_id=ids.refund_id(now), refund_fee=refund_fee,
                requested_at=now, succeeded_at=now, refund_desc=reason,
                notify_url=notify_url or sim.settings.refund_notify_url, api="v3",
                coupon_refund_fee=coupons.refund_share(order, refund_fee),
            )  # fmt: skip
            faults = sim.settings.faults
            refundflow.begin(refund, faults.refund_outcome, now, faults.refund_seconds)
            order.refunds.append(refund)
            order.state = REFUND
            sim.state.save()
            log.info(
                "refund", api="v3", out_trade_no=order.out_trade_no, refund=refund_fee, status=refund.status
            )
        if refund.notify_url and refund.status != refundflow.PROCESSING:  # else when it settles
            sim.send_refund_notice(order, refund)
        return self.refund_answer(order, refund)

    def refund_answer(self, order: Order, refund: Refund) -> dict[str, Any]:
        status = V3_REFUND_STATUS.get(refund.status, refund.status)
        answer: dict[str, Any] = {
            "refund_id": refund.refund_id,
            "out_refund_no": refund.out_refund_no,
            "transaction_id": order.transaction_id,
            "out_trade_no": order.out_trade_no,
            "channel": "ORIGINAL",
            "user_received_account": "支付用户零钱",
            "success_time": rfc3339(refund.succeeded_at),
            "create_time": rfc3339(refund.requested_at),
            "status": status,
            "funds_account": "UNSETTLED",
            "amount": coupons.v3_refund_amount(order, refund),
            "promotion_detail": coupons.v3_refund_promotions(order, refund),
        }  # fmt: skip
        if status != "SUCCESS":
            del answer["success_time"]  # only a refund that reached the customer has one
        return answer

    def refund_query(self, out_refund_no: str) -> dict[str, Any]:
        self.sim.settle_refunds()  # a PROCESSING refund whose moment has come answers as settled
        with self.sim.state.lock:
            for order in self.sim.state.orders.values():
                if order.sandbox:
                    continue
                for refund in order.refunds:
                    if refund.out_refund_no == out_refund_no:
                        return self.refund_answer(order, refund)
        raise V3Error(404, "RESOURCE_NOT_EXISTS", "退款单不存在")

    # -- notices --------------------------------------------------------------------------------

    def notice_body(self, event_type: str, summary: str, kind: str, inner: Mapping[str, Any]) -> bytes:
        """The notice JSON; ``kind`` (transaction/refund) is original_type and the AES associated data."""
        original_type = kind
        nonce = resource_nonce()
        plaintext = json.dumps(inner, ensure_ascii=False, separators=(",", ":")).encode()
        envelope = {
            "id": str(uuid.uuid4()),
            "create_time": rfc3339(self.sim.clock.now()),
            "resource_type": "encrypt-resource",
            "event_type": event_type,
            "summary": summary,
            "resource": {
                "original_type": original_type,
                "algorithm": crypto.AES_GCM,
                "ciphertext": crypto.aes_encrypt(self.identity.apiv3_key, nonce, original_type, plaintext),
                "associated_data": original_type,
                "nonce": nonce,
            },
        }
        return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()

    def payment_notice(self, order: Order) -> bytes:
        return self.notice_body("TRANSACTION.SUCCESS", "支付成功", "transaction", self.transaction(order))

    def refund_notice(self, order: Order, refund: Refund) -> bytes:
        answer = self.refund_answer(order, refund)
        events = {"SUCCESS": "REFUND.SUCCESS", "CLOSED": "REFUND.CLOSED"}
        event = events.get(answer["status"], "REFUND.ABNORMAL")
        inner = {
            "mchid": self.identity.mchid,
            "transaction_id": order.transaction_id,
            "out_trade_no": order.out_trade_no,
            "refund_id": refund.refund_id,
            "out_refund_no": refund.out_refund_no,
            "refund_status": answer["status"],
            "success_time": answer.get("success_time", ""),
            "user_received_account": answer["user_received_account"],
            # The documented notice amount (wechatpay-v3.md §8.3): no settlement_refund here; the
            # till has it from the refund answer or a query.
            "amount": {"total": order.total_fee, "refund": refund.refund_fee, "payer_total": order.cash_fee,
                       "payer_refund": answer["amount"]["payer_refund"]},
        }  # fmt: skip
        summary = {"REFUND.SUCCESS": "退款成功", "REFUND.CLOSED": "退款关闭"}.get(event, "退款异常")
        return self.notice_body(event, summary, "refund", inner)

    # -- WeChat's signature on answers and notices --------------------------------------------------

    def default_serial(self) -> str:
        ident = self.identity
        if self.sim.settings.v3_sign_with == "certificate":
            return ident.platform_serial_no
        return ident.wechatpay_public_key_id

    def signed_headers(
        self, body: bytes, serial: str | None = None, fault: str = ""
    ) -> tuple[dict[str, str], bytes]:
        """The ``Wechatpay-*`` headers for ``body`` (and the body, which one fault alters).

        Timestamps are real time, not the simulator's clock: the merchant checks them against
        its own clock, which the simulator's offset does not move.
        """
        serial = serial or self.default_serial()
        key = self.identity.signing_key(serial)
        assert key is not None, serial
        stamp = int(time.time()) - (600 if fault == "stale_timestamp" else 0)
        nonce = crypto.new_nonce()
        if fault == "bad_signature":
            key = _forger()
        signature = crypto.rsa_sign(key, crypto.answer_message(str(stamp), nonce, body))
        if fault == "signtest":
            signature = crypto.PROBE_PREFIX + signature[len(crypto.PROBE_PREFIX) :]
        if fault == "wrong_serial":
            serial = "PUB_KEY_ID_" + "0" * 34
        headers = {
            "Wechatpay-Timestamp": str(stamp),
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Signature": signature,
            "Wechatpay-Serial": serial,
            "Wechatpay-Signature-Type": crypto.SIGNATURE_TYPE,
        }
        if fault == "missing_headers":
            headers.pop("Wechatpay-Signature")
        if fault == "tampered_body":
            body = body.replace(b"1", b"2", 1) if b"1" in body else body + b" "
        return headers, body

    def notice_signer(self):
        """For the notifier: sign each attempt afresh; a probe gets a WECHATPAY/SIGNTEST/ signature."""

        def sign(body: bytes, probe: bool) -> dict[str, str]:
            headers, _ = self.signed_headers(body, fault="signtest" if probe else "")
            return headers

        return sign


@functools.cache
def _forger() -> rsa.RSAPrivateKey:
    """A key that is not WeChat's, for the ``bad_signature`` fault (made once, on first use)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)
