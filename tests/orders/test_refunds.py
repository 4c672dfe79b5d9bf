"""RefundService against the simulator over mutual TLS, with a real SQLite ledger.

The simulator serves /secapi/pay/refund on its HTTPS port with a throwaway CA;
the client verifies the simulator with that CA and presents the merchant's
certificate named in [merchant] cert_file / key_file.
"""

from __future__ import annotations

import dataclasses
import threading
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from pos.ledger import JobKind, LineItem, RefundState, SaleState, open_ledger
from pos.orders.refunds import RefundError, RefundPending, RefundService, refund_notify_url
from pos.sandbox.testing import running_simulator
from pos.sandbox.tls import client_certificate
from pos.till.spooler import Spooler
from pos.till.testing import till_config
from pos.wechatpay import WeChatPayClient, sign, xmlcodec
from pos.wechatpay.errors import TransportError
from pos.wechatpay.testing import HANG, running_gateway


@pytest.fixture
def sim():
    with running_simulator(tls=True, time_scale=0.0001) as running:
        yield running


@pytest.fixture
def config(database, tmp_path, sim):
    base = till_config(tmp_path, sim, database=database.config, language="en")
    cert_file, key_file = sim.pki.client
    merchant = dataclasses.replace(
        base.merchant,
        api_base=sim.tls_base_url,
        cert_file=cert_file,
        key_file=key_file,
        notify_url="http://127.0.0.1:9/wechatpay/notify",  # nobody listens: notices are not this test's
    )
    return base.replace(merchant=merchant)


@pytest.fixture
def ledger(config):
    with open_ledger(config.database.url) as opened:
        yield opened


def make_client(config, sim, **options) -> WeChatPayClient:
    options = {"verify": str(sim.pki.ca_file), "backoff": 0, **options}
    return WeChatPayClient.from_config(config.merchant, **options)


@pytest.fixture
def client(config, sim):
    with make_client(config, sim) as opened:
        yield opened


@pytest.fixture
def service(ledger, client, config):
    return RefundService(ledger, client, config)


def paid_sale(ledger, client, sim, total: int = 1800):
    """A sale ordered at the simulator, paid by the customer, recorded PAID (by query)."""
    sale = ledger.create_sale(store="S01", lane="01", items=[LineItem("拿铁", total)])
    order = client.unified_order(
        out_trade_no=sale.out_trade_no,
        total_fee=total,
        body="拿铁",
        notify_url="http://127.0.0.1:9/wechatpay/notify",
        product_id="LATTE",
        spbill_create_ip="127.0.0.1",
    )
    ledger.record_order(
        sale.id, code_url=order.code_url, prepay_id=order.prepay_id,
        expires_at=sale.created_at + timedelta(minutes=15), print_slip=False,
    )  # fmt: skip
    transaction_id = sim.pay(order.code_url, notify=False)
    status = client.query_order(sale.out_trade_no)
    outcome = ledger.mark_paid(
        sale.out_trade_no, transaction_id=transaction_id, total_fee=total, time_end=status.time_end,
        source="query",
    )  # fmt: skip
    assert outcome.newly_paid
    return ledger.get_sale(sale.id)


def sim_refunds(sim, out_trade_no: str) -> list[dict]:
    order = next(o for o in sim.orders() if o["out_trade_no"] == out_trade_no)
    return order["refunds"]


def refund_jobs(ledger, sale_id: int):
    return [j for j in ledger.jobs_for_sale(sale_id) if j.kind is JobKind.REFUND_SLIP]


# -- full and partial refunds ------------------------------------------------------------------------


def test_partial_then_full_refund_over_mutual_tls(ledger, client, sim, service, config):
    sale = paid_sale(ledger, client, sim, total=1800)

    first = service.refund(sale.id, 500, reason="少找零", by="manager")
    assert first.state is RefundState.SUCCEEDED
    assert first.out_refund_no == f"{sale.out_trade_no}-R1"
    assert first.refund_id
    after_first = ledger.get_sale(sale.id)
    assert after_first.state is SaleState.PARTLY_REFUNDED
    assert after_first.refunded_fee == 500

    second = service.refund(sale.id, 1300)
    assert second.state is RefundState.SUCCEEDED
    assert second.out_refund_no == f"{sale.out_trade_no}-R2"
    done = ledger.get_sale(sale.id)
    assert done.state is SaleState.REFUNDED
    assert done.refunded_fee == 1800

    at_wechat = sim_refunds(sim, sale.out_trade_no)
    assert [(r["out_refund_no"], r["refund_fee"]) for r in at_wechat] == [
        (first.out_refund_no, 500),
        (second.out_refund_no, 1300),
    ]
    assert {r["notify_url"] for r in at_wechat} == {refund_notify_url(config)}
    assert at_wechat[0]["refund_desc"] == "少找零"
    # One slip per completed refund, queued by the ledger with the completion.
    assert [j.payload for j in refund_jobs(ledger, sale.id)] == [
        {"out_refund_no": first.out_refund_no},
        {"out_refund_no": second.out_refund_no},
    ]
    assert "Refunded ￥5.00" in service.describe(first)

    with pytest.raises(RefundError) as refused:
        service.refund(sale.id, 1)
    assert refused.value.code == "not_paid"
    assert "REFUNDED" in str(refused.value)


def test_refund_slip_prints_on_a_dir_printer(ledger, client, sim, service, config, tmp_path):
    sale = paid_sale(ledger, client, sim, total=2600)
    refund = service.refund(sale.id, 2600, reason="退货")
    spooler = Spooler(ledger, config)
    printed = []
    while spooler.run_once():
        printed.append(True)
    assert printed  # the confirmation slip and the refund slip
    job = refund_jobs(ledger, sale.id)[0]
    assert ledger.get_job(job.id).printed_at is not None
    outputs = sorted(Path(tmp_path / "printer").glob("*.bin"))
    assert any(refund.out_refund_no.encode() in p.read_bytes() for p in outputs)


def test_sync_completes_nothing_twice(ledger, client, sim, service):
    sale = paid_sale(ledger, client, sim)
    refund = service.refund(sale.id, 800)
    refunds = service.sync(sale.id)
    assert [r.state for r in refunds] == [RefundState.SUCCEEDED]
    assert len(refund_jobs(ledger, sale.id)) == 1
    assert ledger.get_sale(sale.id).refunded_fee == 800
    assert refunds[0].out_refund_no == refund.out_refund_no


# -- never more than paid -----------------------------------------------------------------------------


def test_more_than_is_left_is_refused_plainly(ledger, client, sim, service):
    sale = paid_sale(ledger, client, sim, total=1000)
    service.refund(sale.id, 700)
    with pytest.raises(RefundError) as refused:
        service.refund(sale.id, 400)
    assert refused.value.code == "too_much"
    assert str(refused.value) == (
        f"A refund of ￥4.00 is more than is left: sale {sale.out_trade_no} was paid ￥10.00, "
        "at most ￥3.00 can still be refunded."
    )
    assert len(sim_refunds(sim, sale.out_trade_no)) == 1


@pytest.mark.parametrize("amount", [0, -5, 1.5, True, "100"])
def test_bad_amounts_are_refused(ledger, client, sim, service, amount):
    sale = paid_sale(ledger, client, sim, total=300)
    with pytest.raises(RefundError) as refused:
        service.refund(sale.id, amount)
    assert refused.value.code == "amount"
    assert ledger.refunds_for_sale(sale.id) == []


def test_unknown_and_unpaid_sales_are_refused(ledger, service):
    with pytest.raises(RefundError, match="There is no sale 999"):
        service.refund(999, 100)
    sale = ledger.create_sale(store="S01", lane="01", items=[LineItem("茶", 500)])
    with pytest.raises(RefundError) as refused:
        service.refund(sale.id, 100)
    assert refused.value.code == "not_paid" and "NEW" in str(refused.value)


@pytest.mark.parametrize("amounts", [(400, 400, 400, 300, 300, 300), (600, 500, 450, 700, 550, 650)])
def test_concurrent_refunds_never_exceed_the_payment(ledger, client, sim, config, amounts):
    sale = paid_sale(ledger, client, sim, total=1000)
    barrier = threading.Barrier(6)
    results: list[object] = []

    def ask(amount: int) -> None:
        with make_client(config, sim) as own:
            service = RefundService(ledger, own, config)  # one service per manager: no shared lock
            barrier.wait()
            try:
                results.append(service.refund(sale.id, amount))
            except RefundError as exc:
                results.append(exc)

    threads = [threading.Thread(target=ask, args=(amount,)) for amount in amounts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    done = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, RefundError)]
    assert len(done) + len(refused) == 6
    assert all(r.code == "too_much" for r in refused)
    # With amounts that repeat, every request may join a pending refund of its amount and none be
    # refused (400 + 300 + 300 = 1000, the other three joining); distinct amounts join nothing, and
    # all of them together are over the payment, so some are refused.
    if len(set(amounts)) == len(amounts):
        assert refused and len({r.out_refund_no for r in done}) == len(done)
    # A request for the amount of a refund still pending retries that refund (same number), so
    # several managers may get the same refund back: count each refund once.
    unique = {r.out_refund_no: r for r in done}
    assert all(r.state is RefundState.SUCCEEDED for r in unique.values())
    total = sum(r.refund_fee for r in unique.values())
    assert 0 < total <= 1000
    assert ledger.get_sale(sale.id).refunded_fee == total
    at_wechat = sim_refunds(sim, sale.out_trade_no)
    assert sorted(r["out_refund_no"] for r in at_wechat) == sorted(unique)
    assert sum(r["refund_fee"] for r in at_wechat) == total
    assert len(refund_jobs(ledger, sale.id)) == len(unique)


# -- lost answers: the same out_refund_no again --------------------------------------------------------


def forwarding(sim, path: str, *, lose: bool):
    """A FakeGateway reply that passes the request on to the simulator's HTTPS port (with the client
    certificate), then loses the answer (HTTP 502) or passes it back."""

    def reply(fields: dict[str, str]):
        response = requests.post(
            sim.tls_base_url + path, data=xmlcodec.encode(fields), cert=sim.pki.client,
            verify=str(sim.pki.ca_file), timeout=10,
        )  # fmt: skip
        return (502, b"bad gateway") if lose else response.content

    return reply


def test_a_lost_answer_is_retried_with_the_same_out_refund_no(ledger, sim, config):
    with running_gateway() as gateway:
        gateway.answer("/secapi/pay/refund", forwarding(sim, "/secapi/pay/refund", lose=True),
                       forwarding(sim, "/secapi/pay/refund", lose=False))  # fmt: skip
        gateway.answer("/pay/refundquery", forwarding(sim, "/pay/refundquery", lose=False))
        gateway.answer("/pay/unifiedorder", forwarding(sim, "/pay/unifiedorder", lose=False))
        gateway.answer("/pay/orderquery", forwarding(sim, "/pay/orderquery", lose=False))
        merchant = dataclasses.replace(config.merchant, api_base=gateway.url)
        cfg = config.replace(merchant=merchant)
        with WeChatPayClient.from_config(merchant, backoff=0, retries=1) as client:
            sale = paid_sale(ledger, client, sim, total=1200)
            refund = RefundService(ledger, client, cfg).refund(sale.id, 1200)
        sent = [s.fields["out_refund_no"] for s in gateway.requests_to("/secapi/pay/refund")]
    assert sent == [refund.out_refund_no, refund.out_refund_no]
    assert refund.state is RefundState.SUCCEEDED
    assert len(sim_refunds(sim, sale.out_trade_no)) == 1
    assert ledger.get_sale(sale.id).state is SaleState.REFUNDED
    assert len(refund_jobs(ledger, sale.id)) == 1


def test_unknown_outcome_stays_pending_and_sync_settles_it(ledger, sim, config):
    with running_gateway() as gateway:
        gateway.answer("/secapi/pay/refund", forwarding(sim, "/secapi/pay/refund", lose=True))
        for path in ("/pay/unifiedorder", "/pay/orderquery", "/pay/refundquery"):
            gateway.answer(path, forwarding(sim, path, lose=False))
        merchant = dataclasses.replace(config.merchant, api_base=gateway.url)
        cfg = config.replace(merchant=merchant)
        with WeChatPayClient.from_config(merchant, backoff=0, retries=0) as client:
            sale = paid_sale(ledger, client, sim, total=900)
            service = RefundService(ledger, client, cfg)
            with pytest.raises(RefundPending) as pending:
                service.refund(sale.id, 900)
            assert pending.value.refund.state is RefundState.PENDING
            assert "Do not refund again" in str(pending.value)
            assert ledger.get_sale(sale.id).refundable_fee == 0  # still reserved
            # The simulator did refund it; the query finds that out and completes it once.
            refunds = service.sync(sale.id)
            assert [r.state for r in refunds] == [RefundState.SUCCEEDED]
            assert service.sync(sale.id)[0].state is RefundState.SUCCEEDED
    assert len(refund_jobs(ledger, sale.id)) == 1
    assert len(sim_refunds(sim, sale.out_trade_no)) == 1


def test_a_request_that_never_arrived_is_resent_by_sync_under_its_number(ledger, client, sim, config):
    sale = paid_sale(ledger, client, sim, total=700)
    with running_gateway() as gateway:
        gateway.answer("/secapi/pay/refund", HANG)  # never reaches the simulator
        merchant = dataclasses.replace(config.merchant, api_base=gateway.url)
        lost = WeChatPayClient.from_config(merchant, backoff=0, retries=0, timeout=0.3)
        with lost, pytest.raises(RefundPending) as pending:
            RefundService(ledger, lost, config.replace(merchant=merchant)).refund(sale.id, 700)
    number = pending.value.refund.out_refund_no
    assert sim_refunds(sim, sale.out_trade_no) == []
    # Asked again for the same amount while it is pending: a retry of that refund, not a new one.
    service = RefundService(ledger, client, config)
    again = service.refund(sale.id, 700)
    assert again.out_refund_no == number
    assert again.state is RefundState.SUCCEEDED
    assert [r["out_refund_no"] for r in sim_refunds(sim, sale.out_trade_no)] == [number]
    assert len(ledger.refunds_for_sale(sale.id)) == 1


def test_sync_resends_when_wechat_never_saw_it(ledger, client, sim, config):
    sale = paid_sale(ledger, client, sim, total=650)
    with running_gateway() as gateway:
        gateway.answer("/secapi/pay/refund", (503, b"down"))
        merchant = dataclasses.replace(config.merchant, api_base=gateway.url)
        down = WeChatPayClient.from_config(merchant, backoff=0, retries=1)
        with down, pytest.raises(RefundPending):
            RefundService(ledger, down, config.replace(merchant=merchant)).refund(sale.id, 650)
    [pending] = ledger.refunds_for_sale(sale.id)
    refunds = RefundService(ledger, client, config).sync(sale.id)
    assert [(r.out_refund_no, r.state) for r in refunds] == [(pending.out_refund_no, RefundState.SUCCEEDED)]
    assert [r["out_refund_no"] for r in sim_refunds(sim, sale.out_trade_no)] == [pending.out_refund_no]


def test_systemerror_keeps_it_pending_and_a_real_refusal_releases_it(ledger, client, sim, config):
    sale = paid_sale(ledger, client, sim, total=500)

    def signed(**fields):
        def reply(request):
            body = {"return_code": "SUCCESS", "appid": sim.appid, "mch_id": sim.mch_id,
                    "nonce_str": "n", "result_code": "FAIL", **fields}  # fmt: skip
            return xmlcodec.encode_as_wechat(sign.signed(body, sim.api_key))

        return reply

    with running_gateway() as gateway:
        gateway.answer(
            "/secapi/pay/refund",
            signed(err_code="SYSTEMERROR", err_code_des="系统超时"),
            signed(err_code="NOTENOUGH", err_code_des="基本账户余额不足，请充值后重新发起"),
        )
        gateway.answer("/pay/refundquery", signed(err_code="REFUNDNOTEXIST", err_code_des="退款订单查询失败"))
        merchant = dataclasses.replace(config.merchant, api_base=gateway.url)
        with WeChatPayClient.from_config(merchant, backoff=0) as fake:
            service = RefundService(ledger, fake, config.replace(merchant=merchant))
            with pytest.raises(RefundPending) as busy:
                service.refund(sale.id, 500)
            assert busy.value.code == "pending_busy"
            number = busy.value.refund.out_refund_no
            with pytest.raises(RefundError) as refused:
                service.refund(sale.id, 500)  # the retry: same number, now a definite no
        sent = [s.fields["out_refund_no"] for s in gateway.requests_to("/secapi/pay/refund")]
    assert sent == [number, number]
    assert refused.value.code == "refused"
    assert "NOTENOUGH" in str(refused.value)
    assert refused.value.refund.state is RefundState.FAILED
    after = ledger.get_sale(sale.id)
    assert after.state is SaleState.PAID and after.refundable_fee == 500  # released
    assert [f.kind.value for f in ledger.flags_for_sale(sale.id)] == ["refund_failed"]


# -- the certificate ----------------------------------------------------------------------------------


def with_cert(config, **changes):
    return config.replace(merchant=dataclasses.replace(config.merchant, **changes))


def test_missing_certificate_settings_are_refused_naming_them(ledger, client, sim, config):
    sale = paid_sale(ledger, client, sim, total=400)
    for changes in ({"cert_file": ""}, {"key_file": ""}):
        with pytest.raises(RefundError) as refused:
            RefundService(ledger, client, with_cert(config, **changes)).refund(sale.id, 100)
        assert refused.value.code == "certificate_missing"
        assert "cert_file and key_file" in str(refused.value) and "[merchant]" in str(refused.value)
    zh = config.replace(store=dataclasses.replace(config.store, language="zh-CN"))
    with pytest.raises(RefundError, match="请在配置文件 \\[merchant\\] 中设置 cert_file 和 key_file"):
        RefundService(ledger, client, with_cert(zh, cert_file="")).refund(sale.id, 100)
    assert ledger.refunds_for_sale(sale.id) == []
    assert sim_refunds(sim, sale.out_trade_no) == []


def test_unreadable_certificate_files_are_refused_naming_the_setting(ledger, client, sim, config, tmp_path):
    sale = paid_sale(ledger, client, sim, total=400)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    locked = tmp_path / "locked.pem"
    locked.write_bytes(Path(config.merchant.key_file).read_bytes())
    locked.chmod(0)
    cases = [
        ({"cert_file": str(tmp_path / "nope.pem")}, "cert_file", "there is no such file"),
        ({"cert_file": str(garbage)}, "cert_file", "not a PEM certificate"),
        ({"key_file": str(garbage)}, "key_file", "not an unencrypted PEM private key"),
        ({"key_file": config.merchant.cert_file}, "key_file", "not an unencrypted PEM private key"),
    ]
    if not Path(locked).stat().st_mode & 0o400 and not _is_root():
        cases.append(({"key_file": str(locked)}, "key_file", "permission denied"))
    for changes, key, problem in cases:
        with pytest.raises(RefundError) as refused:
            RefundService(ledger, client, with_cert(config, **changes)).refund(sale.id, 100)
        assert refused.value.code == "certificate_unreadable", changes
        assert f"[merchant] {key}" in str(refused.value) and problem in str(refused.value)
    _, other_key = client_certificate(sim.pki, "another")
    with pytest.raises(RefundError) as mismatch:
        RefundService(ledger, client, with_cert(config, key_file=other_key)).refund(sale.id, 100)
    assert mismatch.value.code == "certificate_mismatch"
    assert ledger.refunds_for_sale(sale.id) == []


def _is_root() -> bool:
    import os

    return os.geteuid() == 0


def test_simulator_refuses_a_refund_without_the_client_certificate(sim, config, client, ledger):
    sale = paid_sale(ledger, client, sim, total=300)
    fields = {"appid": sim.appid, "mch_id": sim.mch_id, "nonce_str": "abc", "out_trade_no": sale.out_trade_no,
              "out_refund_no": "X-R1", "total_fee": "300", "refund_fee": "300"}  # fmt: skip
    body = xmlcodec.encode(sign.signed(fields, sim.api_key))
    url = sim.tls_base_url + "/secapi/pay/refund"
    verify = str(sim.pki.ca_file)
    # No certificate: what WeChat's front answers.
    answer = requests.post(url, data=body, verify=verify, timeout=10)
    assert answer.status_code == 400 and b"No required SSL certificate was sent" in answer.content
    # A certificate of another CA: the TLS handshake fails.
    with pytest.raises(requests.exceptions.RequestException):
        stranger = (str(sim.pki.stranger_cert), str(sim.pki.stranger_key))
        requests.post(url, data=body, verify=verify, timeout=10, cert=stranger)
    # Another merchant's certificate of the right CA: refused by WeChat's rule.
    other = client_certificate(sim.pki, "19999999")
    answer = requests.post(url, data=body, verify=verify, timeout=10, cert=other)
    assert xmlcodec.decode(answer.content) == {"return_code": "FAIL", "return_msg": "certificate not match"}
    assert sim_refunds(sim, sale.out_trade_no) == []
    # The client without a certificate configured: the refund stays unknown, never "done".
    with make_client(config, sim, retries=0) as bare:
        bare.cert = None
        with pytest.raises(TransportError, match="HTTP 400"):
            bare.refund(out_refund_no="X-R1", total_fee=300, refund_fee=300, out_trade_no=sale.out_trade_no)


def test_a_stranger_certificate_in_the_config_leaves_nothing_refunded(ledger, client, sim, config):
    sale = paid_sale(ledger, client, sim, total=300)
    stranger = with_cert(config, cert_file=str(sim.pki.stranger_cert), key_file=str(sim.pki.stranger_key))
    with make_client(stranger, sim, retries=0) as other, pytest.raises(RefundPending) as pending:
        RefundService(ledger, other, stranger).refund(sale.id, 300)
    assert pending.value.code == "pending_tls"
    assert "cert_file / key_file" in str(pending.value)
    assert sim_refunds(sim, sale.out_trade_no) == []
    # With the right certificate the pending refund goes through under its number.
    refunds = RefundService(ledger, client, config).sync(sale.id)
    assert [r.state for r in refunds] == [RefundState.SUCCEEDED]
    assert [r["out_refund_no"] for r in sim_refunds(sim, sale.out_trade_no)] == [refunds[0].out_refund_no]


# -- the notify URL -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("notify_url", "refund_url", "expected"),
    [
        ("http://127.0.0.1:8701/wechatpay/notify", "", "http://127.0.0.1:8701/wechatpay/refund-notify"),
        ("https://shop.example/pos/wechatpay/notify", "", "https://shop.example/pos/wechatpay/refund-notify"),
        ("https://shop.example/hooks/pay", "", "https://shop.example/wechatpay/refund-notify"),
        ("https://shop.example/wechatpay/notify", "https://r.example/x", "https://r.example/x"),
    ],
)
def test_refund_notify_url(config, notify_url, refund_url, expected):
    assert (
        refund_notify_url(with_cert(config, notify_url=notify_url, refund_notify_url=refund_url)) == expected
    )
