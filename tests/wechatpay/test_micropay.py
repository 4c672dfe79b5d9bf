"""micropay and reverse against the real simulator over HTTP (reverse over mutual TLS)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from pos.sandbox.testing import RunningSimulator, running_simulator
from pos.wechatpay.client import WeChatPayClient
from pos.wechatpay.errors import OutcomeUnknown, PaymentDeclined, TransportError
from pos.wechatpay.micropay import NotAPaymentCode, check_payment_code, is_payment_code, micropay, reverse


@pytest.fixture(scope="module")
def sim() -> Iterator[RunningSimulator]:
    with running_simulator(tls=True, time_scale=0.001) as running:
        yield running


def client_for(sim: RunningSimulator, tls: bool = False) -> WeChatPayClient:
    if tls:
        assert sim.pki is not None
        return WeChatPayClient(sim.appid, sim.mch_id, sim.api_key, api_base=sim.tls_base_url, timeout=5,
                               backoff=0, cert=sim.pki.client, verify=str(sim.pki.ca_file))  # fmt: skip
    return WeChatPayClient(sim.appid, sim.mch_id, sim.api_key, api_base=sim.base_url, timeout=5, backoff=0)


def paycode(sim: RunningSimulator, outcome: str) -> str:
    answer = requests.post(sim.base_url + "/_sim/paycode", json={"outcome": outcome}, timeout=5)
    assert answer.status_code == 200, answer.text
    return answer.json()["auth_code"]


def settle(sim: RunningSimulator, code: str, action: str, **extra) -> requests.Response:
    return requests.post(sim.base_url + f"/_sim/paycode/{code}", json={"action": action, **extra}, timeout=5)


def pay(sim: RunningSimulator, code: str, out_trade_no: str, total_fee: int = 880):
    return micropay(client_for(sim), out_trade_no=out_trade_no, total_fee=total_fee, body="店-咖啡",
                    auth_code=code, spbill_create_ip="127.0.0.1")  # fmt: skip


@pytest.mark.parametrize(
    ("text", "ok"),
    [("134567890123456789", True), ("104567890123456789\r\n", True), ("154567890123456789", True),
     ("164567890123456789", False), ("094567890123456789", False), ("13456789012345678", False),
     ("1345678901234567890", False), ("6901234567892", False), ("284567890123456789", False),
     ("13456789012345678a", False), ("", False)],
)  # fmt: skip
def test_one_validator_tells_a_payment_code(text, ok):
    assert is_payment_code(text) is ok
    if ok:
        assert check_payment_code(text) == text.strip()
    else:
        with pytest.raises(NotAPaymentCode):
            check_payment_code(text)


def test_paid_code_answers_success_and_orderquery_agrees(sim):
    paid = pay(sim, paycode(sim, "paid"), "MP-PAID-0001")
    assert paid.transaction_id and paid.total_fee == 880 and paid.fields["trade_type"] == "MICROPAY"
    status = client_for(sim).query_order("MP-PAID-0001")
    assert status.trade_state == "SUCCESS" and status.transaction_id == paid.transaction_id


def test_a_code_works_once(sim):
    code = paycode(sim, "paid")
    pay(sim, code, "MP-ONCE-0001")
    with pytest.raises(PaymentDeclined) as caught:
        pay(sim, code, "MP-ONCE-0002")
    assert caught.value.err_code == "AUTH_CODE_INVALID"


FAILURES = [("expired", "AUTH_CODE_INVALID"), ("not_enough", "NOTENOUGH")]


@pytest.mark.parametrize(("outcome", "err_code"), FAILURES)
def test_definite_failures_are_declined(sim, outcome, err_code):
    with pytest.raises(PaymentDeclined) as caught:
        pay(sim, paycode(sim, outcome), f"MP-{outcome[:3].upper()}-0001")
    assert caught.value.err_code == err_code and caught.value.err_code_des


def test_password_is_unknown_until_the_customer_enters_it(sim):
    code = paycode(sim, "password")
    with pytest.raises(OutcomeUnknown) as caught:
        pay(sim, code, "MP-PWD-0001")
    assert caught.value.reason == "USERPAYING"
    assert client_for(sim).query_order("MP-PWD-0001").trade_state == "USERPAYING"
    assert settle(sim, code, "pay").json()["trade_state"] == "SUCCESS"
    assert client_for(sim).query_order("MP-PWD-0001").trade_state == "SUCCESS"
    assert settle(sim, code, "cancel").status_code == 409


def test_cancelled_password_reads_payerror(sim):
    code = paycode(sim, "password")
    with pytest.raises(OutcomeUnknown):
        pay(sim, code, "MP-PWD-0002")
    settle(sim, code, "cancel")
    assert client_for(sim).query_order("MP-PWD-0002").trade_state == "PAYERROR"


def test_unknown_then_reverse_over_tls_revokes_and_refunds(sim):
    with pytest.raises(OutcomeUnknown) as caught:
        pay(sim, paycode(sim, "unknown"), "MP-UNK-0001")
    assert caught.value.reason == "SYSTEMERROR"
    assert client_for(sim).query_order("MP-UNK-0001").trade_state == "USERPAYING"
    answer = reverse(client_for(sim, tls=True), out_trade_no="MP-UNK-0001")
    assert answer.done and not answer.recall
    assert client_for(sim).query_order("MP-UNK-0001").trade_state == "REVOKED"
    pay(sim, paycode(sim, "paid"), "MP-UNK-0002")  # a paid order is refunded by reverse
    assert reverse(client_for(sim, tls=True), out_trade_no="MP-UNK-0002").done
    assert client_for(sim).query_order("MP-UNK-0002").trade_state == "REVOKED"


def test_reverse_without_certificate_fails_at_transport(sim):
    assert sim.pki is not None
    plain = WeChatPayClient(sim.appid, sim.mch_id, sim.api_key, api_base=sim.tls_base_url, timeout=5,
                            backoff=0, retries=0, verify=str(sim.pki.ca_file))  # fmt: skip
    with pytest.raises(TransportError):
        reverse(plain, out_trade_no="MP-UNK-0001")


def test_timeout_is_unknown_not_a_failure(sim):
    dead = WeChatPayClient(sim.appid, sim.mch_id, sim.api_key, api_base="http://127.0.0.1:9", timeout=1)
    with pytest.raises(OutcomeUnknown) as caught:
        micropay(dead, out_trade_no="MP-T-0001", total_fee=1, body="x",
                 auth_code="134567890123456789", spbill_create_ip="127.0.0.1")  # fmt: skip
    assert caught.value.reason in ("TRANSPORT", "TIMEOUT")


def test_paycode_route_refuses_bad_input(sim):
    for body in ({"outcome": "rich"}, {"outcome": 3}, [1]):
        answer = requests.post(sim.base_url + "/_sim/paycode", json=body, timeout=5)
        assert answer.status_code == 400
    assert settle(sim, "130000000000000000", "pay").status_code == 404
    assert settle(sim, paycode(sim, "paid"), "dance").status_code == 400
