"""Refund notices (退款结果通知): decrypting is the proof, and a refund completes once.

A refund notice carries no ``sign``. Its facts are in ``req_info``, AES-256-ECB
encrypted with the MD5 of our API key, so only WeChat (or someone holding the
key) can write one that decrypts. One notice goes through these steps; the
first that fails decides the reply::

    bytes ──read_notice──> fields        malformed, DOCTYPE/ENTITY, not UTF-8, too big: FAIL
          return_code                    missing: FAIL; not SUCCESS: nothing to believe, SUCCESS
          appid / mch_id                 not ours: FAIL
          decrypt req_info               no req_info, not ours (wrong key), damaged: FAIL, nothing written
          typed inner fields             unreadable: stored, FAIL (WeChat sends it again)
          our refund, by out_refund_no   unknown (made on WeChat's merchant platform): stored, SUCCESS
          same sale and amount           otherwise: stored, logged on the sale, SUCCESS
          already in that state          a repeat: SUCCESS, nothing written
          refund_status SUCCESS          ledger.complete_refund (slip queued once), stored, SUCCESS
          REFUNDCLOSE                    ledger.fail_refund (reservation released, flag), stored, SUCCESS
          CHANGE                         ledger.hold_refund (amount kept, manager acts), stored, SUCCESS

Only notices that decrypt are written to the database. Duplicates, concurrent
ones too, are decided by the ledger's conditional updates: the refund slip is
queued by the one call that moved the refund out of PENDING. If the database
cannot take it, the reply is FAIL and WeChat sends the notice again.
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import SQLAlchemyError

from pos.config import Config
from pos.ledger import Ledger, MessageKind, Refund, RefundRefused, RefundState, UnknownRefund
from pos.listener.notify import MSG_BUSY, MSG_INVALID, MSG_MALFORMED, MSG_MERCHANT, MSG_TOO_LARGE, _xml_reason
from pos.listener.reply import Reply
from pos.listener.storage import DatabaseUnavailable, store_message
from pos.log import get_logger
from pos.wechatpay import notices
from pos.wechatpay.errors import BodyTooLarge, DecryptError, InvalidField, WrongMerchant, XmlError

log = get_logger("pos.listener.refunds")

MSG_DECRYPT = "req_info解密失败"
FAILURE_STATUSES = ("REFUNDCLOSE",)
HELD_STATUS = "CHANGE"  # 退款异常: the money could not go back to the customer (pos.ledger.held)


class RefundNotices:
    """Turns one refund notice body into one :class:`Reply`; thread-safe."""

    def __init__(self, config: Config, ledger: Ledger) -> None:
        self.merchant = config.merchant
        self.max_body = config.listener.max_body
        self.ledger = ledger

    def handle(self, body: bytes, *, remote: str = "-") -> Reply:
        try:
            return self._handle(body, remote)
        except (DatabaseUnavailable, SQLAlchemyError) as exc:
            log.error("refund_notice_deferred", reason="database", error=type(exc).__name__, remote=remote)
            return Reply(notices.fail_reply(MSG_BUSY), status=503, verdict="database_unavailable")

    def _handle(self, body: bytes, remote: str) -> Reply:
        try:
            fields = notices.read_notice(body, max_bytes=self.max_body)
        except BodyTooLarge:
            return self._reject("too_large", remote, MSG_TOO_LARGE, status=413, size=len(body))
        except XmlError as exc:
            return self._reject(_xml_reason(exc), remote, MSG_MALFORMED, status=400, size=len(body))
        if not fields.get("return_code"):
            return self._reject("no_return_code", remote, MSG_MALFORMED, status=400)
        if fields["return_code"] != notices.SUCCESS:
            log.warning("refund_notice_ignored", reason="return_code", remote=remote)
            return Reply(notices.success_reply(), verdict="not_success")
        try:
            notices.check_merchant(fields, appid=self.merchant.appid, mch_id=self.merchant.mch_id)
        except WrongMerchant:
            return self._reject("wrong_merchant", remote, MSG_MERCHANT)
        if not fields.get("req_info"):
            return self._reject("no_req_info", remote, MSG_MALFORMED, status=400)
        try:
            notice = notices.verify_refund_notice(
                fields, api_key=self.merchant.api_key, appid=self.merchant.appid, mch_id=self.merchant.mch_id
            )
        except DecryptError:
            # Not encrypted with our key: forged, or meant for someone else. Nothing is written.
            return self._reject("decrypt", remote, MSG_DECRYPT)
        except InvalidField as exc:
            # It decrypted, so WeChat wrote it; we cannot read it. Keep it, let WeChat send it again.
            self._store(body, "invalid_field", None)
            log.error("refund_notice_unreadable", error=exc, remote=remote)
            return Reply(notices.fail_reply(MSG_INVALID), verdict="invalid_field")
        return self.settle(notice, body, remote)

    def settle(self, notice: notices.RefundNotice, body: bytes, remote: str) -> Reply:
        """The path after a refund notice is proven WeChat's (v2 decryption, or v3 headers and
        decryption): our refund completes or fails once; anything else is kept and flagged."""
        number = notice.out_refund_no
        log.info(
            "refund_notice_received",
            out_refund_no=number,
            out_trade_no=notice.out_trade_no,
            status=notice.refund_status,
            remote=remote,
        )
        try:
            refund = self.ledger.get_refund(number)
        except UnknownRefund:
            return self._keep(body, notice, "unknown_refund", logging.WARNING)
        sale = self.ledger.get_sale(refund.sale_id)
        if sale.out_trade_no != notice.out_trade_no or refund.refund_fee != notice.refund_fee:
            self.ledger.log_event(
                "refund_notice_mismatch",
                sale_id=sale.id,
                detail={"out_refund_no": number, "out_trade_no": notice.out_trade_no,
                        "refund_fee": notice.refund_fee, "ours": refund.refund_fee},
            )  # fmt: skip
            return self._keep(body, notice, "mismatch", logging.ERROR)
        if _already(refund, notice.refund_status):
            log.info("refund_notice_duplicate", out_refund_no=number, sale=sale.id)
            return Reply(notices.success_reply(), verdict="duplicate")

        status = notice.refund_status
        try:
            if status == notices.SUCCESS:
                outcome = self.ledger.complete_refund(
                    number,
                    refund_id=notice.refund_id or None,
                    settlement_refund_fee=notice.settlement_refund_fee,
                )
                if outcome.already_done:  # a concurrent copy was first
                    return Reply(notices.success_reply(), verdict="duplicate")
                verdict = "refunded"
            elif status in FAILURE_STATUSES:
                self.ledger.fail_refund(number, f"refund_status={status} (refund notice)")
                verdict = "refund_failed"
            elif status == HELD_STATUS:
                self.ledger.hold_refund(number, f"refund_status={status} (refund notice)")
                verdict = "refund_held"
            else:
                verdict = f"status_{status.lower()}"[:32]
            self.ledger.record_message(
                MessageKind.REFUND_NOTICE, body, verdict=verdict, out_trade_no=notice.out_trade_no
            )
        except RefundRefused as exc:
            # WeChat's story differs from the ledger's (e.g. SUCCESS for a refund closed here).
            self.ledger.log_event(
                "refund_notice_conflict",
                sale_id=sale.id,
                detail={"out_refund_no": number, "wechat": status, "ledger": str(exc)},
            )
            return self._keep(body, notice, "conflict", logging.ERROR)
        log.info("refund_notice_" + verdict, out_refund_no=number, sale=sale.id)
        return Reply(notices.success_reply(), verdict=verdict)

    # -- helpers --------------------------------------------------------------------------

    def _keep(self, body: bytes, notice: notices.RefundNotice, verdict: str, level: int) -> Reply:
        """Store a genuine notice that changes nothing here, and acknowledge it (asking again won't help)."""
        self._store(body, verdict, notice.out_trade_no or None)
        log.log(
            level,
            "refund_notice_" + verdict,
            out_refund_no=notice.out_refund_no,
            out_trade_no=notice.out_trade_no,
        )
        return Reply(notices.success_reply(), verdict=verdict)

    def _store(self, body: bytes, verdict: str, out_trade_no: str | None) -> None:
        store_message(
            self.ledger, MessageKind.REFUND_NOTICE, body, verdict=verdict, out_trade_no=out_trade_no
        )

    def _reject(
        self, reason: str, remote: str, message: str, *, status: int = 200, **fields: object
    ) -> Reply:
        """Refuse a notice we must not believe; nothing is written. A security event in the log."""
        log.warning("refund_notice_rejected", reason=reason, remote=remote, **fields)
        return Reply(notices.fail_reply(message), status=status, verdict=reason)


def _already(refund: Refund, status: str) -> bool:
    """The ledger already holds what the notice says: a repeat."""
    if status == notices.SUCCESS:
        return refund.state is RefundState.SUCCEEDED
    if status in FAILURE_STATUSES:
        return refund.state is RefundState.FAILED
    if status == HELD_STATUS:
        return refund.state is RefundState.HELD
    return False
