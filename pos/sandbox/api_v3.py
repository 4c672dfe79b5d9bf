"""The v3 API paths, answering the way WeChat Pay API v3 answers (JSON, signed, HTTP statuses).

Every request passes the same gate before any business rule runs:

1. ``Accept`` and ``User-Agent`` present (else 400 ``INVALID_REQUEST``), a body of at most
   ``max_body`` bytes, a JSON object on POST;
2. ``Authorization: WECHATPAY2-SHA256-RSA2048 …`` well formed (400 ``INVALID_REQUEST``), our
   mchid (400 ``MCH_NOT_EXISTS``), the merchant certificate's serial (401 ``SIGN_ERROR``), a
   timestamp less than five minutes from real time or the simulator's clock (401
   ``SIGN_ERROR``), and a signature that matches the method, the raw path and query as
   received, the timestamp, the nonce and the raw body (401 ``SIGN_ERROR``, with WeChat's
   ``sign_information`` detail);
3. a ``Wechatpay-Serial`` on the request must name one of WeChat's keys (400
   ``INVALID_REQUEST``); the answer is then signed with that key, else with the one
   ``settings.v3_sign_with`` names.

``GET /v3/certificates`` lists every platform certificate (the current one and any a rotation
retired), each AES-GCM sealed with the APIv3 key, signed with the current one. ``POST
/_sim/v3/rotate`` (a test control, not WeChat's) makes a new one that signs from then on.

Answers — errors included — carry ``Request-ID`` and the ``Wechatpay-*`` signature headers,
except the bill file, which WeChat sends unsigned. ``Faults.v3_answer`` spoils them on purpose.

The ``calls`` fault switch (:mod:`pos.sandbox.callfaults`) spoils v3 calls as it spoils v2's,
by the same operation names (``unified_order`` is the Native order, ``download_bill`` the
trade bill): ``systemerror`` answers 500 ``{"code": "SYSTEM_ERROR", "message": "系统错误"}``
(signed, like every v3 error), ``timeout`` holds the answer; the ``_after`` kinds do the work
first. Only requests that pass the gate are spoiled (WeChat checks signatures first too).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import secrets
import time
import uuid
from collections.abc import Callable
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, request

from pos.log import get_logger
from pos.sandbox import bills, callfaults
from pos.sandbox.engine import Simulator
from pos.sandbox.engine_v3 import V3Error
from pos.sandbox.v3keys import rotate_platform
from pos.wechatpay.errors import SignatureError
from pos.wechatpay.v3 import crypto
from pos.wechatpay.v3.certificates import certificate_entry

log = get_logger(__name__)

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
MAX_SKEW = 300
BILL_URL_TTL = 300  # seconds of simulator clock a download_url stays good (current docs: 5 min)
# v3 view -> the operation name the ``calls`` fault switch uses (v2's, shared by both APIs).
OPERATIONS = {
    "native": "unified_order", "query_by_out_trade_no": "order_query", "query_by_id": "order_query",
    "close": "close_order", "refund": "refund", "refund_query": "refund_query",
    "trade_bill": "download_bill",
}  # fmt: skip


def _raw_target() -> str:
    """The path and query exactly as the client sent them: what its signature covers."""
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or ""
    if raw.startswith(("http://", "https://")):
        parts = urlsplit(raw)
        raw = parts.path + (f"?{parts.query}" if parts.query else "")
    if not raw:
        raw = request.full_path.rstrip("?")
    return raw


class GatewayV3:
    """Binds the v3 paths to the simulator's :class:`~pos.sandbox.engine_v3.V3Engine`."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.v3 = sim.v3
        self._bills: dict[str, tuple[bytes, bool, float]] = {}
        self.call_faults = callfaults.CallFaults()

    def register(self, app: Flask) -> None:
        routes: list[tuple[str, str, Callable[..., Any]]] = [
            ("/v3/pay/transactions/native", "POST", self.native),
            ("/v3/pay/transactions/out-trade-no/<no>", "GET", self.query_by_out_trade_no),
            ("/v3/pay/transactions/id/<tid>", "GET", self.query_by_id),
            ("/v3/pay/transactions/out-trade-no/<no>/close", "POST", self.close),
            ("/v3/refund/domestic/refunds", "POST", self.refund),
            ("/v3/refund/domestic/refunds/<no>", "GET", self.refund_query),
            ("/v3/bill/tradebill", "GET", self.trade_bill),
            ("/v3/billdownload/file", "GET", self.bill_file),
            ("/v3/certificates", "GET", self.certificates),
            ("/v3/<path:rest>", "", self.unknown),
        ]
        for path, method, view in routes:
            endpoint = "v3_" + view.__name__
            app.add_url_rule(path, endpoint, self._gate(method, view), methods=METHODS)
        app.add_url_rule("/_sim/v3/rotate", "sim_v3_rotate", self.rotate, methods=["POST"])

    def rotate(self) -> Response:
        """``POST /_sim/v3/rotate`` ``{"valid_days": N, "keep_old": true}``: a new platform certificate
        signs from now on, the old one stays listed unless ``keep_old`` is false (test control)."""
        data = request.get_json(silent=True)
        data = data if isinstance(data, dict) else {}
        days, keep_old = data.get("valid_days", 5 * 365), data.get("keep_old", True)
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 20 * 365:
            body = {"error": "bad_request", "message": "valid_days must be a whole number of days, 1 to 7300"}
            return Response(json.dumps(body), status=400, content_type="application/json")
        if not isinstance(keep_old, bool):
            body = {"error": "bad_request", "message": "keep_old must be true or false"}
            return Response(json.dumps(body), status=400, content_type="application/json")
        with self.sim.state.lock:
            self.v3.identity = rotate_platform(self.v3.identity, days, keep_old)
            ident = self.v3.identity
        retired = [serial for serial, _, _ in ident.retired_platform]
        body = {
            "platform_serial_no": ident.platform_serial_no,
            "platform_certificate": ident.platform_certificate,
            "retired_serial_nos": retired,
        }
        return Response(json.dumps(body), status=200, content_type="application/json")

    # -- the gate -----------------------------------------------------------------------------------

    def _gate(self, method: str, view: Callable[..., Any]) -> Callable[..., Response]:
        def handle(**args: str) -> Response:
            serial = None
            try:
                if method and request.method != method:
                    raise V3Error(405, "INVALID_REQUEST", f"请使用{method}方法")
                serial = self.authenticate()
                data = self._json() if request.method == "POST" else {}
                spoil = self._spoil(view.__name__)
                if spoil is not None and spoil.before:
                    self._fail(spoil)
                result = view(data, **args)
                if spoil is not None:
                    self._fail(spoil)  # the work is done; the merchant never learns it
            except V3Error as exc:
                log.info("v3_refused", path=request.path, code=exc.code, msg=exc.message)
                return self.answer(exc.status, exc.body(), serial)
            if isinstance(result, Response):
                return result
            return self.answer(204 if result is None else 200, result, serial)

        handle.__name__ = view.__name__
        return handle

    def _spoil(self, view: str) -> callfaults.Spoil | None:
        op = OPERATIONS.get(view)
        return None if op is None else self.call_faults.take(self.sim.settings.faults.calls, op)

    def _fail(self, spoil: callfaults.Spoil) -> None:
        """A spoiled call's end: held past the client's patience, or 500 ``SYSTEM_ERROR``.

        A held call still answers in the end (with its real answer if it did the work), as a
        slow gateway does; the merchant gave up long before.
        """
        log.info("call_fault", api="v3", path=request.path, before=spoil.before, hang=spoil.hang)
        if spoil.hang:
            callfaults.hang(self.sim.settings.faults.hang_seconds)
            if not spoil.before:
                return
        raise V3Error(500, "SYSTEM_ERROR", callfaults.SYSTEMERROR_DES)

    def authenticate(self) -> str | None:
        """Steps 1-3 of the module doc; returns the serial to sign the answer with."""
        ident = self.v3.identity
        if not request.headers.get("Accept") or not request.headers.get("User-Agent"):
            raise V3Error(400, "INVALID_REQUEST", "Http头缺少Accept或User-Agent")
        header = request.headers.get("Authorization", "")
        if not header:
            raise V3Error(401, "SIGN_ERROR", "Http头Authorization值为空")
        try:
            auth = crypto.parse_authorization(header)
        except SignatureError as exc:
            message = f"Http头Authorization值格式错误（{exc}），请参阅签名规则"
            raise V3Error(400, "INVALID_REQUEST", message) from None
        if auth.mchid != ident.mchid:
            raise V3Error(400, "MCH_NOT_EXISTS", "商户号不存在")
        if auth.serial_no.upper() != ident.merchant_serial_no:
            raise V3Error(401, "SIGN_ERROR", "商户证书序列号有误。请使用签名私钥匹配的证书序列号")
        stamp = auth.timestamp
        if not stamp.isdigit() or len(stamp) > 12:
            raise V3Error(401, "SIGN_ERROR", "签名中的时间戳格式错误（应为秒级Unix时间戳）")
        if min(abs(time.time() - int(stamp)), abs(self.sim.clock.now() - int(stamp))) >= MAX_SKEW:
            raise V3Error(401, "SIGN_ERROR", "签名中的时间戳与当前时间相差超过5分钟，请求已过期")
        max_body = self.sim.settings.max_body
        if request.content_length is not None and request.content_length > max_body:
            raise V3Error(400, "INVALID_REQUEST", f"请求体超过{max_body}字节")
        body = request.stream.read(max_body + 1)
        if len(body) > max_body:
            raise V3Error(400, "INVALID_REQUEST", f"请求体超过{max_body}字节")
        request.environ["pos.v3_body"] = body
        target = _raw_target()
        message = crypto.request_message(request.method, target, stamp, auth.nonce_str, body)
        if not crypto.rsa_verify(ident.merchant_key.public_key(), message, auth.signature):
            detail = {
                "field": "signature", "location": "authorization", "detail": {"issue": "sign not match"},
                "sign_information": {
                    "method": request.method, "url": target, "sign_message_length": len(message),
                    "truncated_sign_message": message[:200].decode("utf-8", "replace"),
                },
            }  # fmt: skip
            raise V3Error(401, "SIGN_ERROR", "错误的签名，验签失败", detail)
        serial = request.headers.get("Wechatpay-Serial")
        if serial is not None and ident.signing_key(serial) is None:
            raise V3Error(400, "INVALID_REQUEST", "Wechatpay-Serial对应的微信支付公钥或平台证书不存在")
        return serial

    def _json(self) -> dict[str, Any]:
        if "application/json" not in request.headers.get("Content-Type", ""):
            raise V3Error(400, "INVALID_REQUEST", "Content-Type必须为application/json")
        try:
            data = json.loads(request.environ["pos.v3_body"].decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise V3Error(400, "PARAM_ERROR", "请求体不是合法的UTF-8 JSON") from None
        if not isinstance(data, dict):
            raise V3Error(400, "PARAM_ERROR", "请求体必须是JSON对象")
        return data

    def answer(
        self, status: int, payload: Any, serial: str | None, *, sign_with: str | None = None
    ) -> Response:
        """A JSON answer signed like WeChat's (the ``v3_answer`` fault may spoil it on purpose)."""
        text = "" if payload is None else json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        body = text.encode()
        fault = self.sim.settings.faults.v3_answer
        headers, body = self.v3.signed_headers(body, sign_with or serial, fault)
        response = Response(body, status=status, content_type="application/json; charset=utf-8")
        response.headers.update(headers)
        response.headers["Request-ID"] = f"{uuid.uuid4().hex.upper()}-0"
        return response

    def _mchid(self) -> None:
        mchid = request.args.get("mchid", "")
        if not mchid:
            raise V3Error(400, "PARAM_ERROR", "参数错误：缺少mchid", {"field": "mchid", "location": "query"})
        if mchid != self.v3.identity.mchid:
            raise V3Error(400, "INVALID_REQUEST", "mchid与请求头中的商户号不一致")

    # -- the operations ------------------------------------------------------------------------------

    def native(self, data: dict[str, Any]) -> dict[str, Any]:
        return self.v3.native_order(data)

    def query_by_out_trade_no(self, data: dict[str, Any], no: str) -> dict[str, Any]:
        self._mchid()
        return self.v3.query(out_trade_no=no)

    def query_by_id(self, data: dict[str, Any], tid: str) -> dict[str, Any]:
        self._mchid()
        return self.v3.query(transaction_id=tid)

    def close(self, data: dict[str, Any], no: str) -> None:
        self.v3.close(no, data)

    def refund(self, data: dict[str, Any]) -> dict[str, Any]:
        return self.v3.refund(data)

    def refund_query(self, data: dict[str, Any], no: str) -> dict[str, Any]:
        return self.v3.refund_query(no)

    def certificates(self, data: dict[str, Any]) -> Response:
        ident = self.v3.identity
        payload = {"data": [certificate_entry(pem, ident.apiv3_key) for pem in ident.platform_certificates()]}
        return self.answer(200, payload, None, sign_with=ident.platform_serial_no)

    def unknown(self, data: dict[str, Any], rest: str) -> None:
        raise V3Error(404, "NOT_FOUND", "请求的资源不存在（模拟器不提供此接口）")

    # -- bills ---------------------------------------------------------------------------------------

    def trade_bill(self, data: dict[str, Any]) -> dict[str, Any]:
        args = request.args
        try:
            day = date.fromisoformat(args.get("bill_date", ""))
        except ValueError:
            raise V3Error(400, "PARAM_ERROR", "参数错误：bill_date格式应为yyyy-MM-dd",
                          {"field": "bill_date", "location": "query"}) from None  # fmt: skip
        bill_type = args.get("bill_type") or "ALL"
        tar_type = args.get("tar_type", "")
        if bill_type not in bills.BILL_TYPES or tar_type not in ("", "GZIP"):
            raise V3Error(400, "PARAM_ERROR", "参数错误：bill_type或tar_type取值不正确")
        sim = self.sim
        now = sim.clock.beijing()
        if sim.settings.bill_creating and now < bills.ready_at(day) and day <= now.date():
            raise V3Error(400, "STATEMENT_CREATING", "账单生成中")
        with sim.state.lock:
            orders = [o for o in sim.state.orders.values() if not o.sandbox]
            rows = [] if bill_type == "RECHARGE_REFUND" else bills.rows_for(orders, day, bill_type)
        if not rows or day > now.date():
            raise V3Error(400, "NO_STATEMENT_EXIST", "账单文件不存在")
        text = bills.render(rows, bill_type).encode("utf-8")
        token = secrets.token_urlsafe(24)
        with sim.state.lock:
            expired = [t for t, (_, _, until) in self._bills.items() if until <= sim.clock.now()]
            for old in expired:
                del self._bills[old]
            content = gzip.compress(text) if tar_type == "GZIP" else text
            self._bills[token] = (content, tar_type == "GZIP", sim.clock.now() + BILL_URL_TTL)
        return {
            "hash_type": "SHA1",
            "hash_value": hashlib.sha1(text).hexdigest(),  # WeChat's hash, over the uncompressed file
            "download_url": request.host_url.rstrip("/") + "/v3/billdownload/file?token=" + token,
        }

    def bill_file(self, data: dict[str, Any]) -> Response:
        with self.sim.state.lock:
            found = self._bills.get(request.args.get("token", ""))
        if found is None or found[2] <= self.sim.clock.now():
            raise V3Error(400, "INVALID_REQUEST", "下载链接已失效，请重新申请账单下载地址")
        content, gzipped, _ = found
        kind = "application/x-gzip" if gzipped else "text/plain; charset=utf-8"
        return Response(content, status=200, content_type=kind)  # unsigned, as WeChat sends it
