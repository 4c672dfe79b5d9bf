"""A WeChat Pay API v3 client with the shape of v2's :class:`~pos.wechatpay.client.WeChatPayClient`.

Same calls, same value types, same exception tree; what differs is the wire:

- every request carries ``Authorization: WECHATPAY2-SHA256-RSA2048 …`` signed with the
  merchant's private key over the method, the path with its query exactly as sent, a
  timestamp, a nonce and the exact body bytes (:mod:`pos.wechatpay.v3.crypto`);
- every 2xx answer must carry WeChat's signature over its raw body, checked by the
  :class:`~pos.wechatpay.v3.verify.Verifier` (public key or platform certificate, chosen by
  ``Wechatpay-Serial``; five minutes of clock skew at most). A 2xx answer that fails is
  :class:`~pos.wechatpay.errors.AnswerNotVerified`: a TransportError, because WeChat may
  have done what we asked — query before deciding. Error answers are checked when signed;
  an unsigned one is still raised, marked ``verified=False``;
- errors are HTTP 4xx with ``{"code", "message", "detail"}``, raised as
  :class:`~pos.wechatpay.errors.V3Refusal` or :class:`~pos.wechatpay.errors.V3BusinessError`
  (see :mod:`pos.wechatpay.v3.results`).

Retries are v2's: a timeout, a connection error or an HTTP 5xx re-sends the very same bytes
(same Authorization, so the same nonce) ``retries`` times with a short back-off; then the last
:class:`~pos.wechatpay.errors.TransportError` is raised. Every call is safe to repeat that way:
orders are re-entrant with identical parameters, refunds idempotent per ``out_refund_no``,
and the rest only read or converge.

No client certificate is needed for any v3 call, refunds included.
"""

from __future__ import annotations

import gzip as gzip_module
import hashlib
import json
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from pos.config import REAL_GATEWAY
from pos.wechatpay.answers import Closed, OrderStatus, RefundAccepted, RefundStatus, UnifiedOrder
from pos.wechatpay.client import BILL_TYPES
from pos.wechatpay.errors import (
    AnswerNotVerified,
    BillHashMismatch,
    BillNotReady,
    InvalidField,
    NoBill,
    TransportError,
    TransportTimeout,
    V3BusinessError,
)
from pos.wechatpay.fields import check_total_fee
from pos.wechatpay.times import to_rfc3339
from pos.wechatpay.v3 import crypto, results
from pos.wechatpay.v3.certificates import PlatformCertificate, read_certificates
from pos.wechatpay.v3.verify import Verifier

USER_AGENT = "pos-till (WeChat Pay API v3; python-requests)"


@dataclass(frozen=True)
class BillLink:
    """``/v3/bill/tradebill``'s answer: where the file is and the SHA1 of its uncompressed bytes."""

    hash_type: str
    hash_value: str
    download_url: str


@dataclass(frozen=True)
class _Answer:
    status: int
    body: bytes
    headers: Mapping[str, str]


class WeChatPayV3Client:
    """Talks to one merchant account at WeChat Pay API v3 (or anything that speaks it)."""

    def __init__(
        self,
        *,
        mchid: str,
        appid: str,
        private_key: str | bytes | rsa.RSAPrivateKey,
        serial_no: str,
        apiv3_key: str,
        verifier: Verifier,
        api_base: str = REAL_GATEWAY,
        session: requests.Session | None = None,
        timeout: float = 10.0,
        retries: int = 2,
        backoff: float = 0.5,
        clock: Callable[[], float] = time.time,
        verify: bool | str = True,
    ) -> None:
        if retries < 0:
            raise ValueError("retries must be 0 or more")
        if len(apiv3_key.encode("utf-8")) != 32:
            raise ValueError("the APIv3 key must be 32 bytes")
        self.mchid = mchid
        self.appid = appid
        if not isinstance(private_key, rsa.RSAPrivateKey):
            private_key = crypto.load_private_key(private_key)
        self.private_key = private_key
        self.serial_no = serial_no
        self.apiv3_key = apiv3_key
        self.verifier = verifier
        self.api_base = api_base.rstrip("/")
        self._owns_session = session is None
        self.session = session or requests.Session()
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.clock = clock
        # A CA bundle for api_base (a private gateway, the demo's simulator), passed on every request:
        # requests lets REQUESTS_CA_BUNDLE override a Session's own ``verify``, but not this.
        self.verify = verify

    def close(self) -> None:
        """Close the HTTP session if this client created it."""
        if self._owns_session:
            self.session.close()

    def __enter__(self) -> WeChatPayV3Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- transport --------------------------------------------------------------------------------

    def _send(self, method: str, url: str, body: bytes, *, serial: str | None) -> _Answer:
        """Sign once, then send (and re-send on transport failures) the very same request."""
        target = urlsplit(url)
        signed_url = target.path + (f"?{target.query}" if target.query else "")
        auth = crypto.authorize(
            self.private_key, mchid=self.mchid, serial_no=self.serial_no, method=method, url=signed_url,
            body=body, timestamp=int(self.clock()),
        )  # fmt: skip
        headers = {"Authorization": auth.header(), "Accept": "application/json", "User-Agent": USER_AGENT}
        if method != "GET":
            headers["Content-Type"] = "application/json"
        if serial:
            headers["Wechatpay-Serial"] = serial  # the key we will verify the answer with
        attempt = 0
        while True:
            try:
                response = self.session.request(
                    method, url, data=body if method != "GET" else None, headers=headers,
                    timeout=self.timeout, allow_redirects=False, verify=self.verify,
                )  # fmt: skip
            except requests.Timeout:
                error: TransportError = TransportTimeout(f"{signed_url}: no answer in {self.timeout}s")
            except requests.RequestException as exc:
                error = TransportError(f"{signed_url}: {type(exc).__name__}: {exc}")
            else:
                if response.status_code < 500:
                    return _Answer(response.status_code, response.content, response.headers)
                code = _code_of(response.content)
                error = TransportError(f"{signed_url}: HTTP {response.status_code} {code}")
            if attempt >= self.retries:
                raise error
            attempt += 1
            if self.backoff:
                time.sleep(self.backoff * attempt)

    def _preferred_serial(self) -> str | None:
        serials = self.verifier.serials
        return next((s for s in serials if s.startswith("PUB_KEY_ID_")), serials[-1] if serials else None)

    def _call(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
        names: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """One verified call: the answer's JSON (``{}`` for 204), or the mapped exception."""
        url = self.api_base + path + (f"?{urlencode(query, quote_via=quote)}" if query else "")
        raw = b"" if body is None else json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        answer = self._send(method, url, raw, serial=self._preferred_serial())
        signed = any(k.lower() == "wechatpay-signature" for k in answer.headers)
        if 200 <= answer.status < 300 or signed:
            self.verifier.verify(answer.headers, answer.body, AnswerNotVerified)
        if 200 <= answer.status < 300:
            return results.load_json(answer.body, path) if answer.body.strip() else {}
        if answer.status >= 400:
            raise results.error(answer.status, answer.body, verified=signed, names=names)
        raise TransportError(f"{path}: unexpected HTTP {answer.status}")

    @staticmethod
    def _segment(value: str, name: str) -> str:
        if not value:
            raise ValueError(f"{name} is required")
        return quote(value, safe="")

    # -- the API ----------------------------------------------------------------------------------

    def unified_order(
        self,
        *,
        out_trade_no: str,
        total_fee: int,
        body: str,
        notify_url: str,
        spbill_create_ip: str | None = None,
        time_expire: datetime | None = None,
        attach: str | None = None,
        device_info: str | None = None,
        goods_tag: str | None = None,
        product_id: str | None = None,
        time_start: datetime | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> UnifiedOrder:
        """``POST /v3/pay/transactions/native``: v2's arguments, v3's body; ``code_url`` back.

        ``body`` is sent as ``description``, the IP and device as ``scene_info``. v3 has no
        ``product_id`` or ``time_start`` (accepted and ignored, so callers need not branch).
        """
        check_total_fee(total_fee)
        request: dict[str, Any] = {
            "appid": self.appid,
            "mchid": self.mchid,
            "description": body,
            "out_trade_no": out_trade_no,
            "notify_url": notify_url,
            "amount": {"total": total_fee, "currency": "CNY"},
        }
        if time_expire is not None:
            request["time_expire"] = to_rfc3339(time_expire)
        if attach:
            request["attach"] = attach
        if goods_tag:
            request["goods_tag"] = goods_tag
        if spbill_create_ip:
            scene: dict[str, Any] = {"payer_client_ip": spbill_create_ip}
            if device_info:
                scene["device_id"] = device_info
            request["scene_info"] = scene
        request.update(extra or {})
        return results.unified_order(self._call("POST", "/v3/pay/transactions/native", body=request))

    def query_order(self, out_trade_no: str | None = None, transaction_id: str | None = None) -> OrderStatus:
        """By our number or WeChat's; an unknown order raises BusinessError ``ORDERNOTEXIST``."""
        if transaction_id:
            path = "/v3/pay/transactions/id/" + self._segment(transaction_id, "transaction_id")
        elif out_trade_no:
            path = "/v3/pay/transactions/out-trade-no/" + self._segment(out_trade_no, "out_trade_no")
        else:
            raise ValueError("query_order needs out_trade_no or transaction_id")
        data = self._call("GET", path, query={"mchid": self.mchid})
        return results.order_status(data, out_trade_no or "")

    def close_order(self, out_trade_no: str) -> Closed:
        """``…/close`` (204). A paid order raises BusinessError ``ORDERPAID`` (v3 ``ORDER_PAID``)."""
        path = f"/v3/pay/transactions/out-trade-no/{self._segment(out_trade_no, 'out_trade_no')}/close"
        self._call("POST", path, body={"mchid": self.mchid})
        return results.closed(out_trade_no)

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
        extra: Mapping[str, Any] | None = None,
    ) -> RefundAccepted:
        """``POST /v3/refund/domestic/refunds``; keep ``out_refund_no`` for the refund's whole life.

        ``status`` (SUCCESS, PROCESSING…) is in ``fields``; done only when a query or notice says so.
        """
        if not out_trade_no and not transaction_id:
            raise ValueError("refund needs out_trade_no or transaction_id")
        for name, value in (("total_fee", total_fee), ("refund_fee", refund_fee)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive int in fen, not {value!r}")
        if refund_fee > total_fee:
            raise ValueError("refund_fee cannot exceed total_fee")
        request: dict[str, Any] = {"out_refund_no": out_refund_no}
        if transaction_id:
            request["transaction_id"] = transaction_id
        else:
            request["out_trade_no"] = out_trade_no
        if refund_desc:
            request["reason"] = refund_desc
        if notify_url:
            request["notify_url"] = notify_url
        if refund_account:
            request["funds_account"] = refund_account
        request["amount"] = {"refund": refund_fee, "total": total_fee, "currency": "CNY"}
        request.update(extra or {})
        names = {"RESOURCE_NOT_EXISTS": "ORDERNOTEXIST"}
        data = self._call("POST", "/v3/refund/domestic/refunds", body=request, names=names)
        return results.refund_accepted(data)

    def refund_query(self, *, out_refund_no: str) -> RefundStatus:
        """``GET /v3/refund/domestic/refunds/{out_refund_no}``: v3 asks per refund, not per order."""
        path = "/v3/refund/domestic/refunds/" + self._segment(out_refund_no, "out_refund_no")
        return results.refund_status(self._call("GET", path, names={"RESOURCE_NOT_EXISTS": "REFUNDNOTEXIST"}))

    def trade_bill(self, bill_date: date | str, bill_type: str = "ALL", gzip: bool = True) -> BillLink:
        """``GET /v3/bill/tradebill``; NoBill, BillNotReady as v2 (NO_STATEMENT_EXIST, STATEMENT_CREATING)."""
        if bill_type not in BILL_TYPES:
            raise ValueError(f"bill_type must be one of {', '.join(BILL_TYPES)}, not {bill_type!r}")
        day = _bill_day(bill_date)
        query = {"bill_date": day, "bill_type": bill_type}
        if gzip:
            query["tar_type"] = "GZIP"
        try:
            data = self._call("GET", "/v3/bill/tradebill", query=query)
        except V3BusinessError as exc:
            if exc.code == "NO_STATEMENT_EXIST":
                raise NoBill(exc.message or "No Bill Exist", exc.fields) from None
            if exc.code == "STATEMENT_CREATING":
                raise BillNotReady(exc.message or "Bill Creating", exc.fields) from None
            raise
        link = BillLink(
            hash_type=str(data.get("hash_type", "")),
            hash_value=str(data.get("hash_value", "")),
            download_url=str(data.get("download_url", "")),
        )
        if link.hash_type.upper() != "SHA1" or not link.hash_value or not link.download_url:
            raise InvalidField(f"/v3/bill/tradebill: unexpected answer {data!r}")
        return link

    def fetch_bill(self, link: BillLink) -> str:
        """Download the file (signed request, unsigned answer), gunzip, check its SHA1, decode."""
        target = urlsplit(link.download_url)
        if target.scheme not in ("http", "https") or not target.path.startswith("/v3/billdownload/"):
            raise InvalidField(f"download_url {link.download_url!r} is not a v3 bill download")
        answer = self._send("GET", link.download_url, b"", serial=self._preferred_serial())
        if answer.status != 200:
            if answer.headers.get("Wechatpay-Signature"):
                self.verifier.verify(answer.headers, answer.body, AnswerNotVerified)
            raise results.error(answer.status, answer.body, verified=False) if answer.status >= 400 else (
                TransportError(f"bill download: unexpected HTTP {answer.status}"))  # fmt: skip
        content = answer.body
        if content.startswith(b"\x1f\x8b"):
            try:
                content = gzip_module.decompress(content)
            except (OSError, EOFError, zlib.error) as exc:
                raise BillHashMismatch(f"the gzip bill is damaged ({exc})") from None
        digest = hashlib.sha1(content).hexdigest()  # WeChat's choice of hash, not ours
        if digest.lower() != link.hash_value.lower():
            raise BillHashMismatch(f"bill SHA1 {digest} is not the announced {link.hash_value}")
        try:
            return content.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise TransportError(f"the bill is not UTF-8 (byte {exc.start})") from None

    def download_bill(self, bill_date: date | str, bill_type: str = "ALL", gzip: bool = True) -> str:
        """v2's call: one day's bill text, hash-checked (read it with ``pos.wechatpay.bills.parse_bill``)."""
        return self.fetch_bill(self.trade_bill(bill_date, bill_type, gzip))

    def certificates(self) -> list[PlatformCertificate]:
        """``GET /v3/certificates``, decrypted with the APIv3 key; the answer is verified too.

        On a first download we trust no certificate yet: the certificates decrypt only with our
        APIv3 key, and the answer must then be signed by one of them (or a key we already hold).
        """
        url = self.api_base + "/v3/certificates"
        # No Wechatpay-Serial: a certificate we name may be the withdrawn one we are replacing, and
        # WeChat refuses a request naming a serial it does not know (as wechatpayv3 names none here).
        answer = self._send("GET", url, b"", serial=None)
        if answer.status != 200:
            raise results.error(answer.status, answer.body, verified=False) if answer.status >= 400 else (
                TransportError(f"/v3/certificates: unexpected HTTP {answer.status}"))  # fmt: skip
        found = read_certificates(results.load_json(answer.body, "/v3/certificates"), self.apiv3_key)
        bootstrap = self.verifier.copy()
        for certificate in found:
            bootstrap.add_certificate(certificate.pem)
        bootstrap.verify(answer.headers, answer.body, AnswerNotVerified)
        return found

    def refresh_certificates(self) -> list[PlatformCertificate]:
        """Download the platform certificates and trust them from now on (certificate mode)."""
        found = self.certificates()
        for certificate in found:
            self.verifier.add_certificate(certificate.pem)
        return found


def _bill_day(bill_date: date | str) -> str:
    """v3 wants ``yyyy-MM-dd``; v2's ``yyyyMMdd`` is accepted too."""
    if isinstance(bill_date, date):
        return bill_date.isoformat()
    text = bill_date.strip()
    if len(text) == 8 and text.isdigit():
        text = f"{text[:4]}-{text[4:6]}-{text[6:]}"
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise ValueError(f"bill_date must be a date, yyyy-MM-dd or yyyyMMdd, not {bill_date!r}") from None


def _code_of(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    return str(data.get("code", "")) if isinstance(data, dict) else ""
