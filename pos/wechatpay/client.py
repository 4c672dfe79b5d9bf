"""A WeChat Pay v2 client: plain values in, typed values out, one exception tree.

Every call signs its request, POSTs it through one ``requests.Session`` (the
transport seam: tests point ``api_base`` at a loopback server or the simulator)
with a timeout, and checks the answer in three levels:

1. ``return_code`` — FAIL raises :class:`ProtocolFail` carrying ``return_msg``
   (or the gateway's ``retmsg``/``retcode`` form);
2. the signature — a SUCCESS answer without a valid ``sign`` (same algorithm as
   the request) raises :class:`SignatureError`, and one naming another appid or
   mch_id raises :class:`WrongMerchant`;
3. ``result_code`` — FAIL raises :class:`BusinessError` with ``err_code`` and
   ``err_code_des``. For queries the trade outcome is ``trade_state`` on the
   returned :class:`OrderStatus`: an unpaid order is an answer, not an error.

Retries. A request that timed out or met a connection error or an HTTP 5xx may
or may not have reached WeChat. The client retries (``retries`` times, with a
short back-off) by re-sending **the very same bytes** — same nonce, same sign,
same business parameters — and only then is a retry safe for every call:

- queries (``query_order``, ``refund_query``), ``close_order``,
  ``download_bill`` and ``short_url`` change nothing or converge to one state;
- ``unified_order`` is re-entrant only with byte-identical parameters under the
  same ``out_trade_no`` (changed ones get ``INVALID_REQUEST``), which is what a
  byte-for-byte resend gives;
- ``refund`` is idempotent per ``out_refund_no`` ("retry a failed refund with
  the same out_refund_no"); the caller must also reuse it across restarts.

Nothing else is retried: a :class:`ProtocolFail`, a :class:`BusinessError`, a
bad signature or an HTTP 4xx are answers, and asking again would not change
them. When the retries run out the last :class:`TransportError` (or
:class:`TransportTimeout`) is raised: the outcome is unknown, and the caller
must query before deciding anything.
"""

from __future__ import annotations

import gzip as gzip_module
import time
import zlib
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import requests

from pos.config import REAL_GATEWAY, MerchantConfig
from pos.wechatpay import sign as signing
from pos.wechatpay import xmlcodec
from pos.wechatpay.answers import (
    Closed,
    OrderStatus,
    RefundAccepted,
    RefundItem,
    RefundStatus,
    UnifiedOrder,
    frozen_fields,
    split_indexed,
)
from pos.wechatpay.errors import (
    BillNotReady,
    BusinessError,
    InvalidField,
    NoBill,
    ProtocolFail,
    SignatureError,
    TransportError,
    TransportTimeout,
    WrongMerchant,
)
from pos.wechatpay.fields import check_total_fee, fen, optional_fen, optional_time, required
from pos.wechatpay.times import parse_spaced, to_compact

SUCCESS = "SUCCESS"
BILL_TYPES = ("ALL", "SUCCESS", "REFUND", "RECHARGE_REFUND")
_GZIP_MAGIC = b"\x1f\x8b"


# -- the client -----------------------------------------------------------------------------------


class WeChatPayClient:
    """Talks to one merchant account at WeChat Pay v2 (or anything that speaks it)."""

    def __init__(
        self,
        appid: str,
        mch_id: str,
        api_key: str,
        sign_type: str = signing.MD5,
        api_base: str = REAL_GATEWAY,
        session: requests.Session | None = None,
        timeout: float = 10.0,
        retries: int = 2,
        cert: tuple[str, str] | None = None,
        verify: bool | str = True,
        backoff: float = 0.5,
    ) -> None:
        if sign_type not in signing.SIGN_TYPES:
            raise ValueError(f"sign_type must be MD5 or HMAC-SHA256, not {sign_type!r}")
        if retries < 0:
            raise ValueError("retries must be 0 or more")
        self.appid = appid
        self.mch_id = mch_id
        self.api_key = api_key
        self.sign_type = sign_type
        self.api_base = api_base.rstrip("/")
        self._owns_session = session is None
        self.session = session or requests.Session()
        self.timeout = timeout
        self.retries = retries
        self.cert = cert
        self.verify = verify
        self.backoff = backoff

    @classmethod
    def from_config(cls, merchant: MerchantConfig, **overrides: Any) -> WeChatPayClient:
        """A client for ``config.merchant``; ``overrides`` (e.g. ``session=``) win."""
        cert = (merchant.cert_file, merchant.key_file) if merchant.cert_file and merchant.key_file else None
        options: dict[str, Any] = {
            "sign_type": merchant.sign_type,
            "api_base": merchant.api_base,
            "timeout": merchant.timeout,
            "cert": cert,
            "verify": merchant.ca_file or True,
        }
        options.update(overrides)
        return cls(merchant.appid, merchant.mch_id, merchant.api_key, **options)

    def close(self) -> None:
        """Close the HTTP session if this client created it."""
        if self._owns_session:
            self.session.close()

    def __enter__(self) -> WeChatPayClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- transport --------------------------------------------------------------------------------

    def _request_body(self, params: Mapping[str, str | None]) -> bytes:
        fields = {"appid": self.appid, "mch_id": self.mch_id, "nonce_str": signing.new_nonce()}
        if self.sign_type != signing.MD5:
            fields["sign_type"] = self.sign_type
        fields.update({k: v for k, v in params.items() if v is not None and v != ""})
        return xmlcodec.encode(signing.signed(fields, self.api_key, self.sign_type))

    def _post(
        self, path: str, body: bytes, *, use_cert: bool = False, retries: int | None = None
    ) -> requests.Response:
        """POST ``body``, re-sending the identical bytes on transport failures (see module doc).

        ``retries=0`` for micropay: a payment code works once, so a lost answer is settled by
        orderquery, never by sending the code again."""
        url = self.api_base + path
        retries = self.retries if retries is None else retries
        attempt = 0
        while True:
            try:
                response = self.session.post(
                    url,
                    data=body,
                    headers={"Content-Type": "text/xml; charset=utf-8"},
                    timeout=self.timeout,
                    cert=self.cert if use_cert else None,
                    verify=self.verify,
                )
            except requests.Timeout as exc:
                error: TransportError = TransportTimeout(f"{path}: no answer within {self.timeout}s ({exc})")
            except requests.RequestException as exc:
                error = TransportError(f"{path}: {type(exc).__name__}: {exc}")
            except OSError as exc:  # e.g. the client certificate file is missing: retrying won't help
                raise TransportError(f"{path}: {exc}") from None
            else:
                if response.status_code < 500:
                    if response.status_code != 200:
                        raise TransportError(f"{path}: HTTP {response.status_code}")
                    return response
                error = TransportError(f"{path}: HTTP {response.status_code}")
            if attempt >= retries:
                raise error
            attempt += 1
            if self.backoff:
                time.sleep(self.backoff * attempt)

    def _check(self, fields: dict[str, str]) -> dict[str, str]:
        """The three-level check, with the signature verified before result_code is believed."""
        if fields.get("return_code") != SUCCESS:
            raise ProtocolFail(fields.get("return_msg") or fields.get("retmsg") or "", fields)
        try:
            signing.verify(fields, self.api_key, self.sign_type)
        except SignatureError as exc:
            raise SignatureError(f"answer not from WeChat, or the key is wrong: {exc}") from None
        for name, ours in (("appid", self.appid), ("mch_id", self.mch_id)):
            if fields.get(name) and fields[name] != ours:
                raise WrongMerchant(f"answer names {name} {fields[name]!r}, not ours ({ours})")
        if fields.get("result_code") != SUCCESS:
            raise BusinessError(fields.get("err_code", ""), fields.get("err_code_des", ""), fields)
        return fields

    def _call(self, path: str, params: Mapping[str, str | None], *, use_cert: bool = False) -> dict[str, str]:
        response = self._post(path, self._request_body(params), use_cert=use_cert)
        return self._check(xmlcodec.decode(response.content))

    # -- the API ----------------------------------------------------------------------------------

    def unified_order(
        self,
        *,
        out_trade_no: str,
        total_fee: int,
        body: str,
        notify_url: str,
        product_id: str,
        spbill_create_ip: str,
        time_start: datetime | None = None,
        time_expire: datetime | None = None,
        attach: str | None = None,
        openid: str | None = None,
        device_info: str | None = None,
        detail: str | None = None,
        goods_tag: str | None = None,
        extra: Mapping[str, str] | None = None,
    ) -> UnifiedOrder:
        """``/pay/unifiedorder`` with ``trade_type=NATIVE``; times are aware datetimes.

        Safe to call again for the same sale only with the very same arguments
        (WeChat's re-entry rule); a changed amount needs a new ``out_trade_no``.
        """
        check_total_fee(total_fee)
        params: dict[str, str | None] = {
            "out_trade_no": out_trade_no,
            "total_fee": str(total_fee),
            "body": body,
            "notify_url": notify_url,
            "product_id": product_id,
            "spbill_create_ip": spbill_create_ip,
            "trade_type": "NATIVE",
            "time_start": to_compact(time_start) if time_start else None,
            "time_expire": to_compact(time_expire) if time_expire else None,
            "attach": attach,
            "openid": openid,
            "device_info": device_info,
            "detail": detail,
            "goods_tag": goods_tag,
        }
        params.update(extra or {})
        fields = self._call("/pay/unifiedorder", params)
        return UnifiedOrder(
            prepay_id=required(fields, "prepay_id"),
            code_url=required(fields, "code_url"),
            trade_type=fields.get("trade_type", "NATIVE"),
            fields=frozen_fields(fields),
        )

    def query_order(self, out_trade_no: str | None = None, transaction_id: str | None = None) -> OrderStatus:
        """``/pay/orderquery`` by our number or WeChat's; raises BusinessError ORDERNOTEXIST if unknown."""
        if not out_trade_no and not transaction_id:
            raise ValueError("query_order needs out_trade_no or transaction_id")
        fields = self._call(
            "/pay/orderquery", {"out_trade_no": out_trade_no, "transaction_id": transaction_id}
        )
        return OrderStatus(
            out_trade_no=fields.get("out_trade_no") or out_trade_no or "",
            trade_state=required(fields, "trade_state"),
            trade_state_desc=fields.get("trade_state_desc", ""),
            transaction_id=fields.get("transaction_id", ""),
            total_fee=optional_fen(fields, "total_fee"),
            cash_fee=optional_fen(fields, "cash_fee"),
            time_end=optional_time(fields, "time_end"),
            openid=fields.get("openid", ""),
            attach=fields.get("attach", ""),
            fields=frozen_fields(fields),
            coupon_fee=optional_fen(fields, "coupon_fee"),
            settlement_total_fee=optional_fen(fields, "settlement_total_fee"),
        )

    def close_order(self, out_trade_no: str) -> Closed:
        """``/pay/closeorder``. ORDERPAID (the customer paid after all) arrives as BusinessError."""
        fields = self._call("/pay/closeorder", {"out_trade_no": out_trade_no})
        return Closed(out_trade_no=out_trade_no, fields=frozen_fields(fields))

    def short_url(self, long_url: str) -> str:
        """``/tools/shorturl``: a ``weixin://wxpay/s/…`` link for a long mode-one link.

        The sign is over the raw ``long_url``; the value travels in CDATA.
        """
        fields = self._call("/tools/shorturl", {"long_url": long_url})
        return required(fields, "short_url")

    def refund(
        self,
        *,
        out_refund_no: str,
        total_fee: int,
        refund_fee: int,
        out_trade_no: str | None = None,
        transaction_id: str | None = None,
        refund_desc: str | None = None,
        notify_url: str | None = None,
        refund_account: str | None = None,
        extra: Mapping[str, str] | None = None,
    ) -> RefundAccepted:
        """``/secapi/pay/refund`` with the client certificate (``cert=(cert_file, key_file)``).

        Keep ``out_refund_no`` for the refund's whole life: re-sending it never refunds twice,
        and a new one for the same intent might.
        """
        if not out_trade_no and not transaction_id:
            raise ValueError("refund needs out_trade_no or transaction_id")
        for name, value in (("total_fee", total_fee), ("refund_fee", refund_fee)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive int in fen, not {value!r}")
        if refund_fee > total_fee:
            raise ValueError("refund_fee cannot exceed total_fee")
        params: dict[str, str | None] = {
            "out_trade_no": out_trade_no,
            "transaction_id": transaction_id,
            "out_refund_no": out_refund_no,
            "total_fee": str(total_fee),
            "refund_fee": str(refund_fee),
            "refund_desc": refund_desc,
            "notify_url": notify_url,
            "refund_account": refund_account,
        }
        params.update(extra or {})
        fields = self._call("/secapi/pay/refund", params, use_cert=True)
        return RefundAccepted(
            out_trade_no=fields.get("out_trade_no", out_trade_no or ""),
            transaction_id=fields.get("transaction_id", transaction_id or ""),
            out_refund_no=fields.get("out_refund_no", out_refund_no),
            refund_id=fields.get("refund_id", ""),
            refund_fee=fen(fields, "refund_fee") if fields.get("refund_fee") else refund_fee,
            total_fee=optional_fen(fields, "total_fee"),
            cash_refund_fee=optional_fen(fields, "cash_refund_fee"),
            fields=frozen_fields(fields),
            settlement_refund_fee=optional_fen(fields, "settlement_refund_fee"),
            coupon_refund_fee=optional_fen(fields, "coupon_refund_fee"),
        )

    def refund_query(
        self,
        *,
        out_trade_no: str | None = None,
        transaction_id: str | None = None,
        out_refund_no: str | None = None,
        refund_id: str | None = None,
        offset: int | None = None,
    ) -> RefundStatus:
        """``/pay/refundquery`` by any one of the four numbers; the ``_$n`` fields become a list."""
        if not (out_trade_no or transaction_id or out_refund_no or refund_id):
            raise ValueError("refund_query needs out_trade_no, transaction_id, out_refund_no or refund_id")
        fields = self._call(
            "/pay/refundquery",
            {
                "out_trade_no": out_trade_no,
                "transaction_id": transaction_id,
                "out_refund_no": out_refund_no,
                "refund_id": refund_id,
                "offset": None if offset is None else str(offset),
            },
        )
        plain, indexed = split_indexed(fields)
        count_text = plain.get("refund_count", "")
        if count_text and not count_text.isdigit():
            raise InvalidField(f"refund_count {count_text!r} is not a number")
        count = int(count_text) if count_text else len(indexed)
        refunds = []
        for n in range(count):
            item = indexed.get(n)
            if item is None:
                raise InvalidField(f"refund_count is {count} but refund {n} is missing")
            success_time = item.get("refund_success_time", "")
            refunds.append(
                RefundItem(
                    out_refund_no=item.get("out_refund_no", ""),
                    refund_id=item.get("refund_id", ""),
                    refund_fee=optional_fen(item, "refund_fee"),
                    refund_status=item.get("refund_status", ""),
                    refund_channel=item.get("refund_channel", ""),
                    refund_recv_accout=item.get("refund_recv_accout", ""),
                    success_time=parse_spaced(success_time, "refund_success_time") if success_time else None,
                    fields=frozen_fields(item),
                    settlement_refund_fee=optional_fen(item, "settlement_refund_fee"),
                    coupon_refund_fee=optional_fen(item, "coupon_refund_fee"),
                )
            )
        return RefundStatus(
            out_trade_no=plain.get("out_trade_no", ""),
            transaction_id=plain.get("transaction_id", ""),
            total_fee=optional_fen(plain, "total_fee"),
            refund_count=count,
            refunds=tuple(refunds),
            fields=frozen_fields(fields),
        )

    def download_bill(self, bill_date: date | str, bill_type: str = "ALL", gzip: bool = True) -> str:
        """``/pay/downloadbill``: one day's bill text (read it with :func:`pos.wechatpay.bills.parse_bill`).

        Raises :class:`NoBill` for "No Bill Exist"/20002 (nothing paid that day),
        :class:`BillNotReady` for "Bill Creating" (before ~10:00 the next day),
        :class:`ProtocolFail` for any other refusal. The bill itself is not signed.
        """
        if bill_type not in BILL_TYPES:
            raise ValueError(f"bill_type must be one of {', '.join(BILL_TYPES)}, not {bill_type!r}")
        day = bill_date.strftime("%Y%m%d") if isinstance(bill_date, date) else bill_date
        if not (len(day) == 8 and day.isdigit()):
            raise ValueError(f"bill_date must be a date or yyyyMMdd, not {bill_date!r}")
        body = self._request_body(
            {"bill_date": day, "bill_type": bill_type, "tar_type": "GZIP" if gzip else None}
        )
        content = self._post("/pay/downloadbill", body).content
        if content.startswith(_GZIP_MAGIC):
            try:
                content = gzip_module.decompress(content)
            except (OSError, EOFError, zlib.error) as exc:
                raise TransportError(f"/pay/downloadbill: the gzip bill is damaged ({exc})") from None
        if content.removeprefix(b"\xef\xbb\xbf").lstrip().startswith(b"<"):
            self._bill_refusal(xmlcodec.decode(content))
        try:
            return content.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise TransportError(f"/pay/downloadbill: the bill is not UTF-8 (byte {exc.start})") from None

    @staticmethod
    def _bill_refusal(fields: dict[str, str]) -> None:
        message = fields.get("return_msg") or fields.get("retmsg") or ""
        code = fields.get("error_code", "")
        if message.strip().lower() == "no bill exist" or code == "20002":
            raise NoBill(message or "No Bill Exist", fields)
        if message.strip().lower() == "bill creating":
            raise BillNotReady(message, fields)
        raise ProtocolFail(message or "downloadbill refused", fields)
