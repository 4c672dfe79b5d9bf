"""Fixtures for the wechatpay tests: the canned loopback gateway from pos.wechatpay.testing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pos.wechatpay import notices, testing


@pytest.fixture
def merchant() -> Iterator[testing.FakeGateway]:
    """The merchant's endpoints: /notify and /refund-notify acknowledge as v2 wants (the v3 tests'
    conftest answers as v3 wants); a test may set more (/callback)."""
    with testing.running_gateway() as fake:
        fake.answer("/notify", notices.success_reply())
        fake.answer("/refund-notify", notices.success_reply())
        yield fake


@pytest.fixture
def gateway() -> Iterator[testing.FakeGateway]:
    with testing.running_gateway() as fake:
        yield fake


@pytest.fixture
def dead_url() -> str:
    return testing.dead_url()
