"""A payment code paid with a coupon (the simulator's coupon switch), over real HTTP: the micropay answer
(SUCCESS at once) and the query after a password both leave the sale PAID at its price, with what the
customer paid, the coupon and what the merchant settles kept by the ledger (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import requests

from pos.ledger import Ledger, SaleState, open_ledger
from pos.orders.micropay import CodePayment
from pos.sandbox.testing import RunningSimulator, running_simulator
from pos.testing.clock import FakeClock
from pos.wechatpay.client import WeChatPayClient


@pytest.fixture
def sim() -> Iterator[RunningSimulator]:
    with running_simulator(tls=True, time_scale=0.001) as running:
        yield running


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def ledger(database, tmp_path, clock) -> Iterator[Ledger]:
    with open_ledger(database.url_in(tmp_path / "ledger"), clock=clock) as opened:
        yield opened


def code(sim: RunningSimulator, outcome: str) -> str:
    return sim.paycode(outcome)


def desk(sim: RunningSimulator, ledger: Ledger, clock: FakeClock, on_sleep=None) -> CodePayment:
    assert sim.pki is not None
    client = WeChatPayClient(sim.appid, sim.mch_id, sim.api_key, api_base=sim.base_url, timeout=5, backoff=0)
    secure = WeChatPayClient(sim.appid, sim.mch_id, sim.api_key, api_base=sim.tls_base_url, timeout=5,
                             backoff=0, cert=sim.pki.client, verify=str(sim.pki.ca_file))  # fmt: skip

    def sleep(seconds: float) -> None:
        if on_sleep is not None:
            on_sleep()
        clock.advance(seconds)

    return CodePayment(ledger, client, reverse_client=secure, language="en", clock=clock, sleep=sleep,
                       interval=5, deadline=60)  # fmt: skip


@pytest.mark.parametrize(("funded_by", "settled"), [("merchant", 1580), ("wechat", 1880)])
def test_a_code_paid_at_once_with_a_coupon_keeps_both_figures(sim, ledger, clock, funded_by, settled):
    sim.set_faults(coupon={"fee": 300, "funded_by": funded_by})
    sale = ledger.create_sale(store="S01", lane="01", total_fee=1880, body="咖啡")
    outcome = desk(sim, ledger, clock).pay(sale.id, code(sim, "paid"))
    assert outcome.paid and outcome.sale.state is SaleState.PAID and outcome.sale.total_fee == 1880
    paid = ledger.get_sale(sale.id)
    assert (paid.cash_fee, paid.coupon_fee, paid.settlement_total_fee) == (1580, 300, settled)
    assert ledger.flags_for_sale(sale.id) == []


def test_a_code_paid_after_a_password_takes_the_figures_from_the_query(sim, ledger, clock):
    sim.set_faults(coupon={"fee": 300, "funded_by": "merchant"})
    sale = ledger.create_sale(store="S01", lane="01", total_fee=1880, body="咖啡")
    auth_code = code(sim, "password")
    entered = []

    def customer_enters_password() -> None:
        if not entered:
            entered.append(
                requests.post(sim.base_url + f"/_sim/paycode/{auth_code}", json={"action": "pay"}, timeout=5)
            )

    outcome = desk(sim, ledger, clock, customer_enters_password).pay(sale.id, auth_code)
    assert entered and entered[0].status_code == 200
    assert outcome.paid
    paid = ledger.get_sale(sale.id)
    assert (paid.cash_fee, paid.coupon_fee, paid.settlement_total_fee) == (1580, 300, 1580)
