"""Fixtures for the simulator's tests: a running simulator, a notice receiver, a signed caller.

Everything is real HTTP on 127.0.0.1 through waitress in threads.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import requests

from pos.sandbox.testing import RunningSimulator, running_simulator
from pos.web import BackgroundServer
from pos.wechatpay import sign as signing
from pos.wechatpay import xmlcodec

SUCCESS_REPLY = (
    b"<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>"
)
FAIL_REPLY = (
    b"<xml><return_code><![CDATA[FAIL]]></return_code><return_msg><![CDATA[busy]]></return_msg></xml>"
)


@dataclass
class Received:
    path: str
    body: bytes
    headers: dict[str, str]
    at: float


@dataclass
class Receiver:
    """A tiny merchant endpoint: records every POST and answers from a script, then SUCCESS.

    ``script`` items are ``(status, body)`` or ``(status, body, delay_seconds)``; a
    ``handler(received) -> (status, body)`` overrides the script when set.
    """

    script: list[tuple] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    handler: object = None
    url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        headers = {k[5:].replace("_", "-").title(): v for k, v in environ.items() if k.startswith("HTTP_")}
        headers["Content-Type"] = environ.get("CONTENT_TYPE", "")
        item = Received(environ["PATH_INFO"], body, headers, time.monotonic())
        with self._lock:
            self.received.append(item)
            step = self.script.pop(0) if self.script else None
        if self.handler is not None:
            status, reply = self.handler(item)  # type: ignore[operator]
        elif step is not None:
            status, reply = step[0], step[1]
            if len(step) > 2:
                time.sleep(step[2])
        else:
            status, reply = 200, SUCCESS_REPLY
        start_response(f"{status} X", [("Content-Type", "text/xml")])
        return [reply]

    def wait(self, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.005)
        return list(self.received)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    server = BackgroundServer(rec).start()
    rec.url = server.base_url + "/wechatpay/notify"
    try:
        yield rec
    finally:
        server.stop()


@pytest.fixture
def sim() -> Iterator[RunningSimulator]:
    with running_simulator(time_scale=0.001) as running:
        yield running


_numbers = itertools.count(1)


def new_trade_no() -> str:
    return f"T{time.strftime('%H%M%S')}{next(_numbers):06d}"


def call(
    sim: RunningSimulator,
    path: str,
    fields: dict[str, str],
    *,
    sign_type: str | None = None,
    key: str | None = None,
    sandbox: bool = False,
) -> dict[str, str]:
    """POST ``fields`` signed (with our identity filled in) and return the decoded answer."""
    data = {"appid": sim.appid, "mch_id": sim.mch_id, "nonce_str": signing.new_nonce(), **fields}
    if sign_type:
        data["sign_type"] = sign_type
    api_key = key or (sim.sandbox_key if sandbox else sim.api_key)
    algorithm = sign_type if sign_type in signing.SIGN_TYPES else signing.MD5
    body = xmlcodec.encode(signing.signed(data, api_key, algorithm))
    prefix = "/sandboxnew" if sandbox else ""
    response = requests.post(sim.base_url + prefix + path, data=body, timeout=10)
    assert response.status_code == 200, response.text
    return xmlcodec.decode(response.content)


def order_fields(**overrides: str) -> dict[str, str]:
    fields = {
        "body": "演示小店-咖啡",
        "out_trade_no": new_trade_no(),
        "total_fee": "1250",
        "spbill_create_ip": "127.0.0.1",
        "notify_url": "http://127.0.0.1:9/wechatpay/notify",
        "trade_type": "NATIVE",
        "product_id": "SKU-001",
    }
    fields.update(overrides)
    return {k: v for k, v in fields.items() if v is not None}


def place_order(sim: RunningSimulator, **overrides: str) -> dict[str, str]:
    """A successful unifiedorder; returns the answer plus the request's out_trade_no."""
    fields = order_fields(**overrides)
    answer = call(sim, "/pay/unifiedorder", fields, sign_type=overrides.get("sign_type"))
    assert answer["result_code"] == "SUCCESS", answer
    return {**answer, "out_trade_no": fields["out_trade_no"]}


def raw_post(sim: RunningSimulator, path: str, body: bytes, **kwargs) -> requests.Response:
    return requests.post(sim.base_url + path, data=body, timeout=30, **kwargs)


class Api:
    """The helpers above as one fixture (tests import nothing from conftest)."""

    call = staticmethod(call)
    order_fields = staticmethod(order_fields)
    place_order = staticmethod(place_order)
    raw_post = staticmethod(raw_post)
    new_trade_no = staticmethod(new_trade_no)
    SUCCESS_REPLY = SUCCESS_REPLY
    FAIL_REPLY = FAIL_REPLY


@pytest.fixture
def api() -> type[Api]:
    return Api
