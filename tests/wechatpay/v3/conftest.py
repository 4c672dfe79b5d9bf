"""Fixtures for the v3 tests: the simulator over real HTTP, a merchant endpoint, v3 clients."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from pos.sandbox.testing import RunningSimulator, running_simulator
from pos.wechatpay.testing import FakeGateway, Seen, running_gateway
from pos.wechatpay.v3 import Verifier, WeChatPayV3Client


@pytest.fixture
def merchant() -> Iterator[FakeGateway]:
    """The merchant's notify URLs: /notify and /refund-notify answer 204, as v3 wants."""
    with running_gateway() as fake:
        fake.answer("/notify", (204, b""))
        fake.answer("/refund-notify", (204, b""))
        yield fake


@pytest.fixture
def sim(merchant) -> Iterator[RunningSimulator]:
    with running_simulator(time_scale=0.001, refund_notify_url=merchant.url + "/refund-notify") as running:
        yield running


def v3_client(sim: RunningSimulator, verifier: Verifier | None = None, **options) -> WeChatPayV3Client:
    """Our v3 client for the simulator's merchant, in public-key mode unless told otherwise."""
    v3 = sim.v3
    if verifier is None:
        verifier = Verifier.public_key(v3["wechatpay_public_key_id"], v3["wechatpay_public_key"])
    settings = {
        "mchid": v3["mchid"],
        "appid": v3["appid"],
        "private_key": v3["merchant_private_key"],
        "serial_no": v3["merchant_serial_no"],
        "apiv3_key": v3["apiv3_key"],
        "verifier": verifier,
        "api_base": sim.base_url,
        "timeout": 5,
        "backoff": 0,
    }
    return WeChatPayV3Client(**{**settings, **options})


def wait_for(merchant: FakeGateway, path: str, count: int = 1, timeout: float = 10.0) -> list[Seen]:
    deadline = time.monotonic() + timeout
    while len(merchant.requests_to(path)) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return merchant.requests_to(path)


class Helpers:
    v3_client = staticmethod(v3_client)
    wait_for = staticmethod(wait_for)


@pytest.fixture
def helpers() -> type[Helpers]:
    return Helpers
