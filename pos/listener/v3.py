"""v3 notices (``[merchant] api = "v3"``): proven by their headers, then today's path.

A v3 payment or refund notice is JSON whose facts are AES-256-GCM encrypted; its ``Wechatpay-*``
headers sign the raw body. Each notice goes through these steps; the first that fails decides::

    headers + bytes ──open_notice──>    signature (forged, replayed, SIGNTEST probe,
                                        unknown key, missing): 401, nothing written
                                        envelope not JSON / not encrypt-resource: 400
                                        does not decrypt with our APIv3 key: 400
    event_type                          a refund event on the payment path (or back): 400
    mchid / appid inside                not ours: 400, nothing written
    typed fields                        unreadable (WeChat wrote it): stored, 500 (sent again)
    the rest                            PaymentNotices.settle / RefundNotices.settle: the very
                                        path v2 notices take (paid once, mismatches flagged,
                                        the notice kept in the audit log)

Success is 204 with no body; failure 4xx/5xx with ``{"code": "FAIL", "message": ...}`` — v3
looks at the status, so a v2-style "FAIL with 200" is never sent. Nothing is parsed before the
signature is checked, so forged traffic changes nothing and writes nothing.

A listener takes one API, the configured one: a v2 XML notice sent to a v3 listener has no
``Wechatpay-*`` headers and is refused at the first step; a v3 notice sent to a v2 listener is
not XML and is refused by v2's first step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sqlalchemy.exc import SQLAlchemyError

from pos.config import Config
from pos.ledger import MessageKind
from pos.listener.notify import (
    MSG_BUSY,
    MSG_INVALID,
    MSG_MALFORMED,
    MSG_MERCHANT,
    MSG_SIGNATURE,
    PaymentNotices,
)
from pos.listener.refunds import MSG_DECRYPT, RefundNotices
from pos.listener.reply import Reply
from pos.listener.storage import DatabaseUnavailable, store_message
from pos.log import get_logger
from pos.wechatpay import notices
from pos.wechatpay.errors import DecryptError, InvalidField, MalformedJson, SignatureError, WrongMerchant
from pos.wechatpay.factory import v3_verifier
from pos.wechatpay.v3 import notices as v3notices

log = get_logger("pos.listener.v3")

JSON = "application/json"
MSG_EVENT = "通知类型与地址不符"

_Step = Callable[[Mapping[str, str], bytes, str], Reply]


def _fail(message: str, status: int, verdict: str) -> Reply:
    return Reply(v3notices.fail_reply(message), status=status, content_type=JSON, verdict=verdict)


def as_v3(reply: Reply) -> Reply:
    """The shared path's v2-shaped :class:`Reply` in v3's words: SUCCESS -> 204, FAIL -> 4xx/5xx JSON.

    A v2 FAIL answered with HTTP 200 (v2 reads ``return_code``) becomes 500 here, since v3 reads
    the status: WeChat sends the notice again, as v2's FAIL asked it to."""
    if reply.body == notices.success_reply():
        return Reply(b"", status=v3notices.SUCCESS_STATUS, content_type=JSON, verdict=reply.verdict)
    try:
        message = notices.read_notice(reply.body).get("return_msg", "") or MSG_BUSY
    except Exception:  # our own XML; never expected to fail
        message = MSG_BUSY
    return _fail(message, reply.status if reply.status >= 400 else 500, reply.verdict)


class V3Notices:
    """v3 payment and refund notices for one merchant; thread-safe (the handlers it wraps are)."""

    def __init__(self, config: Config, payments: PaymentNotices, refunds: RefundNotices) -> None:
        self.merchant = config.merchant
        self.max_body = config.listener.max_body
        self.verifier = v3_verifier(config.merchant)
        self.payments = payments
        self.refunds = refunds
        self.ledger = payments.ledger

    def payment(self, headers: Mapping[str, str], body: bytes, *, remote: str = "-") -> Reply:
        return self._guarded(self._payment, headers, body, remote)

    def refund(self, headers: Mapping[str, str], body: bytes, *, remote: str = "-") -> Reply:
        return self._guarded(self._refund, headers, body, remote)

    # -- steps ------------------------------------------------------------------------------

    def _guarded(self, step: _Step, headers: Mapping[str, str], body: bytes, remote: str) -> Reply:
        try:
            return step(headers, body, remote)
        except (DatabaseUnavailable, SQLAlchemyError) as exc:
            log.error("v3_notice_deferred", reason="database", error=type(exc).__name__, remote=remote)
            return _fail(MSG_BUSY, 503, "database_unavailable")

    def _open(self, headers: Mapping[str, str], body: bytes, remote: str) -> v3notices.Envelope | Reply:
        try:
            return v3notices.open_notice(
                headers, body, verifier=self.verifier, apiv3_key=self.merchant.apiv3_key,
                max_bytes=self.max_body,
            )  # fmt: skip
        except SignatureError as exc:  # NoticeNotVerified: forged, replayed, a SIGNTEST probe
            return self._reject("signature", remote, MSG_SIGNATURE, 401, error=str(exc))
        except DecryptError:
            return self._reject("decrypt", remote, MSG_DECRYPT, 400)
        except (MalformedJson, InvalidField) as exc:
            return self._reject("malformed", remote, MSG_MALFORMED, 400, error=str(exc))

    def _payment(self, headers: Mapping[str, str], body: bytes, remote: str) -> Reply:
        envelope = self._open(headers, body, remote)
        if isinstance(envelope, Reply):
            return envelope
        if envelope.event_type != v3notices.PAYMENT_EVENT:
            return self._reject("event_type", remote, MSG_EVENT, 400, event_type=envelope.event_type)
        try:
            notice = v3notices.payment_notice(envelope, mchid=self.merchant.mch_id, appid=self.merchant.appid)
        except WrongMerchant:
            return self._reject("wrong_merchant", remote, MSG_MERCHANT, 400)
        except InvalidField as exc:
            return self._unreadable(MessageKind.NOTICE, body, exc, remote)
        known, sale = self.payments.lookup(notice.out_trade_no)
        return as_v3(self.payments.settle(notice, body, known, sale, remote))

    def _refund(self, headers: Mapping[str, str], body: bytes, remote: str) -> Reply:
        envelope = self._open(headers, body, remote)
        if isinstance(envelope, Reply):
            return envelope
        if envelope.event_type not in v3notices.REFUND_EVENTS:
            return self._reject("event_type", remote, MSG_EVENT, 400, event_type=envelope.event_type)
        try:
            notice = v3notices.refund_notice(envelope, mchid=self.merchant.mch_id)
        except WrongMerchant:
            return self._reject("wrong_merchant", remote, MSG_MERCHANT, 400)
        except InvalidField as exc:
            return self._unreadable(MessageKind.REFUND_NOTICE, body, exc, remote)
        return as_v3(self.refunds.settle(notice, body, remote))

    def _unreadable(self, kind: MessageKind, body: bytes, exc: Exception, remote: str) -> Reply:
        """Signed and decrypted, so WeChat wrote it, but we cannot read it: keep it, ask again later."""
        store_message(self.ledger, kind, body, verdict="invalid_field", out_trade_no=None)
        log.error("v3_notice_unreadable", error=exc, remote=remote)
        return _fail(MSG_INVALID, 500, "invalid_field")

    def _reject(self, reason: str, remote: str, message: str, status: int, **fields: object) -> Reply:
        """Refuse a notice we must not believe; nothing is written. A security event in the log."""
        log.warning("v3_notice_rejected", reason=reason, remote=remote, **fields)
        return _fail(message, status, reason)
