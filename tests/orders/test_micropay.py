"""Paying a sale by payment code, each outcome over real HTTP against the simulator (reverse over
mutual TLS), a real SQLite ledger and a FakeClock: the query loop never sleeps for real."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import requests

from pos.ledger import FlagKind, JobKind, Ledger, SaleState, open_ledger
from pos.ledger.micropay import AttemptInProgress, NotPayableByCode, OpenNativeOrder, attempts, start_attempt
from pos.orders.micropay import CodePayment
from pos.sandbox.testing import RunningSimulator, running_simulator
from pos.testing.clock import FakeClock
from pos.wechatpay import testing as fake
from pos.wechatpay import xmlcodec
from pos.wechatpay.client import WeChatPayClient
from pos.wechatpay.micropay import NotAPaymentCode


@pytest.fixture
def sim() -> Iterator[RunningSimulator]:
    with running_simulator(tls=True, time_scale=0.001) as running:
        yield running


@pytest.fixture
def clock(sim) -> FakeClock:
    return FakeClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def ledger(database_url, clock) -> Iterator[Ledger]:
    with open_ledger(database_url, clock=clock) as opened:
        yield opened


class Customer:
    """The test's hand on the simulated customer, acting at a chosen query tick."""

    def __init__(self, sim: RunningSimulator, clock: FakeClock) -> None:
        self.sim, self.clock, self.sleeps, self.script = sim, clock, 0, {}

    def code(self, outcome: str) -> str:
        return requests.post(
            self.sim.base_url + "/_sim/paycode", json={"outcome": outcome}, timeout=5
        ).json()["auth_code"]

    def act(self, code: str, action: str, **extra) -> requests.Response:
        body = {"action": action, **extra}
        return requests.post(self.sim.base_url + f"/_sim/paycode/{code}", json=body, timeout=5)

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        if self.sleeps in self.script:
            self.script.pop(self.sleeps)()
        self.clock.advance(seconds)


@pytest.fixture
def customer(sim, clock) -> Customer:
    return Customer(sim, clock)


@pytest.fixture
def desk(sim, ledger, clock, customer) -> CodePayment:
    assert sim.pki is not None
    client = WeChatPayClient(sim.appid, sim.mch_id, sim.api_key, api_base=sim.base_url, timeout=5, backoff=0)
    secure = WeChatPayClient(sim.appid, sim.mch_id, sim.api_key, api_base=sim.tls_base_url, timeout=5,
                             backoff=0, cert=sim.pki.client, verify=str(sim.pki.ca_file))  # fmt: skip
    return CodePayment(ledger, client, reverse_client=secure, language="en", clock=clock,
                       sleep=customer.sleep, interval=5, deadline=60)  # fmt: skip


def new_sale(ledger: Ledger):
    return ledger.create_sale(store="S01", lane="01", total_fee=1880, body="咖啡")


def trade_state(sim: RunningSimulator, out_trade_no: str) -> str:
    return next(o for o in sim.orders() if o["out_trade_no"] == out_trade_no)["state"]


def test_paid_code_pays_once_with_a_receipt_and_no_qr(desk, ledger, customer):
    sale = new_sale(ledger)
    outcome = desk.pay(sale.id, customer.code("paid"))
    assert outcome.paid and outcome.sale.state == SaleState.PAID
    assert outcome.sale.transaction_id == outcome.transaction_id
    kinds = [job.kind for job in ledger.jobs_for_sale(sale.id)]
    assert kinds == [JobKind.CONFIRMATION]  # the paid receipt, no QR slip
    assert outcome.out_trade_no == sale.out_trade_no + "-M1"
    with pytest.raises(NotPayableByCode):
        desk.pay(sale.id, customer.code("paid"))


def test_password_then_paid_while_querying(desk, ledger, customer):
    sale = new_sale(ledger)
    code = customer.code("password")
    customer.script[2] = lambda: customer.act(code, "pay")
    outcome = desk.pay(sale.id, code)
    assert outcome.paid and outcome.sale.state == SaleState.PAID
    assert customer.sleeps >= 2


def test_password_then_cancelled_reverses_and_stays_payable(sim, desk, ledger, customer, clock):
    sale = new_sale(ledger)
    code = customer.code("password")
    customer.script[1] = lambda: customer.act(code, "cancel")
    started = clock()
    outcome = desk.pay(sale.id, code)
    assert outcome.status == "cancelled" and outcome.sale.state == SaleState.NEW
    assert (clock() - started).total_seconds() >= 15  # no reverse sooner than 15 s after the pay call
    assert trade_state(sim, outcome.out_trade_no) == "REVOKED"
    second = desk.pay(sale.id, customer.code("paid"))  # a new code, a new number
    assert second.paid and second.out_trade_no == sale.out_trade_no + "-M2"


@pytest.mark.parametrize(("outcome", "word"), [("expired", "expired"), ("not_enough", "balance")])
def test_definite_failures_leave_the_sale_payable(desk, ledger, customer, outcome, word):
    sale = new_sale(ledger)
    result = desk.pay(sale.id, customer.code(outcome))
    assert result.status == "declined" and result.sale.state == SaleState.NEW
    assert word in result.message and customer.sleeps == 0  # no query loop for a definite answer
    assert desk.pay(sale.id, customer.code("paid")).paid


def test_unknown_is_queried_to_the_deadline_then_reversed(sim, desk, ledger, customer, clock):
    sale = new_sale(ledger)
    started = clock()
    outcome = desk.pay(sale.id, customer.code("unknown"))
    assert outcome.status == "reversed" and outcome.sale.state == SaleState.NEW
    assert (clock() - started).total_seconds() >= 60  # the FakeClock moved; nothing slept
    assert customer.sleeps == 12
    assert trade_state(sim, outcome.out_trade_no) == "REVOKED"
    assert "reversed" in outcome.message


def test_late_success_after_reverse_is_flagged_not_paid(desk, ledger, customer):
    sale = new_sale(ledger)
    code = customer.code("unknown")
    outcome = desk.pay(sale.id, code)
    assert outcome.status == "reversed"
    assert customer.act(code, "pay").status_code == 409  # a reversed order cannot be paid...
    assert customer.act(code, "pay", late=True).status_code == 200  # ...unless WeChat settles late
    assert desk.recheck(sale.id) == [outcome.out_trade_no]
    assert desk.recheck(sale.id) == [outcome.out_trade_no]  # asked again: still one flag
    after = ledger.get_sale(sale.id)
    assert after.state == SaleState.NEW and after.flagged
    flags = ledger.flags_for_sale(sale.id)
    assert [f.kind for f in flags] == [FlagKind.PAID_AFTER_REVERSE]


def test_a_sale_with_an_open_native_order_is_not_paid_by_code(desk, ledger, customer, clock):
    sale = new_sale(ledger)
    ledger.record_order(sale.id, code_url="weixin://wxpay/bizpayurl?pr=abc1234", prepay_id="wx1",
                        expires_at=clock())  # fmt: skip
    with pytest.raises(OpenNativeOrder):
        desk.pay(sale.id, customer.code("paid"))
    assert attempts(ledger, sale.id) == []


def test_not_a_payment_code_is_refused_before_anything(desk, ledger):
    sale = new_sale(ledger)
    with pytest.raises(NotAPaymentCode):
        desk.pay(sale.id, "6901234567892")
    assert attempts(ledger, sale.id) == []


# -- what the simulator does not do: reverse asking recall=Y, a reverse that never goes through ------
# (a scripted gateway over real HTTP, pos.wechatpay.testing.FakeGateway)


@pytest.fixture
def gateway() -> Iterator[fake.FakeGateway]:
    with fake.running_gateway() as running:
        yield running


def scripted_desk(gateway, ledger, clock) -> CodePayment:
    client = WeChatPayClient(fake.APPID, fake.MCH_ID, fake.KEY, api_base=gateway.url, timeout=5, backoff=0,
                             retries=0)  # fmt: skip
    return CodePayment(
        ledger, client, language="en", clock=clock, sleep=clock.advance, interval=5, deadline=30
    )


def test_reverse_is_called_again_while_wechat_says_recall(gateway, ledger, clock):
    gateway.answer("/pay/micropay", fake.business_fail("SYSTEMERROR", "系统超时"))
    gateway.answer("/pay/orderquery", fake.ok(trade_state="USERPAYING", out_trade_no="x"))
    recall = fake.ok(result_code="FAIL", err_code="SYSTEMERROR", err_code_des="系统错误", recall="Y")
    gateway.answer("/secapi/pay/reverse", recall, (500, b"busy"), fake.ok(recall="N"))
    sale = new_sale(ledger)
    outcome = scripted_desk(gateway, ledger, clock).pay(sale.id, "134567890123456789")
    assert outcome.status == "reversed" and outcome.sale.state == SaleState.NEW
    assert len(gateway.requests_to("/secapi/pay/reverse")) == 3
    assert len(gateway.requests_to("/pay/micropay")) == 1  # a code is never sent twice


def test_a_reverse_that_never_goes_through_is_left_for_the_manager(gateway, ledger, clock):
    gateway.answer("/pay/micropay", (502, b"bad gateway"))
    gateway.answer("/pay/orderquery", fake.business_fail("ORDERNOTEXIST", "订单不存在"))
    gateway.answer("/secapi/pay/reverse", fake.ok(result_code="FAIL", err_code="SYSTEMERROR", recall="Y"))
    sale = new_sale(ledger)
    desk = scripted_desk(gateway, ledger, clock)
    outcome = desk.pay(sale.id, "134567890123456789")
    assert outcome.status == "reverse_failed" and outcome.sale.state == SaleState.NEW
    assert "Do not charge again" in outcome.message
    assert len(gateway.requests_to("/secapi/pay/reverse")) == 5
    # WeChat later says it was paid after all: flagged, not the sale's payment.
    gateway.answer("/pay/orderquery", fake.ok(trade_state="SUCCESS", out_trade_no=outcome.out_trade_no,
                                              transaction_id="4200000001", total_fee="1880"))  # fmt: skip
    assert desk.recheck(sale.id) == [outcome.out_trade_no]
    assert ledger.get_sale(sale.id).state == SaleState.NEW and ledger.get_sale(sale.id).flagged


def test_an_unsigned_success_is_not_believed_the_query_settles_it(gateway, ledger, clock):
    signed = fake.ok(transaction_id="4200000002", total_fee="1880")

    def forged(request: dict[str, str]) -> bytes:  # a SUCCESS whose sign is not WeChat's
        fields = xmlcodec.decode(signed(request))
        return xmlcodec.encode_as_wechat({**fields, "sign": "0" * 32})

    gateway.answer("/pay/micropay", forged)
    gateway.answer("/pay/orderquery", fake.ok(trade_state="NOTPAY", out_trade_no="x"),
                   fake.ok(trade_state="SUCCESS", transaction_id="4200000003", total_fee="1880"))  # fmt: skip
    sale = new_sale(ledger)
    outcome = scripted_desk(gateway, ledger, clock).pay(sale.id, "134567890123456789")
    assert outcome.paid and outcome.transaction_id == "4200000003"


def test_one_code_at_a_time_per_sale(desk, ledger, customer, clock):
    sale = new_sale(ledger)
    start_attempt(ledger, sale.id)  # another request is charging a code for this sale right now
    with pytest.raises(AttemptInProgress):
        desk.pay(sale.id, customer.code("paid"))
    clock.advance(minutes=4)  # that one was cut off by a crash long ago: no longer in the way
    assert desk.pay(sale.id, customer.code("paid")).out_trade_no == sale.out_trade_no + "-M2"


def test_a_payment_of_another_amount_is_flagged_not_paid(gateway, ledger, clock):
    gateway.answer("/pay/micropay", fake.ok(transaction_id="4200000004", total_fee="100", out_trade_no="x"))
    sale = new_sale(ledger)
    outcome = scripted_desk(gateway, ledger, clock).pay(sale.id, "134567890123456789")
    assert outcome.status == "flagged" and outcome.sale.state == SaleState.NEW and outcome.sale.flagged
