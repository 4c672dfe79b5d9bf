"""The listener's Flask app: WeChat's endpoints and a health check, nothing else.

    POST /wechatpay/notify           payment notices (see :mod:`pos.listener.notify`)
    POST /wechatpay/native-callback  mode-one scan callbacks (see :mod:`pos.listener.modeone`)
    POST /wechatpay/refund-notify    refund notices (see :mod:`pos.listener.refunds`)
    GET  /healthz                    "ok" while the ledger answers, 503 when it does not

It faces the internet, so it is small on purpose: no static files, no sessions,
no debug pages; every other path and method is a plain 404; an error inside a
handler is logged as one line and answered with a short generic body, never a
traceback. Bodies are capped at ``[listener] max_body`` before they are read
in full (Content-Length first, then a bounded read for bodies without one).
"""

from __future__ import annotations

import logging

from flask import Flask, Response, request
from sqlalchemy import text
from werkzeug.exceptions import HTTPException

from pos.config import Config
from pos.ledger import Ledger
from pos.listener.modeone import ScanCallbacks
from pos.listener.notify import MSG_BUSY, MSG_TOO_LARGE, PaymentNotices
from pos.listener.refunds import RefundNotices
from pos.listener.reply import Reply, log_event
from pos.orders import Checkout
from pos.wechatpay import WeChatPayClient, notices

log = logging.getLogger("pos.listener.app")

# The mode-one callback must be answered within WeChat's few seconds, unified order included.
CALLBACK_ORDER_TIMEOUT = 3.0


class TooLarge(Exception):
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
            log_event(log, logging.WARNING, "notice_rejected", reason="too_large", remote=_remote(),
                      size=request.content_length)  # fmt: skip
            return _respond(Reply(notices.fail_reply(MSG_TOO_LARGE), status=413, verdict="too_large"))
        return _respond(payments.handle(body, remote=_remote()))

    @app.post("/wechatpay/native-callback", provide_automatic_options=False)
    def native_callback() -> Response:
        try:
            body = read_body(limit)
        except TooLarge:
            log_event(log, logging.WARNING, "callback_rejected", reason="too_large", remote=_remote())
            return _respond(Reply(notices.fail_reply(MSG_TOO_LARGE), status=413, verdict="too_large"))
        return _respond(callbacks.handle(body, remote=_remote()))

    @app.post("/wechatpay/refund-notify", provide_automatic_options=False)
    def refund_notify() -> Response:
        try:
            body = read_body(limit)
        except TooLarge:
            log_event(log, logging.WARNING, "refund_notice_rejected", reason="too_large", remote=_remote())
            return _respond(Reply(notices.fail_reply(MSG_TOO_LARGE), status=413, verdict="too_large"))
        return _respond(refunds.handle(body, remote=_remote()))

    @app.get("/healthz", provide_automatic_options=False)
    def healthz() -> Response:
        try:
            with ledger.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception as exc:
            log_event(log, logging.ERROR, "healthz_failed", error=type(exc).__name__)
            return Response("database unavailable\n", status=503, mimetype="text/plain")
        return Response("ok\n", mimetype="text/plain")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        if exc.code == 413:
            return _respond(Reply(notices.fail_reply(MSG_TOO_LARGE), status=413))
        # Unknown paths and methods alike: say nothing about what is here.
        return Response("not found\n", status=404, mimetype="text/plain")

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        # One line, no traceback, no request body: the body may be hostile and the
        # exception text may quote it. WeChat retries on FAIL, so nothing is lost.
        log_event(log, logging.ERROR, "listener_error", path=request.path, error=type(exc).__name__)
        if request.path.startswith("/wechatpay/"):
            return _respond(Reply(notices.fail_reply(MSG_BUSY), status=500))
        return Response("internal error\n", status=500, mimetype="text/plain")

    return app
