"""``pos sim --tls-port`` as a real subprocess: the certificate-checked paths (refund, reverse)
are served over HTTPS to the merchant's client certificate only, and refused on the plain port
the way WeChat refuses a request without a certificate."""

from __future__ import annotations

import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from pos.config import DEMO_API_KEY, DEMO_APPID, DEMO_MCH_ID
from pos.wechatpay import WeChatPayClient, sign, xmlcodec
from pos.wechatpay.errors import TransportError

NO_CERT = b"No required SSL certificate was sent"


def start(*args: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "pos.cli", "sim", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if line.startswith("Ctrl-C"):
            break
    return proc, "\n".join(lines)


def stop(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()


def field(text: str, name: str) -> str:
    match = re.search(rf"^  {name}\s+(\S+)", text, re.MULTILINE)
    assert match, f"no {name} in:\n{text}"
    return match.group(1)


def reverse_body(out_trade_no: str) -> bytes:
    fields = {"appid": DEMO_APPID, "mch_id": DEMO_MCH_ID, "nonce_str": "n0nce", "out_trade_no": out_trade_no}
    return xmlcodec.encode(sign.signed(fields, DEMO_API_KEY))


@pytest.fixture
def cli_sim(tmp_path):
    proc, text = start(
        "--port", "0", "--tls-port", "0", "--pki-dir", str(tmp_path / "pki"), "--time-scale", "0.001"
    )
    try:
        assert proc.poll() is None, text
        yield text
    finally:
        assert stop(proc) == 0


def test_refund_needs_the_tls_port_and_the_merchants_certificate(cli_sim, tmp_path):
    text = cli_sim
    base = re.search(r"simulator at (http://127\.0\.0\.1:\d+)", text).group(1)
    tls = field(text, "tls")
    ca_file, cert_file, key_file = field(text, "ca_file"), field(text, "cert_file"), field(text, "key_file")
    assert tls.startswith("https://127.0.0.1:") and tls != base.replace("http", "https")
    assert Path(cert_file).parent == tmp_path / "pki"
    assert stat.S_IMODE(Path(key_file).stat().st_mode) == 0o600

    client = WeChatPayClient(DEMO_APPID, DEMO_MCH_ID, DEMO_API_KEY, api_base=base, retries=0)
    order = client.unified_order(
        out_trade_no="T20990101000101", total_fee=500, body="测试", notify_url="http://127.0.0.1:9/n",
        product_id="P1", spbill_create_ip="127.0.0.1",
    )  # fmt: skip
    paid = requests.post(base + "/_sim/pay", json={"code_url": order.code_url, "notify": False}, timeout=10)
    assert paid.ok, paid.text
    refund = {
        "out_refund_no": "T101-R1",
        "total_fee": 500,
        "refund_fee": 200,
        "out_trade_no": "T20990101000101",
    }

    # The plain port: refused as WeChat refuses a request without a certificate, even with one
    # configured (plain HTTP carries none); the other paths are served as before.
    with pytest.raises(TransportError, match="HTTP 400"):
        client.refund(**refund)
    for path in ("/secapi/pay/refund", "/secapi/pay/reverse", "/sandboxnew/secapi/pay/refund"):
        refused = requests.post(base + path, data=reverse_body("T20990101000101"), timeout=10)
        assert refused.status_code == 400 and NO_CERT in refused.content, path
    assert client.query_order("T20990101000101").trade_state == "SUCCESS"

    # The TLS port without a certificate: the same refusal.
    secure = WeChatPayClient(DEMO_APPID, DEMO_MCH_ID, DEMO_API_KEY, api_base=tls, verify=ca_file, retries=0)
    with pytest.raises(TransportError, match="HTTP 400"):
        secure.refund(**refund)
    bare = requests.post(tls + "/secapi/pay/reverse", data=reverse_body("T20990101000101"), verify=ca_file,
                         timeout=10)  # fmt: skip
    assert bare.status_code == 400 and NO_CERT in bare.content
    # A certificate the simulator did not issue does not get through the handshake.
    stranger = (str(tmp_path / "pki" / "stranger_cert.pem"), str(tmp_path / "pki" / "stranger_key.pem"))
    with pytest.raises(requests.exceptions.RequestException):
        requests.post(tls + "/secapi/pay/refund", data=b"<xml/>", verify=ca_file, cert=stranger, timeout=10)
    assert [
        r for o in requests.get(base + "/_sim/orders", timeout=10).json()["orders"] for r in o["refunds"]
    ] == []

    # With the merchant's certificate the refund goes through, exactly once.
    secure.cert = (cert_file, key_file)
    accepted = secure.refund(**refund)
    assert accepted.refund_fee == 200 and accepted.refund_id
    status = secure.refund_query(out_refund_no="T101-R1")
    assert [(r.out_refund_no, r.refund_status) for r in status.refunds] == [("T101-R1", "SUCCESS")]


def test_the_pki_dir_is_kept_across_restarts_and_bad_options_are_refused(tmp_path):
    folder = tmp_path / "pki"
    first, text = start("--port", "0", "--tls-port", "0", "--pki-dir", str(folder))
    try:
        cert = Path(field(text, "cert_file")).read_bytes()
    finally:
        assert stop(first) == 0
    second, text = start("--port", "0", "--tls-port", "0", "--pki-dir", str(folder))
    try:
        assert Path(field(text, "cert_file")).read_bytes() == cert  # a till's config stays right
    finally:
        assert stop(second) == 0
    for args, message in [
        (["--port", "0", "--pki-dir", str(folder)], "--pki-dir needs --tls-port"),
        (["--port", "0", "--tls-port", "70000"], "--tls-port must be 0..65535"),
    ]:
        done = subprocess.run([sys.executable, "-m", "pos.cli", "sim", *args], capture_output=True, text=True,
                              timeout=30)  # fmt: skip
        assert done.returncode == 2 and message in done.stdout + done.stderr


def test_without_tls_port_the_plain_port_says_where_refunds_go():
    proc, text = start("--port", "0")
    try:
        assert "/secapi/" in text and "--tls-port" in text
        base = re.search(r"simulator at (http://127\.0\.0\.1:\d+)", text).group(1)
        refused = requests.post(base + "/secapi/pay/refund", data=b"<xml/>", timeout=10)
        assert refused.status_code == 400 and NO_CERT in refused.content
    finally:
        assert stop(proc) == 0
