"""The simulator's HTTPS port: a throwaway CA, the merchant's client certificate on /secapi/, and
its bill for today (the demo reconciles its own shift)."""

from __future__ import annotations

import socket
import ssl
import stat
from datetime import datetime

import pytest
import requests
from cryptography import x509
from cryptography.x509.oid import ExtensionOID, NameOID

from pos.sandbox.clock import BEIJING
from pos.sandbox.testing import running_simulator
from pos.sandbox.tls import client_certificate, make_pki, server_context
from pos.web import BackgroundServer
from pos.wechatpay import WeChatPayClient, sign, xmlcodec
from pos.wechatpay.bills import parse_bill
from pos.wechatpay.errors import TransportError


@pytest.fixture
def sim():
    with running_simulator(tls=True, time_scale=0.0001) as running:
        yield running


def load(path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_make_pki_writes_a_ca_a_server_and_client_certificates(tmp_path):
    pki = make_pki(tmp_path / "pki", mch_id="1900000109")
    ca, server, client, stranger = (load(p) for p in (pki.ca_file, pki.server_cert, pki.client_cert,
                                                     pki.stranger_cert))  # fmt: skip
    server.verify_directly_issued_by(ca)
    client.verify_directly_issued_by(ca)
    with pytest.raises((ValueError, Exception)):
        stranger.verify_directly_issued_by(ca)
    names = server.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    assert {str(ip) for ip in names.get_values_for_type(x509.IPAddress)} == {"127.0.0.1"}
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert client.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "1900000109"
    for key in (pki.server_key, pki.client_key, pki.stranger_key, pki.ca_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert pki.client == (str(pki.client_cert), str(pki.client_key))


def test_background_server_serves_https_and_stops(tmp_path):
    pki = make_pki(tmp_path, mch_id="1")

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [environ["wsgi.url_scheme"].encode(), b" ", environ.get("SSL_CLIENT_CERT", "-")[:27].encode()]

    server = BackgroundServer(app, ssl_context=server_context(pki)).start()
    try:
        assert server.base_url.startswith("https://127.0.0.1:")
        assert requests.get(server.base_url, verify=str(pki.ca_file), timeout=5).text == "https -"
        with_cert = requests.get(server.base_url, verify=str(pki.ca_file), cert=pki.client, timeout=5)
        assert with_cert.text == "https -----BEGIN CERTIFICATE-----"
        # A client that does not trust the throwaway CA refuses the server.
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(server.base_url, timeout=5)
        # A handshake that fails costs only that connection.
        stranger = (str(pki.stranger_cert), str(pki.stranger_key))
        with pytest.raises(requests.exceptions.RequestException):
            requests.get(server.base_url, verify=str(pki.ca_file), cert=stranger, timeout=5)
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
            raw.sendall(b"GET / HTTP/1.0\r\n\r\n")  # plain HTTP to a TLS port
        # A client that connects and says nothing holds only its own connection.
        with socket.create_connection(("127.0.0.1", server.port), timeout=5):
            assert requests.get(server.base_url, verify=str(pki.ca_file), timeout=5).ok
    finally:
        server.stop()
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(server.base_url, verify=str(pki.ca_file), timeout=2)


def signed_refund(sim, out_trade_no: str, total: int, out_refund_no: str = "T-R1") -> bytes:
    fields = {"appid": sim.appid, "mch_id": sim.mch_id, "nonce_str": "nonce123", "out_trade_no": out_trade_no,
              "out_refund_no": out_refund_no, "total_fee": str(total), "refund_fee": str(total)}  # fmt: skip
    return xmlcodec.encode(sign.signed(fields, sim.api_key))


def paid_order(sim, client: WeChatPayClient, out_trade_no: str, total: int = 500) -> str:
    order = client.unified_order(
        out_trade_no=out_trade_no, total_fee=total, body="测试", notify_url="http://127.0.0.1:9/n",
        product_id="P1", spbill_create_ip="127.0.0.1",
    )  # fmt: skip
    return sim.pay(order.code_url, notify=False)


@pytest.mark.parametrize("prefix", ["", "/sandboxnew"])
def test_secapi_needs_the_merchants_certificate(sim, prefix):
    verify = str(sim.pki.ca_file)
    url = sim.tls_base_url + prefix + "/secapi/pay/refund"
    body = signed_refund(sim, "T20990101000001", 500)

    missing = requests.post(url, data=body, verify=verify, timeout=10)
    assert missing.status_code == 400
    assert b"No required SSL certificate was sent" in missing.content

    stranger = (str(sim.pki.stranger_cert), str(sim.pki.stranger_key))
    with pytest.raises(requests.exceptions.RequestException) as failed:
        requests.post(url, data=body, verify=verify, cert=stranger, timeout=10)
    assert isinstance(failed.value, requests.exceptions.SSLError | requests.exceptions.ConnectionError)

    other = requests.post(
        url, data=body, verify=verify, cert=client_certificate(sim.pki, "12345"), timeout=10
    )
    assert xmlcodec.decode(other.content) == {"return_code": "FAIL", "return_msg": "certificate not match"}

    # With the right certificate the request reaches the API (here: the sign or the order is judged).
    right = xmlcodec.decode(
        requests.post(url, data=body, verify=verify, cert=sim.pki.client, timeout=10).content
    )
    assert right.get("return_msg") != "certificate not match"
    assert "result_code" in right or right["return_code"] == "FAIL"


def test_refund_over_mutual_tls_and_queries_without_a_certificate(sim):
    plain = WeChatPayClient(sim.appid, sim.mch_id, sim.api_key, api_base=sim.tls_base_url,
                            verify=str(sim.pki.ca_file), retries=0)  # fmt: skip
    paid_order(sim, plain, "T20990101000002", 500)
    assert plain.query_order("T20990101000002").trade_state == "SUCCESS"  # no certificate needed
    with pytest.raises(TransportError, match="HTTP 400"):
        plain.refund(out_refund_no="T2-R1", total_fee=500, refund_fee=200, out_trade_no="T20990101000002")
    plain.cert = sim.pki.client
    accepted = plain.refund(
        out_refund_no="T2-R1", total_fee=500, refund_fee=200, out_trade_no="T20990101000002"
    )
    assert accepted.refund_fee == 200 and accepted.refund_id
    status = plain.refund_query(out_refund_no="T2-R1")
    assert [(r.out_refund_no, r.refund_status) for r in status.refunds] == [("T2-R1", "SUCCESS")]
    # The plain HTTP port stays as it was (a simulator convenience; WeChat itself has none).
    assert sim.base_url.startswith("http://")


def test_todays_bill_is_available_with_its_refunds(sim):
    client = WeChatPayClient(sim.appid, sim.mch_id, sim.api_key, api_base=sim.tls_base_url,
                             verify=str(sim.pki.ca_file), cert=sim.pki.client, retries=0)  # fmt: skip
    transaction_id = paid_order(sim, client, "T20990101000003", 900)
    client.refund(out_refund_no="T3-R1", total_fee=900, refund_fee=300, out_trade_no="T20990101000003")
    today = datetime.fromtimestamp(sim.sim.clock.now(), BEIJING).date()
    bill = parse_bill(client.download_bill(today))
    rows = [(r.out_trade_no, r.trade_state, r.transaction_id) for r in bill.rows]
    assert ("T20990101000003", "SUCCESS", transaction_id) in rows
    assert ("T20990101000003", "REFUND", transaction_id) in rows


def test_server_context_requires_nothing_from_plain_queries_but_verifies_what_is_sent(tmp_path):
    context = server_context(make_pki(tmp_path, mch_id="1"))
    assert context.verify_mode is ssl.CERT_OPTIONAL
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
