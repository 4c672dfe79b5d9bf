"""The listener's Flask app: WeChat's endpoints and a health check, nothing else.

    POST /wechatpay/notify           payment notices (see :mod:`pos.listener.notify`)
    POST /wechatpay/native-callback  mode-one scan callbacks (see :mod:`pos.listener.modeone`)
    POST /wechatpay/refund-notify    refund notices (see :mod:`pos.listener.refunds`)
    GET  /healthz                    "ok" while the ledger answers, 503 when it does not

With ``[merchant] api = "v3"`` the two notice paths take v3's signed, encrypted JSON instead
(see :mod:`pos.listener.v3`); mode one stays v2.

It faces the internet, so it is small on purpose: no static files, no sessions,
no debug pages; every other path and method is a plain 404; an error inside a
handler is logged as one line and answered with a short generic body, never a
traceback. Bodies are capped at ``[listener] max_body`` before they are read
in full (Content-Length first, then a bounded read for bodies without one).

``POST /wechatpay/notify`` is the one path under load (WeChat's notices and their
repeats), and Flask's request and response objects cost about as much CPU as the
whole of a repeat's handling. So :class:`NotifyRoute`, a few lines of plain WSGI
in front of Flask (``app.wsgi_app``), answers exactly that method and path with
the same :class:`~pos.listener.notify.PaymentNotices` handler, the same limits,
replies and log lines; every other request, and any notify request it does not
recognise as ordinary (an unreadable Content-Length), goes to the Flask app.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, Response, request
from sqlalchemy import text
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from pos.config import Config
from pos.ledger import Ledger
from pos.listener.errors import ListenerError
from pos.listener.modeone import ScanCallbacks
from pos.listener.notify import MSG_BUSY, MSG_TOO_LARGE, PaymentNotices
from pos.listener.refunds import RefundNotices
from pos.listener.reply import XML, Reply
from pos.listener.v3 import V3Notices, as_v3
from pos.log import get_logger
from pos.orders import Checkout
from pos.wechatpay import WeChatPayClient, notices

log = get_logger("pos.listener.app")

# The mode-one callback must be answered within WeChat's few seconds, unified order included.
CALLBACK_ORDER_TIMEOUT = 3.0


class TooLarge(ListenerError):
    """The body is over the limit; raised before the rest of it is read."""


def read_body(limit: int) -> bytes:
    """The request body, refusing more than ``limit`` bytes without reading them all."""
    length = request.content_length
    if length is not None and length > limit:
        raise TooLarge
    stream = request.stream
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = stream.read(min(65536, limit + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        raise TooLarge
    return b"".join(chunks)


def _respond(reply: Reply) -> Response:
    return Response(reply.body, status=reply.status, mimetype=reply.content_type)


def _remote() -> str:
    return request.remote_addr or "-"


NOTIFY_PATH = "/wechatpay/notify"
_XML_CONTENT_TYPE = "text/xml; charset=utf-8"  # what Flask's Response(mimetype="text/xml") sends


class NotifyRoute:
    """WSGI middleware: ``POST /wechatpay/notify`` answered without Flask, everything else passed on.

    It does what the Flask route does, step for step: refuse a body over ``limit`` (413, FAIL XML,
    a ``notice_rejected reason=too_large`` line) before reading it all, hand the bytes to
    ``payments.handle`` and send its :class:`Reply`; an unexpected error is one ``listener_error``
    line and a FAIL (500) without a traceback, as the app's error handler does.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]], payments: PaymentNotices, limit: int) -> None:
        self.app = app
        self.payments = payments
        self.limit = limit

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != NOTIFY_PATH or environ.get("REQUEST_METHOD") != "POST":
            return self.app(environ, start_response)
        length_header = environ.get("CONTENT_LENGTH") or ""
        if length_header and not (length_header.isascii() and length_header.isdigit()):
            return self.app(environ, start_response)  # odd framing: Flask's stricter handling decides
        remote = environ.get("REMOTE_ADDR") or "-"
        try:
            reply = self._handle(environ, int(length_header) if length_header else None, remote)
        except Exception as exc:
            log.error("listener_error", path=NOTIFY_PATH, error=type(exc).__name__)
            reply = Reply(notices.fail_reply(MSG_BUSY), status=500)
        status = reply.status
        content_type = _XML_CONTENT_TYPE if reply.content_type == XML else reply.content_type
        start_response(
            f"{status} {HTTP_STATUS_CODES[status].upper()}",  # as Werkzeug spells it
            [("Content-Type", content_type), ("Content-Length", str(len(reply.body)))],
        )
        return [reply.body]

    def _handle(self, environ: dict[str, Any], length: int | None, remote: str) -> Reply:
        body = _read_limited(environ["wsgi.input"], length, self.limit, environ)
        if body is None:
            log.warning("notice_rejected", reason="too_large", remote=remote, size=length)
            return Reply(notices.fail_reply(MSG_TOO_LARGE), status=413, verdict="too_large")
        return self.payments.handle(body, remote=remote)


def _read_limited(stream: Any, length: int | None, limit: int, environ: dict[str, Any]) -> bytes | None:
    """The body, or None when it is over ``limit`` (refused by Content-Length before any is read)."""
    if length is not None:
        if length > limit:
            return None
        remaining = length
    elif environ.get("wsgi.input_terminated"):
        remaining = limit + 1  # read to the end, but never more than one byte past the limit
    else:
        return b""  # no length and no end marker: like Werkzeug, read nothing rather than block
    chunks: list[bytes] = []
    size = 0
    while remaining > 0:
        chunk = stream.read(min(65536, remaining))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        remaining -= len(chunk)
    if size > limit:
        return None
    return b"".join(chunks)


def create_app(config: Config, ledger: Ledger, *, checkout: Checkout | None = None) -> Flask:
    """The listener for ``config`` on ``ledger``. ``checkout`` rings up mode-one sales; by default a
    :class:`~pos.orders.Checkout` over a WeChat Pay client built from ``[merchant]`` with a short
    timeout and one order attempt, so the reply still reaches WeChat in time."""
    app = Flask(__name__, static_folder=None)
    app.config.update(
        DEBUG=False,
        TESTING=False,
        PROPAGATE_EXCEPTIONS=False,
        TRAP_HTTP_EXCEPTIONS=False,
        MAX_CONTENT_LENGTH=config.listener.max_body,
    )
    limit = config.listener.max_body
    payments = PaymentNotices(config, ledger)
    if checkout is None:
        client = WeChatPayClient.from_config(
            config.merchant, timeout=min(config.merchant.timeout, CALLBACK_ORDER_TIMEOUT), retries=1
        )
        checkout = Checkout(ledger, client, config, order_attempts=1)
    callbacks = ScanCallbacks(config, ledger, checkout)
    refunds = RefundNotices(config, ledger)
    # API v3 (``[merchant] api = "v3"``): the same two paths take v3's signed, encrypted JSON
    # instead of v2's XML (pos.listener.v3); a listener takes only the API it is configured for.
    v3 = V3Notices(config, payments, refunds) if config.merchant.api == "v3" else None

    def fail(message: str, status: int, verdict: str = "") -> Reply:
        reply = Reply(notices.fail_reply(message), status=status, verdict=verdict)
        return as_v3(reply) if v3 else reply

    app.extensions["pos_listener"] = {
        "payments": payments,
        "callbacks": callbacks,
        "refunds": refunds,
        "ledger": ledger,
    }

    @app.post("/wechatpay/notify", provide_automatic_options=False)
    def notify() -> Response:
        try:
            body = read_body(limit)
        except TooLarge:
            log.warning("notice_rejected", reason="too_large", remote=_remote(), size=request.content_length)
            return _respond(fail(MSG_TOO_LARGE, 413, "too_large"))
        if v3:
            return _respond(v3.payment(request.headers, body, remote=_remote()))
        return _respond(payments.handle(body, remote=_remote()))

    @app.post("/wechatpay/native-callback", provide_automatic_options=False)
    def native_callback() -> Response:
        try:
            body = read_body(limit)
        except TooLarge:
            log.warning("callback_rejected", reason="too_large", remote=_remote())
            return _respond(Reply(notices.fail_reply(MSG_TOO_LARGE), status=413, verdict="too_large"))
        return _respond(callbacks.handle(body, remote=_remote()))

    @app.post("/wechatpay/refund-notify", provide_automatic_options=False)
    def refund_notify() -> Response:
        try:
            body = read_body(limit)
        except TooLarge:
            log.warning("refund_notice_rejected", reason="too_large", remote=_remote())
            return _respond(fail(MSG_TOO_LARGE, 413, "too_large"))
        if v3:
            return _respond(v3.refund(request.headers, body, remote=_remote()))
        return _respond(refunds.handle(body, remote=_remote()))

    @app.get("/healthz", provide_automatic_options=False)
    def healthz() -> Response:
        try:
            with ledger.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception as exc:
            log.error("healthz_failed", error=type(exc).__name__)
            return Response("database unavailable\n", status=503, mimetype="text/plain")
        return Response("ok\n", mimetype="text/plain")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        if exc.code == 413:
            return _respond(fail(MSG_TOO_LARGE, 413))
        # Unknown paths and methods alike: say nothing about what is here.
        return Response("not found\n", status=404, mimetype="text/plain")

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        # One line, no traceback, no request body: the body may be hostile and the
        # exception text may quote it. WeChat retries on FAIL, so nothing is lost.
        log.error("listener_error", path=request.path, error=type(exc).__name__)
        if request.path.startswith("/wechatpay/"):
            return _respond(fail(MSG_BUSY, 500))
        return Response("internal error\n", status=500, mimetype="text/plain")

    if v3 is None:  # the fast path reads v2's XML bodies only (v3 needs the signature headers)
        app.wsgi_app = NotifyRoute(app.wsgi_app, payments, limit)  # type: ignore[method-assign]
    return app
