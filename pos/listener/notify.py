"""Payment notices (支付结果通知): believe only WeChat, lose no payment, mark nothing paid twice.

One notice goes through these steps; the first that fails decides the reply::

    bytes                                  a copy of a verified, recorded notice: SUCCESS at once
          ──read_notice──> fields          malformed, DOCTYPE/ENTITY, not UTF-8, too big: FAIL
          return_code                      missing: FAIL; not SUCCESS: nothing to do, SUCCESS
          appid / mch_id                   not ours: FAIL
          the sale, by out_trade_no        its sign type (unknown sale: the configured one)
          sign_type, if the notice has one another than the order's: FAIL (it does not choose)
          signature over every field       wrong or missing (forgeries, WeChat's probes): FAIL
          result_code                      not SUCCESS: stored, SUCCESS
          fee_type CNY, trade_type NATIVE  otherwise: stored, logged on the sale, SUCCESS
          already PAID by this transaction a replay: SUCCESS, nothing written (remembered ones: no read)
          ledger.mark_paid                 PAID / paid after close / wrong amount / unknown sale

Only a correctly signed notice is written to the database, so forged traffic
can neither change a sale nor grow the ledger. Everything after the signature
is a real payment WeChat took: :meth:`~pos.ledger.Ledger.mark_paid` stores it
with its outcome (and flags it for the manager when it does not fit the sale)
in the same transaction that marks the sale paid and queues the confirmation
slip, and only then is SUCCESS sent. If the database cannot take it, the reply
is FAIL and WeChat sends the notice again later. Duplicates, concurrent ones
too, are decided by the ledger's conditional update, not here.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy.exc import OperationalError, SQLAlchemyError

from pos.config import Config
from pos.ledger import InvalidInput, Ledger, MessageKind, PaidStatus, is_valid_out_trade_no
from pos.ledger.ledger import PaymentReport, PaymentSummary
from pos.ledger.models import PaidOutcome
from pos.listener.reply import Reply
from pos.listener.storage import DatabaseUnavailable, store_message
from pos.log import get_logger
from pos.wechatpay import notices
from pos.wechatpay.errors import (
    BodyTooLarge,
    BusinessError,
    InvalidField,
    ProtocolFail,
    SignatureError,
    SignTypeMismatch,
    WrongMerchant,
    XmlError,
)

log = get_logger("pos.listener.notify")

# return_msg texts for FAIL: WeChat logs them; a person reading WeChat's delivery log understands them.
MSG_SIGNATURE = "签名失败"
MSG_MALFORMED = "报文格式错误"
MSG_TOO_LARGE = "报文过大"
MSG_MERCHANT = "商户号或appid不符"
MSG_BUSY = "系统繁忙，请稍后重发"
MSG_INVALID = "通知字段无法识别，请稍后重发"

_FLAGGED = (
    PaidStatus.AMOUNT_MISMATCH,
    PaidStatus.CONFLICTING_PAYMENT,
    PaidStatus.UNKNOWN_SALE,
    PaidStatus.PAID_AFTER_CLOSE,
)


@dataclass(frozen=True, slots=True)
class _Paid:
    """A payment the ledger holds as THE payment of a sale: final, so safe to remember."""

    sale_id: int
    sign_type: str
    transaction_id: str
    total_fee: int

    def matches(self, notice: notices.PaymentNotice) -> bool:
        return (
            notice.transaction_id == self.transaction_id
            and notice.total_fee == self.total_fee
            and notice.fee_type == "CNY"
            and notice.trade_type == "NATIVE"
        )


class PaidMemory:
    """The last few thousand recorded payments, by out_trade_no, so WeChat's repeats (often several
    copies within seconds, from several servers) are answered after the signature check without a
    database round trip. Only payments the ledger confirmed enter it, and a PAID sale's transaction
    never changes, so an entry is never stale; forged notices cannot fill it.

    It also knows the digests of the verified notice bodies that carried those payments: a byte-for-byte
    copy of such a body would pass every check again with the same result (same fields, same
    signature), so it is answered as the repeat it is without being parsed or verified again. A body
    that differs in any byte (a new nonce, a forgery) takes the full path."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._entries: OrderedDict[str, _Paid] = OrderedDict()
        self._bodies: OrderedDict[bytes, str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, out_trade_no: str) -> _Paid | None:
        with self._lock:
            return self._entries.get(out_trade_no)

    def put(self, out_trade_no: str, paid: _Paid, *, body: bytes | None = None) -> None:
        """Remember ``paid``; ``body`` is the verified notice that reported it (see the class doc)."""
        with self._lock:
            self._entries[out_trade_no] = paid
            self._entries.move_to_end(out_trade_no)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
            if body is not None:
                self._bodies[_digest(body)] = out_trade_no
                while len(self._bodies) > self._size:
                    self._bodies.popitem(last=False)

    def repeat_of(self, body: bytes) -> tuple[str, _Paid] | None:
        """(out_trade_no, payment) when ``body`` is a copy of a verified notice of a remembered payment."""
        key = _digest(body)
        with self._lock:
            out_trade_no = self._bodies.get(key)
            paid = self._entries.get(out_trade_no) if out_trade_no is not None else None
        return (out_trade_no, paid) if out_trade_no is not None and paid is not None else None


def _digest(body: bytes) -> bytes:
    # 128 bits of BLAKE2b: no one can make another body with a remembered digest.
    return hashlib.blake2b(body, digest_size=16).digest()


class _Waiting:
    """One report in the queue, and what became of it."""

    __slots__ = ("done", "error", "lead", "outcome", "report", "wake")

    def __init__(self, report: PaymentReport) -> None:
        self.report = report
        self.done = False
        self.outcome: PaidOutcome | None = None
        self.error: BaseException | None = None
        self.lead = False  # set when the thread is woken to write the next batch rather than with its outcome
        # Held until this report's thread is woken: released exactly once, by the batch's writer.
        self.wake = threading.Lock()
        self.wake.acquire()


class GroupCommit:
    """Hands payment reports to :meth:`~pos.ledger.Ledger.mark_paid_many` in batches.

    Notices that arrive together (WeChat's bursts, several tills' customers paying at once) would
    each pay for a transaction of their own: BEGIN, COMMIT and SQLite's write lock passed from
    thread to thread. Here the first thread to find no batch being written writes every report
    waiting (up to ``max_batch``) in one transaction; the threads whose reports it took wait for
    their outcome, and reports that arrive meanwhile form the next batch. Each report is decided
    by the ledger exactly as alone, and its reply still waits for the COMMIT that stored it.
    If a batch fails for a reason that may be one report's own, each report is retried alone, so
    one bad report cannot make the others' payments fail; a database that is down or locked fails
    them all at once (WeChat sends them again).

    Each waiting thread sleeps on a lock of its own and is woken exactly once: by the writer of
    its batch with its outcome, or, if it is first in the queue when a batch is done, to write the
    next batch itself (its report first in it). A shared condition woken for every batch made all
    waiting threads take turns checking whether they were done, which cost more than the batch.
    """

    def __init__(self, ledger: Ledger, max_batch: int = 32) -> None:
        self.ledger = ledger
        self.max_batch = max_batch
        self._queue: list[_Waiting] = []
        self._busy = False  # a thread is writing a batch, or has been woken to write the next one
        self._mutex = threading.Lock()

    def mark_paid(self, report: PaymentReport) -> PaidOutcome:
        mine = _Waiting(report)
        with self._mutex:
            self._queue.append(mine)
            leading = not self._busy
            self._busy = True
        if not leading:
            mine.wake.acquire()
            leading = mine.lead
        if leading:
            self._lead(mine)
        assert mine.done
        if mine.error is not None:
            raise mine.error
        assert mine.outcome is not None
        return mine.outcome

    def _lead(self, mine: _Waiting) -> None:
        """Write the next batch (``mine`` is first in the queue), wake its threads, pass the lead on."""
        with self._mutex:
            batch = self._queue[: self.max_batch]
            del self._queue[: self.max_batch]
        assert batch and batch[0] is mine
        try:
            self._write(batch)
        finally:
            with self._mutex:
                successor = self._queue[0] if self._queue else None
                if successor is None:
                    self._busy = False
                else:
                    successor.lead = True
            for waiting in batch[1:]:
                waiting.wake.release()
            if successor is not None:
                successor.wake.release()

    def _write(self, batch: list[_Waiting]) -> None:
        try:
            outcomes = self.ledger.mark_paid_many([waiting.report for waiting in batch])
        except OperationalError as exc:  # down, locked, disk full: no use trying them one by one
            for waiting in batch:
                waiting.error = exc
        except Exception as exc:
            if len(batch) == 1:
                batch[0].error = exc
            else:
                for waiting in batch:
                    self._write([waiting])
        else:
            for waiting, outcome in zip(batch, outcomes, strict=True):
                waiting.outcome = outcome
        finally:
            for waiting in batch:
                if waiting.outcome is None and waiting.error is None:  # interrupted: no one waits for ever
                    waiting.error = RuntimeError("the payment batch was interrupted")
                waiting.done = True


class PaymentNotices:
    """Turns one notice body into one :class:`Reply`; thread-safe (its only state is :class:`PaidMemory`)."""

    def __init__(self, config: Config, ledger: Ledger, *, memory: int = 4096) -> None:
        self.merchant = config.merchant
        self.max_body = config.listener.max_body
        self.ledger = ledger
        self.paid = PaidMemory(memory)
        self._payments = GroupCommit(ledger)

    def handle(self, body: bytes, *, remote: str = "-") -> Reply:
        try:
            return self._handle(body, remote)
        except DatabaseUnavailable as exc:
            log.error(
                "notice_deferred",
                reason="database",
                error=exc,
                out_trade_no=exc.out_trade_no,
                remote=remote,
            )
            return Reply(notices.fail_reply(MSG_BUSY), status=503, verdict="database_unavailable")

    def _handle(self, body: bytes, remote: str) -> Reply:
        repeat = self.paid.repeat_of(body) if len(body) <= self.max_body else None
        if repeat is not None:
            # A copy of a notice already verified and recorded (WeChat's retries and parallel sends).
            out_trade_no, known = repeat
            log.info("notice_duplicate", out_trade_no=out_trade_no, sale=known.sale_id, remote=remote)
            return Reply(notices.success_reply(), verdict="duplicate")
        try:
            fields = notices.read_notice(body, max_bytes=self.max_body)
        except BodyTooLarge:
            return self._reject("too_large", remote, MSG_TOO_LARGE, status=413, size=len(body))
        except XmlError as exc:
            return self._reject(_xml_reason(exc), remote, MSG_MALFORMED, status=400, size=len(body))

        out_trade_no = fields.get("out_trade_no", "")
        # One INFO line per notice, written once its outcome is known (with out_trade_no and remote);
        # each line costs about as much as the rest of a repeat's handling.
        log.debug("notice_received", out_trade_no=out_trade_no, remote=remote)
        if not fields.get("return_code"):
            return self._reject("no_return_code", remote, MSG_MALFORMED, status=400,
                                out_trade_no=out_trade_no)  # fmt: skip
        if fields.get("return_code") != notices.SUCCESS:
            # Unsigned by definition and never sent for a payment: nothing to believe, nothing to do.
            log.warning("notice_ignored", reason="return_code", out_trade_no=out_trade_no, remote=remote)
            return Reply(notices.success_reply(), verdict="not_success")
        try:
            notices.check_merchant(fields, appid=self.merchant.appid, mch_id=self.merchant.mch_id)
        except WrongMerchant:
            return self._reject("wrong_merchant", remote, MSG_MERCHANT, out_trade_no=out_trade_no)

        known = self.paid.get(out_trade_no)
        sale = None if known else self._find(out_trade_no)
        sign_type = (known or sale or self.merchant).sign_type
        try:
            notice = notices.verify_payment_notice(
                fields,
                api_key=self.merchant.api_key,
                appid=self.merchant.appid,
                mch_id=self.merchant.mch_id,
                order_sign_type=sign_type,
            )
        except SignTypeMismatch:
            # The notice names another algorithm than its order's: it does not get to choose.
            return self._reject("sign_type", remote, MSG_SIGNATURE, out_trade_no=out_trade_no,
                                named=fields.get("sign_type", ""), expected=sign_type)  # fmt: skip
        except SignatureError:
            # Forged, or WeChat's signature probe: a security event, and nothing changes.
            return self._reject("signature", remote, MSG_SIGNATURE, out_trade_no=out_trade_no)
        except ProtocolFail:  # pragma: no cover - return_code was checked above
            return Reply(notices.success_reply(), verdict="not_success")
        except BusinessError as exc:
            self._store(body, "result_fail", out_trade_no)
            log.warning("notice_not_paid", out_trade_no=out_trade_no, err_code=exc.err_code, remote=remote)
            return Reply(notices.success_reply(), verdict="result_fail")
        except InvalidField as exc:
            # Signed by WeChat but unreadable to us: keep it, and let WeChat (and the watcher) try again.
            self._store(body, "invalid_field", out_trade_no)
            log.error("notice_unreadable", out_trade_no=out_trade_no, error=exc, remote=remote)
            return Reply(notices.fail_reply(MSG_INVALID), verdict="invalid_field")
        return self.settle(notice, body, known, sale, remote)

    def lookup(self, out_trade_no: str) -> tuple[_Paid | None, PaymentSummary | None]:
        """What a notice for ``out_trade_no`` is checked against: a remembered payment, else the sale."""
        known = self.paid.get(out_trade_no)
        return known, (None if known else self._find(out_trade_no))

    def settle(
        self,
        notice: notices.PaymentNotice,
        body: bytes,
        known: _Paid | None,
        sale: PaymentSummary | None,
        remote: str,
    ) -> Reply:
        """The path after a notice is proven WeChat's (v2 signature, or v3 headers and decryption):
        a repeat is answered from memory, anything else goes to the ledger, which pays the sale once
        and flags what does not fit. ``body`` is kept as received, for the audit."""
        out_trade_no = notice.out_trade_no
        if known and known.matches(notice):
            # WeChat repeating a payment this process already saw recorded: answered from memory.
            self.paid.put(out_trade_no, known, body=body)
            log.info("notice_duplicate", out_trade_no=out_trade_no, sale=known.sale_id, remote=remote)
            return Reply(notices.success_reply(), verdict="duplicate")
        if known:
            sale = self._find(out_trade_no)  # the same sale, another story: let the ledger judge it
        sale_id = sale.id if sale else None
        if sale is not None and (notice.fee_type != "CNY" or notice.trade_type != "NATIVE"):
            return self._foreign(body, notice, sale)
        if (
            sale is not None
            and sale.state.is_paid
            and sale.transaction_id == notice.transaction_id
            and sale.total_fee == notice.total_fee
        ):
            # A repeat of the payment already recorded (WeChat retries, replays): the first copy is stored.
            self.paid.put(
                out_trade_no, _Paid(sale.id, sale.sign_type, notice.transaction_id, sale.total_fee), body=body
            )
            log.info("notice_duplicate", out_trade_no=out_trade_no, sale=sale_id, remote=remote)
            return Reply(notices.success_reply(), verdict="duplicate")

        try:
            report = self.ledger.payment_report(
                notice.out_trade_no,
                transaction_id=notice.transaction_id,
                total_fee=notice.total_fee,
                time_end=notice.time_end,
                source="notice",
                cash_fee=notice.cash_fee,
                openid=notice.openid or None,
                raw=body,
                coupon_fee=notice.coupon_fee,
                settlement_total_fee=notice.settlement_total_fee,
            )
            outcome = self._payments.mark_paid(report)
        except InvalidInput as exc:
            self._store(body, "invalid_field", out_trade_no)
            log.error("notice_unreadable", out_trade_no=out_trade_no, error=exc, remote=remote)
            return Reply(notices.fail_reply(MSG_INVALID), verdict="invalid_field")
        except SQLAlchemyError as exc:
            raise DatabaseUnavailable(type(exc).__name__, out_trade_no) from None

        status = outcome.status
        sale_id = outcome.sale.id if outcome.sale else None
        paid = outcome.sale
        if outcome.is_paid and paid and paid.transaction_id == notice.transaction_id:
            self.paid.put(
                out_trade_no, _Paid(paid.id, paid.sign_type, paid.transaction_id, paid.total_fee), body=body
            )
        # These two lines carry the ledger's event=mark_paid line's facts (transaction_id too), so the
        # listener's process shows that one at DEBUG only (reply.quiet_duplicate_lines).
        if outcome.newly_paid:
            log.info(
                "notice_paid",
                out_trade_no=out_trade_no,
                sale=sale_id,
                transaction_id=notice.transaction_id,
                remote=remote,
            )
        elif status is PaidStatus.ALREADY_PAID:
            log.info(
                "notice_duplicate",
                out_trade_no=out_trade_no,
                sale=sale_id,
                transaction_id=notice.transaction_id,
                remote=remote,
            )
        if status in _FLAGGED:
            log.warning(
                "notice_flagged",
                outcome=status.value,
                out_trade_no=out_trade_no,
                sale=sale_id,
                flag=outcome.flag_id,
                remote=remote,
            )
        return Reply(notices.success_reply(), verdict=status.value)

    # -- helpers --------------------------------------------------------------------------

    def _find(self, out_trade_no: str) -> PaymentSummary | None:
        """What the notice is checked against: the sign type its order was created with, the total,
        and whether (and by which transaction) the sale is paid. One narrow read, no items."""
        if not is_valid_out_trade_no(out_trade_no):
            return None
        try:
            return self.ledger.payment_summary(out_trade_no)
        except SQLAlchemyError as exc:
            raise DatabaseUnavailable(type(exc).__name__, out_trade_no) from None

    def _store(self, body: bytes, verdict: str, out_trade_no: str | None) -> None:
        """Keep a verified notice that does not go through mark_paid, before answering."""
        store_message(self.ledger, MessageKind.NOTICE, body, verdict=verdict, out_trade_no=out_trade_no)

    def _foreign(self, body: bytes, notice: notices.PaymentNotice, sale: PaymentSummary) -> Reply:
        """A signed notice in another currency or for another trade type than our NATIVE orders:
        the sale is not paid by it; the notice is kept and the sale's history says why."""
        verdict = "fee_type" if notice.fee_type != "CNY" else "trade_type"
        detail = {
            "transaction_id": notice.transaction_id,
            "fee_type": notice.fee_type,
            "trade_type": notice.trade_type,
            "total_fee": notice.total_fee,
        }
        try:
            self.ledger.record_message(
                MessageKind.NOTICE, body, verdict=f"refused_{verdict}", out_trade_no=notice.out_trade_no
            )
            self.ledger.log_event("notice_refused", sale_id=sale.id, detail=detail)
        except SQLAlchemyError as exc:
            raise DatabaseUnavailable(type(exc).__name__, notice.out_trade_no) from None
        log.warning(
            "notice_flagged",
            outcome=f"refused_{verdict}",
            out_trade_no=notice.out_trade_no,
            sale=sale.id,
            fee_type=notice.fee_type,
            trade_type=notice.trade_type,
        )
        return Reply(notices.success_reply(), verdict=f"refused_{verdict}")

    def _reject(
        self, reason: str, remote: str, message: str, *, status: int = 200, **fields: object
    ) -> Reply:
        """Refuse a notice we must not believe; nothing is written. A security event in the log."""
        log.warning("notice_rejected", reason=reason, remote=remote, **fields)
        return Reply(notices.fail_reply(message), status=status, verdict=reason)


def _xml_reason(exc: XmlError) -> str:
    """``ForbiddenMarkup`` -> ``forbidden_markup``: the kind of bad body, for the log."""
    name = type(exc).__name__
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
