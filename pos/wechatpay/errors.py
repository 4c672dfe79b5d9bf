"""One exception tree for everything that can go wrong talking WeChat Pay v2.

Catch :class:`WeChatPayError` for all of it, or a branch for what you can act on::

    WeChatPayError
    ├── TransportError          no usable answer: network, TLS, an HTTP status other than 200
    │   └── TransportTimeout    no answer in time: the call's outcome is unknown
    ├── MessageError            a message we cannot read or must not believe
    │   ├── XmlError            the body is not a flat, safe, UTF-8 <xml> document
    │   │   ├── BodyTooLarge
    │   │   ├── NotUtf8
    │   │   ├── ForbiddenMarkup DOCTYPE / ENTITY (XXE, billion laughs)
    │   │   ├── NestedElement
    │   │   └── MalformedXml
    │   ├── SignatureError      missing or wrong `sign`
    │   │   └── SignTypeMismatch names another sign_type than its order's
    │   ├── WrongMerchant       appid/mch_id are not ours (a message meant for someone else)
    │   ├── InvalidField        a field we need is missing or not of its type (total_fee="1.00")
    │   ├── DecryptError        a refund notice's req_info does not decrypt with our key
    │   ├── BadBizPayUrl        not a signed mode-one weixin://wxpay/bizpayurl link
    │   └── BillFormatError     a downloadbill text we cannot read (names the line)
    ├── ProtocolFail            return_code=FAIL: WeChat refused the request itself
    │   ├── NoBill              downloadbill: "No Bill Exist" / 20002, nothing was paid that day
    │   └── BillNotReady        downloadbill: "Bill Creating", ask again after 10:00 next day
    ├── BusinessError           result_code=FAIL: carries err_code and err_code_des
    │   └── PaymentDeclined     micropay: a definite failure (AUTH_CODE_INVALID, NOTENOUGH...)
    └── OutcomeUnknown          micropay: USERPAYING, SYSTEMERROR, BANKERROR, a timeout or an
                                unreadable answer; the customer may be charged: query, then reverse

API v3 adds a few leaves to the same tree (see :mod:`pos.wechatpay.v3`):

    TransportError
    ├── AnswerNotVerified       also a SignatureError: a v3 answer whose Wechatpay-Signature is
    │                           missing, wrong, stale or a WECHATPAY/SIGNTEST/ probe; WeChat may
    │                           have acted, so the outcome is unknown: query before deciding
    └── BillHashMismatch        the downloaded v3 bill's SHA1 is not the hash WeChat announced
    MessageError
    ├── SignatureError
    │   └── NoticeNotVerified   a v3 notice whose headers' signature fails (answer it 4xx/5xx)
    ├── DecryptError            also a v3 `resource` that does not decrypt with the APIv3 key
    └── MalformedJson           a v3 body that is not a JSON object
    ProtocolFail
    └── V3Refusal               a v3 error answer about the request itself (PARAM_ERROR,
                                INVALID_REQUEST, SIGN_ERROR...): status, code, message, detail
    BusinessError
    └── V3BusinessError         a v3 business error (ORDER_PAID...): err_code is the v2 name of
                                the same condition where there is one, so one handler serves both

A caller that retries must look at the branch: only a TransportError (or a
BusinessError whose err_code is SYSTEMERROR) leaves the outcome unknown. The
client already re-sends the identical request on connection errors, timeouts
and HTTP 5xx (see :mod:`pos.wechatpay.client`); every other error is an answer.
"""

from __future__ import annotations

from collections.abc import Mapping


class WeChatPayError(Exception):
    """Base of every error raised by :mod:`pos.wechatpay`."""


class TransportError(WeChatPayError):
    """The HTTP exchange failed; WeChat may or may not have acted on the request."""


class TransportTimeout(TransportError):
    """WeChat did not answer within the call's timeout."""


class MessageError(WeChatPayError):
    """A message (request, response or notice) that cannot be read or trusted."""


class XmlError(MessageError):
    """The body is not a flat, safe, UTF-8 ``<xml>`` document."""


class BodyTooLarge(XmlError):
    """The body is over the size limit (64 KiB by default)."""


class NotUtf8(XmlError):
    """The body is not UTF-8 (WeChat's ``NOT_UTF8``)."""


class ForbiddenMarkup(XmlError):
    """A DOCTYPE or ENTITY declaration: never legitimate in WeChat Pay v2, often an attack."""


class NestedElement(XmlError):
    """An element inside a field: v2 messages are flat."""


class MalformedXml(XmlError):
    """Not well-formed XML, or a root other than ``<xml>``."""


class SignatureError(MessageError):
    """The ``sign`` is missing or does not match the message."""


class SignTypeMismatch(SignatureError):
    """The message names another ``sign_type`` than the one its order was signed with: a message
    does not choose the algorithm it is checked with (a downgrade would otherwise be free)."""


class WrongMerchant(MessageError):
    """The message names another appid or mch_id than ours."""


class InvalidField(MessageError):
    """A field is missing or cannot be read as its type (an amount, a time)."""


class DecryptError(MessageError):
    """A refund notice's ``req_info`` (v2) or a notice's ``resource`` (v3) does not decrypt with our key."""


class BadBizPayUrl(MessageError):
    """A QR payload that is not a well-formed, correctly signed mode-one ``bizpayurl``."""


class BillFormatError(MessageError):
    """The downloadbill text does not have the layout we know; the message names the line."""


class ProtocolFail(WeChatPayError):
    """``return_code=FAIL``: WeChat refused the request (bad signature, bad parameters...)."""

    def __init__(self, return_msg: str, fields: Mapping[str, str] | None = None) -> None:
        super().__init__(return_msg or "return_code=FAIL")
        self.return_msg = return_msg
        self.fields = dict(fields or {})


class BusinessError(WeChatPayError):
    """``result_code=FAIL``: the request was understood and the business answer is no."""

    def __init__(self, err_code: str, err_code_des: str, fields: Mapping[str, str] | None = None):
        super().__init__(f"{err_code}: {err_code_des}" if err_code_des else err_code)
        self.err_code = err_code
        self.err_code_des = err_code_des
        self.fields = dict(fields or {})


class PaymentDeclined(BusinessError):
    """A micropay answer that settles it: no money moved (expired or used code, no balance...)."""


class OutcomeUnknown(WeChatPayError):
    """A micropay whose outcome is not known: ``reason`` is USERPAYING, SYSTEMERROR, BANKERROR,
    TIMEOUT or TRANSPORT (any unreadable or unsigned answer). Never a failure on its own: query
    the order until it settles, and reverse it if it has not by the deadline."""

    def __init__(self, reason: str, detail: str = "", fields: Mapping[str, str] | None = None) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
        self.fields = dict(fields or {})


class NoBill(ProtocolFail):
    """downloadbill answered "No Bill Exist" (error_code 20002): no trade that day, not a failure."""


class BillNotReady(ProtocolFail):
    """downloadbill answered "Bill Creating": WeChat builds bills from 09:00 the next day."""


# -- API v3 ---------------------------------------------------------------------------------------


class AnswerNotVerified(SignatureError, TransportError):
    """A v3 answer we cannot believe (bad, stale, probe or missing signature).

    Both a :class:`SignatureError` (what is wrong) and a :class:`TransportError` (what it means
    for the caller): WeChat may or may not have acted on the request, so query before deciding.
    """


class NoticeNotVerified(SignatureError):
    """A v3 notice whose ``Wechatpay-*`` headers do not prove it came from WeChat, or came late."""


class BillHashMismatch(TransportError):
    """The v3 bill file's SHA1 differs from ``hash_value``: damaged on the way; download it again."""


class MalformedJson(MessageError):
    """A v3 body that is not a UTF-8 JSON object."""


class V3Refusal(ProtocolFail):
    """A v3 error answer about the request itself (HTTP 4xx with a common ``code``)."""

    def __init__(
        self, status: int, code: str, message: str, detail: object = None, verified: bool = True
    ) -> None:
        super().__init__(f"HTTP {status} {code}: {message}", {"code": code, "message": message})
        self.status = status
        self.code = code
        self.message = message
        self.detail = detail
        self.verified = verified


class V3BusinessError(BusinessError):
    """A v3 business error. ``code`` is v3's spelling, ``err_code`` v2's where one exists.

    ``verified`` is False when the error answer carried no signature at all (WeChat does not
    promise to sign error answers); a caller about to act on it (ORDER_PAID) should query first.
    """

    def __init__(
        self, status: int, code: str, message: str, err_code: str, detail: object = None,
        verified: bool = True,
    ) -> None:  # fmt: skip
        super().__init__(err_code, message, {"code": code, "message": message})
        self.status = status
        self.code = code
        self.message = message
        self.detail = detail
        self.verified = verified
