"""Test helpers: a canned WeChat Pay gateway on loopback (real HTTP through waitress).

For tests of anything that talks to WeChat (the client here, the till's order
and polling code) when the outcome must be one specific answer — a hang, a
5xx, an unsigned or forged response — that the simulator would not give.

Each path gets a queue of replies; the last one repeats. A reply is bytes, a
``(status, bytes)`` pair, :data:`HANG` (hold the request until the test ends),
or a callable that receives the decoded request fields and returns either of
those — :func:`ok` and :func:`business_fail` build correctly signed answers in
the request's own sign type, so a test only says what is different.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import waitress
from waitress import wasyncore

from pos.config import DEMO_API_KEY, DEMO_APPID, DEMO_MCH_ID
from pos.wechatpay import sign as signing
from pos.wechatpay import xmlcodec

# The demo merchant (WeChat's own signature-example key), as in pos.config.
KEY = DEMO_API_KEY
APPID = DEMO_APPID
MCH_ID = DEMO_MCH_ID
HANG = object()


@dataclass
class Seen:
    path: str
    body: bytes
    fields: dict[str, str]
    # The request's headers (``Wechatpay-Signature``…: v3 notices are proven by them).
    headers: dict[str, str] = field(default_factory=dict)


def ok(**business: str) -> Callable[[dict[str, str]], bytes]:
    """A SUCCESS/SUCCESS answer with ``business`` fields, signed like the request."""

    def reply(request: dict[str, str]) -> bytes:
        fields = {
            "return_code": "SUCCESS",
            "return_msg": "OK",
            "appid": APPID,
            "mch_id": MCH_ID,
            "nonce_str": signing.new_nonce(),
            "result_code": "SUCCESS",
            **business,
        }
        return xmlcodec.encode_as_wechat(signing.signed(fields, KEY, request.get("sign_type", "MD5")))

    return reply


def business_fail(err_code: str, err_code_des: str) -> Callable[[dict[str, str]], bytes]:
    """A signed result_code=FAIL answer."""
    return ok(result_code="FAIL", err_code=err_code, err_code_des=err_code_des)


def protocol_fail(message: str = "签名错误") -> bytes:
    """An unsigned return_code=FAIL answer, as WeChat words it."""
    return (
        "<xml><return_code><![CDATA[FAIL]]></return_code>\n"
        f"<return_msg><![CDATA[{message}]]></return_msg>\n</xml>"
    ).encode()


class FakeGateway:
    """A WSGI app answering each path from a queue of canned replies, recording every request."""

    def __init__(self) -> None:
        self.routes: dict[str, list[object]] = {}
        self.seen: list[Seen] = []
        self.release = threading.Event()
        self.url = ""

    def answer(self, path: str, *replies: object) -> None:
        self.routes[path] = list(replies)

    def requests_to(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path == path]

    def __call__(self, environ, start_response):
        path = environ["PATH_INFO"]
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        try:
            fields = xmlcodec.decode(body)
        except Exception:
            fields = {}
        headers = {k[5:].replace("_", "-").title(): v for k, v in environ.items() if k.startswith("HTTP_")}
        headers["Content-Type"] = environ.get("CONTENT_TYPE", "")
        self.seen.append(Seen(path, body, fields, headers))
        queue = self.routes.get(path)
        if not queue:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"no canned answer"]
        reply = queue.pop(0) if len(queue) > 1 else queue[0]
        if callable(reply):
            reply = reply(fields)
        if reply is HANG:
            self.release.wait(10)
            reply = protocol_fail("too late")
        status, content = reply if isinstance(reply, tuple) else (200, reply)
        start_response(f"{status} X", [("Content-Type", "text/plain"), ("Content-Length", str(len(content)))])
        return [content]


@contextmanager
def running_gateway() -> Iterator[FakeGateway]:
    """A :class:`FakeGateway` served on 127.0.0.1 (a free port) for the ``with`` block."""
    fake = FakeGateway()
    server = waitress.create_server(fake, host="127.0.0.1", port=0, threads=6)
    fake.url = f"http://127.0.0.1:{server.effective_port}"
    stop = threading.Event()

    def serve() -> None:
        # Our own loop with a stop flag, so sockets are closed only after it has returned.
        while not stop.is_set():
            wasyncore.loop(timeout=0.05, map=server._map, count=1)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake.release.set()
        stop.set()
        thread.join(5)
        server.task_dispatcher.shutdown(timeout=1)
        wasyncore.close_all(server._map)


def dead_url() -> str:
    """A loopback URL where nothing listens (connection refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"
