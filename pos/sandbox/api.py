"""The v2 API paths, under ``/`` and ``/sandboxnew/``, answering the way WeChat answers.

Each request goes through the same gate before any business rule runs:

1. POST only (``请使用post方法``), a body (``post数据为空``), at most ``max_body`` bytes,
   UTF-8 (``编码格式错误``), a flat ``<xml>`` with no DOCTYPE (``XML格式错误``);
2. our ``mch_id`` (``商户号mch_id或sub_mch_id不存在``), a known ``sign_type``, and a right
   ``sign`` under that type (``签名错误``), signed with the API key or, under
   ``/sandboxnew/``, with the sandbox key from ``getsignkey`` (MD5 only);
3. then the business rules in :mod:`pos.sandbox.engine`.

Failures of 1-2 are ``return_code=FAIL`` + ``return_msg`` with no ``result_code``;
business answers carry ``result_code`` and are signed with the request's sign type.
Whatever the body, the answer is WeChat-shaped XML with HTTP 200, never a 500.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Mapping
from urllib.parse import unquote

from flask import Flask, Response, request

from pos.log import get_logger
from pos.sandbox import bills, callfaults, ids
from pos.sandbox.engine import Simulator
from pos.sandbox.errors import Refused, Rejected
from pos.wechatpay import sign as signing
from pos.wechatpay import xmlcodec
from pos.wechatpay.errors import NotUtf8, XmlError

log = get_logger(__name__)

SANDBOX_PREFIX = "/sandboxnew"
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
# path -> engine operation (the sandbox serves the same paths under /sandboxnew/).
PATHS: dict[str, str] = {
    "/pay/unifiedorder": "unified_order",
    "/pay/orderquery": "order_query",
    "/pay/closeorder": "close_order",
    "/secapi/pay/refund": "refund",
    "/pay/refundquery": "refund_query",
    "/pay/downloadbill": "download_bill",
    "/tools/shorturl": "short_url",
    "/pay/micropay": "micropay",
    "/secapi/pay/reverse": "reverse",
}
SANDBOX_ONLY: dict[str, str] = {
    "/pay/getsignkey": "get_sign_key",
    "/pay/refund": "refund",  # gopay's sandbox refund path (no secapi)
}
XML_TYPE = "text/xml; charset=utf-8"
_SANDBOX_SIGN_MSG = "沙箱验证签名失败，请确认沙箱签名key是否正确（通过getsignkey调用生成）"


def xml_response(fields: Mapping[str, str]) -> Response:
    return Response(xmlcodec.encode_as_wechat(fields), status=200, content_type=XML_TYPE)


def refusal(exc: Refused) -> Response:
    log.info("refused", code=exc.err_code, msg=exc.return_msg, path=request.path)
    return xml_response({"return_code": "FAIL", "return_msg": exc.return_msg})


def read_fields(max_body: int) -> dict[str, str]:
    """The request's fields, or :class:`Refused` with WeChat's transport-level complaint."""
    if request.method != "POST":
        raise Refused("REQUIRE_POST_METHOD", "请使用post方法")
    if request.content_length is not None and request.content_length > max_body:
        raise Refused("XML_FORMAT_ERROR", f"XML格式错误（报文超过{max_body}字节）")
    body = request.stream.read(max_body + 1)
    if not body.strip():
        raise Refused("POST_DATA_EMPTY", "post数据为空")
    try:
        return xmlcodec.decode(body, max_bytes=max_body)
    except NotUtf8:
        raise Refused("NOT_UTF8", "编码格式错误") from None
    except XmlError as exc:
        raise Refused("XML_FORMAT_ERROR", f"XML格式错误（{exc}）") from None


class Gateway:
    """Binds the API paths to one :class:`Simulator`."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.call_faults = callfaults.CallFaults()

    def register(self, app: Flask) -> None:
        for path, op in PATHS.items():
            self._route(app, path, op, sandbox=False)
            self._route(app, SANDBOX_PREFIX + path, op, sandbox=True)
        for path, op in SANDBOX_ONLY.items():
            self._route(app, SANDBOX_PREFIX + path, op, sandbox=True)

    def _route(self, app: Flask, path: str, op: str, sandbox: bool) -> None:
        def view() -> Response:
            return self.handle(op, sandbox)

        endpoint = ("sandbox_" if sandbox else "api_") + path.strip("/").replace("/", "_")
        app.add_url_rule(path, endpoint, view, methods=METHODS)

    # -- the gate ---------------------------------------------------------------------------------

    def handle(self, op: str, sandbox: bool) -> Response:
        settings = self.sim.settings
        try:
            fields = read_fields(settings.max_body)
            if op == "get_sign_key":
                return self.get_sign_key(fields)
            sign_type = self.authenticate(fields, sandbox, op)
        except Refused as exc:
            if op == "download_bill":
                return _bill_fail(exc.return_msg, "20001")
            return refusal(exc)
        spoil = self.call_faults.take(settings.faults.calls, op)
        if spoil is not None:
            return self._spoiled(op, spoil, fields, sandbox, sign_type)
        return self._answer(op, fields, sandbox, sign_type)

    def _spoiled(
        self, op: str, spoil: callfaults.Spoil, fields: dict[str, str], sandbox: bool, sign_type: str
    ) -> Response:
        """A call under a fault switch: maybe do the work, then SYSTEMERROR or a held answer."""
        answer = None if spoil.before else self._answer(op, fields, sandbox, sign_type)
        log.info("call_fault", op=op, before=spoil.before, hang=spoil.hang)
        if spoil.hang:
            callfaults.hang(self.sim.settings.faults.hang_seconds)
            if answer is not None:
                return answer
        if op == "download_bill":
            return _bill_fail("SYSTEMERROR", "20007")  # UNVERIFIED: the numeric code WeChat pairs with it
        settings = self.sim.settings
        failed = {
            "return_code": "SUCCESS",
            "return_msg": "OK",
            "appid": settings.appid,
            "mch_id": settings.mch_id,
            "nonce_str": ids.nonce(),
            **callfaults.systemerror_fields(),
        }
        return xml_response(signing.signed(failed, self.sim.key(sandbox), sign_type))

    def _answer(self, op: str, fields: dict[str, str], sandbox: bool, sign_type: str) -> Response:
        settings = self.sim.settings
        if op == "download_bill":
            return self.download_bill(fields, sandbox)
        operation: Callable[..., dict[str, str]] = getattr(self, "_op_" + op, None) or getattr(self.sim, op)
        answer = {
            "return_code": "SUCCESS",
            "return_msg": "OK",
            "appid": settings.appid,
            "mch_id": settings.mch_id,
            "nonce_str": ids.nonce(),
        }
        try:
            if fields.get("appid") and fields["appid"] != settings.appid:
                raise Rejected("APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配")
            if op == "unified_order":
                business = self.sim.unified_order(fields, sandbox, sign_type)
            else:
                business = operation(fields, sandbox)
            answer.update(result_code="SUCCESS", **business)
        except Rejected as exc:
            log.info("rejected", op=op, err_code=exc.err_code, des=exc.err_code_des)
            answer.update(result_code="FAIL", err_code=exc.err_code, err_code_des=exc.err_code_des)
            answer.update(getattr(exc, "extra", {}))  # reverse's recall
        return xml_response(signing.signed(answer, self.sim.key(sandbox), sign_type))

    def authenticate(self, fields: dict[str, str], sandbox: bool, op: str) -> str:
        """Check merchant and signature; returns the sign type to answer with."""
        settings = self.sim.settings
        if not fields.get("mch_id"):
            raise Refused("LACK_PARAMS", "缺少参数mch_id")
        if fields["mch_id"] != settings.mch_id:
            raise Refused("MCHID_NOT_EXIST", "商户号mch_id或sub_mch_id不存在")
        sign_type = fields.get("sign_type") or signing.MD5
        if sign_type not in signing.SIGN_TYPES:
            raise Refused("INVALID_REQUEST", "sign_type参数错误（只能是MD5或HMAC-SHA256）")
        key = self.sim.key(sandbox)
        if sandbox and sign_type != signing.MD5:
            raise Refused("SIGNERROR", _SANDBOX_SIGN_MSG)
        valid = signing.is_valid(fields, key, sign_type)
        if not valid and op == "short_url" and "long_url" in fields:
            # "签名用原串，传输需URLencode": the sign covers the decoded long_url.
            decoded = dict(fields, long_url=unquote(fields["long_url"]))
            valid = signing.is_valid(decoded, key, sign_type)
            if valid:
                fields["long_url"] = decoded["long_url"]
        if not valid:
            raise Refused("SIGNERROR", _SANDBOX_SIGN_MSG if sandbox else "签名错误")
        return sign_type

    # -- operations that need more than the engine ---------------------------------------------------

    def _op_short_url(self, fields: Mapping[str, str], sandbox: bool) -> dict[str, str]:
        from pos.sandbox import validate

        validate.check(fields, validate.SHORT_URL)
        long_url = unquote(fields["long_url"]) if "%" in fields["long_url"] else fields["long_url"]
        return self.sim.short_url(long_url)

    def _op_micropay(self, fields: Mapping[str, str], sandbox: bool) -> dict[str, str]:
        return self.sim.paycodes.micropay(fields, sandbox)

    def _op_reverse(self, fields: Mapping[str, str], sandbox: bool) -> dict[str, str]:
        return self.sim.paycodes.reverse(fields, sandbox)

    def get_sign_key(self, fields: dict[str, str]) -> Response:
        settings = self.sim.settings
        if not fields.get("mch_id"):
            raise Refused("LACK_PARAMS", "缺少参数mch_id")
        if fields["mch_id"] != settings.mch_id:
            raise Refused("MCHID_NOT_EXIST", "商户号mch_id或sub_mch_id不存在")
        if not signing.is_valid(fields, settings.api_key, signing.MD5):
            raise Refused("SIGNERROR", "签名错误")
        return xml_response(
            {
                "return_code": "SUCCESS",
                "return_msg": "ok",
                "mch_id": settings.mch_id,
                "sandbox_signkey": settings.sandbox_key,
            }
        )

    def download_bill(self, fields: Mapping[str, str], sandbox: bool) -> Response:
        settings = self.sim.settings
        if fields.get("appid") != settings.appid:
            return _bill_fail("appid和mch_id不匹配" if fields.get("appid") else "missing parameter", "20001")
        bill_date = fields.get("bill_date", "")
        bill_type = fields.get("bill_type") or "ALL"
        tar_type = fields.get("tar_type", "")
        if not bill_date:
            return _bill_fail("missing parameter", "20001")
        try:
            day = bills.bill_day(bill_date)
        except ValueError:
            return _bill_fail("data format error", "20001")
        if bill_type not in bills.BILL_TYPES:
            return _bill_fail("invalid bill_type", "20001")
        if tar_type not in ("", "GZIP"):
            return _bill_fail("invalid tar_type", "20001")
        now = self.sim.clock.beijing()
        if settings.bill_creating and now < bills.ready_at(day) and day <= now.date():
            # UNVERIFIED: the numeric error_code WeChat pairs with "Bill Creating".
            return _bill_fail("Bill Creating", "20003")
        with self.sim.state.lock:
            orders = [o for o in self.sim.state.orders.values() if o.sandbox == sandbox]
            rows = [] if bill_type == "RECHARGE_REFUND" else bills.rows_for(orders, day, bill_type)
        if not rows or day > now.date():
            return _bill_fail("No Bill Exist", "20002")
        text = bills.render(rows, bill_type).encode("utf-8")
        if tar_type == "GZIP":
            return Response(gzip.compress(text), content_type="application/x-gzip")
        return Response(text, content_type="text/plain; charset=utf-8")


def _bill_fail(message: str, error_code: str) -> Response:
    return xml_response({"return_code": "FAIL", "return_msg": message, "error_code": error_code})
