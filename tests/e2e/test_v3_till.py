"""The till on API v3 (``[merchant] api = "v3"``): the same checkout, watcher, refunds and bill,
against the simulator's v3 endpoints over real HTTP, with keys loaded from 0600 files."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from pos.orders.refunds import RefundService
from pos.reconcile.runner import reconcile_day
from pos.sandbox.testing import RunningSimulator, running_simulator
from pos.sandbox.v3files import v3_merchant
from pos.till.testing import running_till, till_config
from pos.wechatpay.factory import client_for
from pos.wechatpay.v3 import WeChatPayV3Client


def v3_config(tmp_path, sim, certificate_mode: bool = False):
    config = till_config(tmp_path, sim)
    merchant = v3_merchant(config.merchant, tmp_path / "keys", sim.v3, certificate_mode=certificate_mode)
    return config.replace(merchant=merchant)


@pytest.fixture(params=["public_key", "certificate"])
def mode(request) -> str:
    """WeChat's side of v3: its public key, or platform certificates downloaded into a folder."""
    return request.param


@pytest.fixture
def v3sim(mode) -> Iterator[RunningSimulator]:
    """The simulator signing with the key the merchant's mode expects."""
    with running_simulator(time_scale=0.001, v3_sign_with=mode) as running:
        yield running


def test_the_factory_picks_the_client_by_api(tmp_path, sim):
    config = v3_config(tmp_path, sim)
    with client_for(config.merchant) as v3, client_for(till_config(tmp_path, sim).merchant) as v2:
        assert isinstance(v3, WeChatPayV3Client) and not isinstance(v2, WeChatPayV3Client)
        assert v3.mchid == sim.v3["mchid"] and v3.serial_no == sim.v3["merchant_serial_no"]


def test_a_v3_sale_is_ordered_found_paid_refunded_and_reconciled(tmp_path, v3sim, mode, printer, e2e):
    sim = v3sim
    config = v3_config(tmp_path, sim, certificate_mode=mode == "certificate")
    with running_till(config, clock=e2e.clock_of(sim)) as till:
        assert isinstance(till.till.client, WeChatPayV3Client)
        answer = till.http.post(
            till.url("/api/sales"), json={"items": [{"name": "拿铁", "price": "18.00"}]}, timeout=30
        )
        assert answer.status_code == 201, answer.text
        sale = answer.json()
        [order] = [o for o in sim.orders() if o["out_trade_no"] == sale["out_trade_no"]]
        assert sale["code_url"] == order["code_url"] and order["total_fee"] == 1800

        sim.pay(sale["code_url"], notify=False)  # no notice: the watcher's v3 query must find it
        sim.advance(2)
        till.till.watcher.nudge()
        paid = e2e.wait_until(
            lambda: (
                (s := till.http.get(till.url(f"/api/sales/{sale['id']}"), timeout=10).json())["state"]
                == "PAID"
                and s
            ),
            "the watcher to mark the v3 sale PAID",
        )
        [order] = [o for o in sim.orders() if o["out_trade_no"] == sale["out_trade_no"]]
        assert paid["transaction_id"] == order["transaction_id"]
        e2e.wait_until(lambda: printer.lines_for(sale["out_trade_no"], "confirmation"), "the confirmation")

        refunds = RefundService(till.till.ledger, till.till.client, config, clock=e2e.clock_of(sim))
        refund = refunds.refund(sale["id"], 500, reason="test", by="tester")
        assert refund.state.name == "SUCCEEDED", refund
        assert till.till.ledger.get_sale(sale["id"]).state.name == "PARTLY_REFUNDED"

        day = datetime.fromtimestamp(sim.sim.clock.now(), config.store.zone).date()
        with client_for(config.merchant) as client:
            result = reconcile_day(till.till.ledger, client, config, day)
            if mode == "certificate":  # the till's download is on disk: reconcile's client reuses it
                folder = Path(config.merchant.platform_certificates_dir)
                assert [p.stem for p in folder.glob("*.pem")] == [sim.v3["platform_serial_no"]]
                assert client.verifier.store.downloads == 0
        # The payment and the refund, both on WeChat's v3 trade bill (SHA1-checked download), match.
        assert (result.status, result.matched, result.differences) == ("matched", 2, ()), result
