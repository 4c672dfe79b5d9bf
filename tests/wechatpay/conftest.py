"""Fixtures for the wechatpay tests: the canned loopback gateway from pos.wechatpay.testing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pos.wechatpay import testing


@pytest.fixture
def gateway() -> Iterator[testing.FakeGateway]:
    with testing.running_gateway() as fake:
        yield fake


@pytest.fixture
def dead_url() -> str:
    return testing.dead_url()
