"""The client over real HTTP on loopback (waitress), against canned WeChat answers."""

from __future__ import annotations

import gzip
from datetime import UTC, date, datetime, timedelta
from typing import ClassVar

import pytest
import requests

from pos import config
from pos.wechatpay import sign as signing
from pos.wechatpay import xmlcodec
from pos.wechatpay.answers import split_indexed
from pos.wechatpay.bills import ALL_COLUMNS, SUMMARY_COLUMNS, parse_bill
from pos.wechatpay.client import WeChatPayClient
from pos.wechatpay.errors import (
    BillNotReady,
    BusinessError,
    InvalidField,
    MalformedXml,
    NoBill,
    ProtocolFail,
    SignatureError,
    TransportError,
    TransportTimeout,
    WrongMerchant,
)
from pos.wechatpay.testing import APPID, HANG, KEY, MCH_ID, business_fail, ok, protocol_fail
from pos.wechatpay.times import BEIJING

ORDER = {
    "out_trade_no": "S01-01-20240101-0001",
    "total_fee": 1250,
    "body": "演示小店-咖啡",
    "notify_url": "https://example.com/wxpay/notify",
    "product_id": "SKU-001",
    "spbill_create_ip": "14.23.150.211",
}
CODE_URL = "weixin://wxpay/bizpayurl?pr=GkbUkg4"
PREPAY = {"prepay_id": "wx0311543778510878f3e2a5913212262979", "code_url": CODE_URL, "trade_type": "NATIVE"}


def make_client(gateway_or_url, **options) -> WeChatPayClient:
    url = gateway_or_url if isinstance(gateway_or_url, str) else gateway_or_url.url
    options.setdefault("backoff", 0)
    options.setdefault("timeout", 5)
    return WeChatPayClient(APPID, MCH_ID, KEY, api_base=url, **options)


# -- unified order ------------------------------------------------------------------------------------


@pytest.mark.parametrize("sign_type", ["MD5", "HMAC-SHA256"])
def test_unified_order_success(gateway, sign_type):
    gateway.answer("/pay/unifiedorder", ok(**PREPAY))
    start = datetime(2024, 1, 1, 4, 0, 0, tzinfo=UTC)
    order = make_client(gateway, sign_type=sign_type).unified_order(
        **ORDER, time_start=start, time_expire=start + timedelta(minutes=15), attach="till-01"
    )
    assert order.code_url == CODE_URL and order.prepay_id == PREPAY["prepay_id"]
    assert order.fields["return_msg"] == "OK"

    (seen,) = gateway.requests_to("/pay/unifiedorder")
    sent = seen.fields
    signing.verify(sent, KEY, sign_type)
    assert sent["trade_type"] == "NATIVE" and sent["total_fee"] == "1250" and sent["body"] == "演示小店-咖啡"
    assert sent["time_start"] == "20240101120000" and sent["time_expire"] == "20240101121500"  # Beijing
    assert sent["appid"] == APPID and sent["mch_id"] == MCH_ID and len(sent["nonce_str"]) == 32
    assert ("sign_type" in sent) == (sign_type == "HMAC-SHA256")
    assert "openid" not in sent and "device_info" not in sent  # None is not sent


def test_unified_order_extra_fields_are_sent_and_signed(gateway):
    gateway.answer("/pay/unifiedorder", ok(**PREPAY))
    make_client(gateway).unified_order(**ORDER, device_info="till-01", extra={"limit_pay": "no_credit"})
    sent = gateway.seen[0].fields
    assert sent["limit_pay"] == "no_credit" and sent["device_info"] == "till-01"
    signing.verify(sent, KEY)


@pytest.mark.parametrize("total_fee", [0, -1, 12.5, "1250", True])
def test_unified_order_refuses_non_fen_amounts(gateway, total_fee):
    with pytest.raises(ValueError, match="fen"):
        make_client(gateway).unified_order(**{**ORDER, "total_fee": total_fee})
    assert gateway.seen == []


def test_unified_order_refuses_naive_times(gateway):
    with pytest.raises(ValueError, match="timezone-aware"):
        make_client(gateway).unified_order(**ORDER, time_expire=datetime(2024, 1, 1, 12))


def test_protocol_fail_carries_return_msg(gateway):
    gateway.answer("/pay/unifiedorder", protocol_fail("签名错误"))
    with pytest.raises(ProtocolFail) as info:
        make_client(gateway).unified_order(**ORDER)
    assert info.value.return_msg == "签名错误"
    assert len(gateway.seen) == 1  # an answer, not retried


def test_protocol_fail_in_retmsg_form(gateway):
    gateway.answer(
        "/pay/unifiedorder",
        b"<xml><return_code><![CDATA[FAIL]]></return_code>"
        b"<retmsg><![CDATA[\xe8\xaf\xb7\xe7\xa1\xae\xe8\xae\xa4\xe8\xaf\xb7\xe6\xb1\x82\xe5\x8f\x82\xe6\x95\xb0"
        b"\xe6\x98\xaf\xe5\x90\xa6\xe6\xad\xa3\xe7\xa1\xaeparam mch_id invalid]]></retmsg>"
        b"<retcode><![CDATA[1]]></retcode></xml>",
    )
    with pytest.raises(ProtocolFail, match="param mch_id invalid") as info:
        make_client(gateway).unified_order(**ORDER)
    assert info.value.fields["retcode"] == "1"


def test_business_error_carries_err_code(gateway):
    gateway.answer("/pay/unifiedorder", business_fail("ORDERPAID", "商户订单已支付"))
    with pytest.raises(BusinessError) as info:
        make_client(gateway).unified_order(**ORDER)
    assert (info.value.err_code, info.value.err_code_des) == ("ORDERPAID", "商户订单已支付")
    assert info.value.fields["result_code"] == "FAIL"
    assert len(gateway.seen) == 1


def test_missing_response_sign(gateway):
    unsigned = {
        "return_code": "SUCCESS",
        "result_code": "SUCCESS",
        "appid": APPID,
        "mch_id": MCH_ID,
        **PREPAY,
    }
    gateway.answer("/pay/unifiedorder", xmlcodec.encode_as_wechat(unsigned))
    with pytest.raises(SignatureError, match="no sign"):
        make_client(gateway).unified_order(**ORDER)
    assert len(gateway.seen) == 1


def test_wrong_response_sign(gateway):
    def forged(request):
        fields = xmlcodec.decode(ok(**PREPAY)(request))
        return xmlcodec.encode_as_wechat({**fields, "code_url": "weixin://wxpay/bizpayurl?pr=EVIL"})

    gateway.answer("/pay/unifiedorder", forged)
    with pytest.raises(SignatureError, match="does not match"):
        make_client(gateway).unified_order(**ORDER)


def test_response_signed_with_another_algorithm_is_refused(gateway):
    gateway.answer("/pay/unifiedorder", lambda request: ok(**PREPAY)({}))  # MD5 although we asked HMAC
    with pytest.raises(SignatureError):
        make_client(gateway, sign_type="HMAC-SHA256").unified_order(**ORDER)


def test_business_error_with_bad_sign_is_a_signature_error(gateway):
    gateway.answer(
        "/pay/unifiedorder",
        xmlcodec.encode_as_wechat(
            {"return_code": "SUCCESS", "result_code": "FAIL", "err_code": "ORDERPAID", "sign": "X"}
        ),
    )
    with pytest.raises(SignatureError):
        make_client(gateway).unified_order(**ORDER)


def test_answer_for_another_merchant(gateway):
    gateway.answer("/pay/unifiedorder", ok(**PREPAY, mch_id="99999999"))
    with pytest.raises(WrongMerchant):
        make_client(gateway).unified_order(**ORDER)


def test_success_without_code_url(gateway):
    gateway.answer("/pay/unifiedorder", ok(prepay_id="wx1"))
    with pytest.raises(InvalidField, match="code_url"):
        make_client(gateway).unified_order(**ORDER)


def test_answer_that_is_not_xml(gateway):
    gateway.answer("/pay/unifiedorder", b"<html>gateway error</html")
    with pytest.raises(MalformedXml):
        make_client(gateway).unified_order(**ORDER)


# -- transport --------------------------------------------------------------------------------------


def test_hanging_server_times_out(gateway):
    gateway.answer("/pay/orderquery", HANG)
    client = make_client(gateway, timeout=0.3, retries=0)
    with pytest.raises(TransportTimeout, match=r"no answer within 0\.3s"):
        client.query_order("S01-01-20240101-0001")


def test_connection_refused(dead_url):
    with pytest.raises(TransportError) as info:
        make_client(dead_url, retries=1).query_order("S01-01-20240101-0001")
    assert not isinstance(info.value, TransportTimeout)
    assert "ConnectionError" in str(info.value)


def test_http_5xx_is_a_transport_error_after_retries(gateway):
    gateway.answer("/pay/closeorder", (502, b"bad gateway"))
    with pytest.raises(TransportError, match="HTTP 502"):
        make_client(gateway, retries=2).close_order("S01-01-20240101-0001")
    assert len(gateway.seen) == 3


def test_http_4xx_is_not_retried(gateway):
    gateway.answer("/pay/orderquery", (403, b"forbidden"))
    with pytest.raises(TransportError, match="HTTP 403"):
        make_client(gateway, retries=2).query_order("S01")
    assert len(gateway.seen) == 1


@pytest.mark.parametrize(
    ("path", "call"),
    [
        ("/pay/orderquery", lambda c: c.query_order("S01-01-20240101-0001")),
        ("/pay/closeorder", lambda c: c.close_order("S01-01-20240101-0001")),
        ("/tools/shorturl", lambda c: c.short_url("weixin://wxpay/bizpayurl?x=1")),
        ("/pay/refundquery", lambda c: c.refund_query(out_refund_no="R1")),
        ("/pay/unifiedorder", lambda c: c.unified_order(**ORDER)),
        (
            "/secapi/pay/refund",
            lambda c: c.refund(out_refund_no="R1", out_trade_no="S01", total_fee=9, refund_fee=9),
        ),
    ],
    ids=["query", "close", "shorturl", "refundquery", "unifiedorder", "refund"],
)
def test_retries_resend_the_identical_bytes(gateway, path, call):
    answer = ok(
        trade_state="NOTPAY", short_url="weixin://wxpay/s/abc", refund_count="0", refund_fee="9", **PREPAY
    )
    gateway.answer(path, (503, b"busy"), (500, b"oops"), answer)
    call(make_client(gateway, retries=2))
    bodies = [seen.body for seen in gateway.requests_to(path)]
    assert len(bodies) == 3
    assert bodies[0] == bodies[1] == bodies[2]  # same nonce, same sign, same out_trade_no / out_refund_no


def test_timeout_then_success_is_retried(gateway):
    gateway.answer("/pay/orderquery", HANG, ok(trade_state="NOTPAY", out_trade_no="S01"))
    status = make_client(gateway, timeout=0.3, retries=1).query_order("S01")
    assert status.trade_state == "NOTPAY"
    assert len(gateway.seen) == 2


@pytest.mark.parametrize(
    "answer",
    [
        protocol_fail("SYSTEMERROR"),
        business_fail("SYSTEMERROR", "系统超时"),
        xmlcodec.encode_as_wechat({"return_code": "SUCCESS"}),
    ],
    ids=["protocol-fail", "business-error", "unsigned"],
)
def test_answers_are_never_retried(gateway, answer):
    gateway.answer("/pay/unifiedorder", answer, ok(**PREPAY))
    with pytest.raises((ProtocolFail, BusinessError, SignatureError)):
        make_client(gateway, retries=2).unified_order(**ORDER)
    assert len(gateway.seen) == 1


def test_every_call_has_a_timeout(gateway):
    class Recording(requests.Session):
        def __init__(self):
            super().__init__()
            self.calls = []

        def post(self, url, **kwargs):
            self.calls.append(kwargs)
            return super().post(url, **kwargs)

    gateway.answer("/pay/orderquery", ok(trade_state="NOTPAY"))
    session = Recording()
    make_client(gateway, session=session, timeout=2.5).query_order("S01")
    assert session.calls[0]["timeout"] == 2.5


# -- query, close, shorturl -------------------------------------------------------------------------------


def test_query_paid_order(gateway):
    gateway.answer(
        "/pay/orderquery",
        ok(
            trade_state="SUCCESS",
            out_trade_no="S01-01-20240101-0001",
            transaction_id="4200000000202401011234567890",
            total_fee="1250",
            cash_fee="1250",
            time_end="20240101120105",
            openid="oUpF8uMEb4qRXf22hE3X68TekukE",
            bank_type="OTHERS",
            coupon_fee_0="1",
        ),
    )
    status = make_client(gateway).query_order(out_trade_no="S01-01-20240101-0001")
    assert status.trade_state == "SUCCESS" and status.paid
    assert status.total_fee == 1250 and status.cash_fee == 1250
    assert status.time_end == datetime(2024, 1, 1, 12, 1, 5, tzinfo=BEIJING)
    assert status.transaction_id == "4200000000202401011234567890"
    assert status.openid == "oUpF8uMEb4qRXf22hE3X68TekukE"
    assert status.fields["bank_type"] == "OTHERS" and status.fields["coupon_fee_0"] == "1"
    assert gateway.seen[0].fields["out_trade_no"] == "S01-01-20240101-0001"
    assert "transaction_id" not in gateway.seen[0].fields


def test_query_unpaid_order_subset(gateway):
    gateway.answer(
        "/pay/orderquery",
        ok(
            trade_state="NOTPAY",
            trade_state_desc="订单未支付",
            out_trade_no="S01",
            total_fee="1",
            device_info="",
        ),
    )
    status = make_client(gateway).query_order(transaction_id="4200000000202401011234567890")
    assert (status.trade_state, status.trade_state_desc, status.paid) == ("NOTPAY", "订单未支付", False)
    assert status.time_end is None and status.transaction_id == ""
    assert gateway.seen[0].fields["transaction_id"] == "4200000000202401011234567890"


def test_query_unknown_order(gateway):
    gateway.answer("/pay/orderquery", business_fail("ORDERNOTEXIST", "此交易订单号不存在"))
    with pytest.raises(BusinessError) as info:
        make_client(gateway).query_order("S01")
    assert info.value.err_code == "ORDERNOTEXIST"


def test_query_needs_a_number(gateway):
    with pytest.raises(ValueError):
        make_client(gateway).query_order()


def test_close_order(gateway):
    gateway.answer("/pay/closeorder", ok(result_msg="OK"))
    closed = make_client(gateway).close_order("S01-01-20240101-0001")
    assert closed.out_trade_no == "S01-01-20240101-0001" and closed.fields["result_msg"] == "OK"
    assert gateway.seen[0].fields["out_trade_no"] == "S01-01-20240101-0001"


def test_close_paid_order(gateway):
    gateway.answer("/pay/closeorder", business_fail("ORDERPAID", "订单已支付，不能发起关单"))
    with pytest.raises(BusinessError) as info:
        make_client(gateway).close_order("S01")
    assert info.value.err_code == "ORDERPAID"


def test_short_url(gateway):
    gateway.answer("/tools/shorturl", ok(short_url="weixin://wxpay/s/An4baqw"))
    long_url = "weixin://wxpay/bizpayurl?sign=X&appid=a&mch_id=b&product_id=1&time_stamp=1&nonce_str=n"
    assert make_client(gateway).short_url(long_url) == "weixin://wxpay/s/An4baqw"
    assert gateway.seen[0].fields["long_url"] == long_url  # signed over the raw string


# -- refunds --------------------------------------------------------------------------------------------


@pytest.fixture
def client_cert(tmp_path):
    """A throwaway self-signed client certificate and key, as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, MCH_ID)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "apiclient_cert.pem", tmp_path / "apiclient_key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return str(cert_file), str(key_file)


def test_refund_uses_the_client_certificate(gateway, client_cert):
    class Recording(requests.Session):
        certs: ClassVar[list] = []

        def post(self, url, **kwargs):
            self.certs.append(kwargs.get("cert"))
            return super().post(url, **kwargs)

    gateway.answer(
        "/secapi/pay/refund",
        ok(
            out_trade_no="S01",
            out_refund_no="R1",
            refund_id="5000",
            refund_fee="250",
            total_fee="1250",
            cash_refund_fee="250",
        ),
    )
    gateway.answer("/pay/orderquery", ok(trade_state="REFUND"))
    client = make_client(gateway, session=Recording(), cert=client_cert)
    accepted = client.refund(
        out_refund_no="R1", out_trade_no="S01", total_fee=1250, refund_fee=250, refund_desc="退货"
    )
    client.query_order("S01")
    assert Recording.certs == [client_cert, None]  # only the refund presents the certificate
    assert (accepted.refund_id, accepted.refund_fee, accepted.total_fee, accepted.cash_refund_fee) == (
        "5000",
        250,
        1250,
        250,
    )
    sent = gateway.requests_to("/secapi/pay/refund")[0].fields
    assert (sent["out_refund_no"], sent["refund_fee"], sent["total_fee"], sent["refund_desc"]) == (
        "R1",
        "250",
        "1250",
        "退货",
    )


def test_refund_with_missing_certificate_file(gateway):
    gateway.answer("/secapi/pay/refund", ok())
    client = make_client(gateway, cert=("/nonexistent/cert.pem", "/nonexistent/key.pem"))
    with pytest.raises(TransportError, match="certificate"):
        client.refund(out_refund_no="R1", out_trade_no="S01", total_fee=1, refund_fee=1)
    assert gateway.seen == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"out_refund_no": "R1", "total_fee": 1, "refund_fee": 1},
        {"out_refund_no": "R1", "out_trade_no": "S01", "total_fee": 1, "refund_fee": 2},
        {"out_refund_no": "R1", "out_trade_no": "S01", "total_fee": 1, "refund_fee": 0},
    ],
    ids=["no-order", "more-than-paid", "zero"],
)
def test_refund_argument_checks(gateway, kwargs):
    with pytest.raises(ValueError):
        make_client(gateway).refund(**kwargs)


def test_refund_query_turns_indexed_fields_into_a_list(gateway):
    gateway.answer(
        "/pay/refundquery",
        ok(
            out_trade_no="S01",
            transaction_id="4200000000202401011234567890",
            total_fee="1250",
            refund_count="2",
            out_refund_no_0="R1",
            refund_id_0="5001",
            refund_fee_0="250",
            refund_status_0="SUCCESS",
            refund_channel_0="ORIGINAL",
            refund_recv_accout_0="支付用户的零钱",
            refund_success_time_0="2024-01-01 13:00:04",
            coupon_refund_fee_0_0="1",
            out_refund_no_1="R2",
            refund_fee_1="100",
            refund_status_1="PROCESSING",
        ),
    )
    result = make_client(gateway).refund_query(out_trade_no="S01")
    assert result.total_fee == 1250 and result.refund_count == 2
    first, second = result.refunds
    assert (first.out_refund_no, first.refund_id, first.refund_fee, first.refund_status) == (
        "R1",
        "5001",
        250,
        "SUCCESS",
    )
    assert first.success_time == datetime(2024, 1, 1, 13, 0, 4, tzinfo=BEIJING)
    assert first.refund_recv_accout == "支付用户的零钱"
    assert first.fields["coupon_refund_fee_0"] == "1"
    assert (second.out_refund_no, second.refund_status, second.success_time) == ("R2", "PROCESSING", None)
    assert result.fields["refund_status_1"] == "PROCESSING"


def test_refund_query_with_a_missing_refund(gateway):
    gateway.answer("/pay/refundquery", ok(refund_count="2", out_refund_no_0="R1"))
    with pytest.raises(InvalidField, match="refund 1"):
        make_client(gateway).refund_query(refund_id="5001")


def test_refund_query_unknown(gateway):
    gateway.answer("/pay/refundquery", business_fail("REFUNDNOTEXIST", "退款订单查询失败"))
    with pytest.raises(BusinessError, match="REFUNDNOTEXIST"):
        make_client(gateway).refund_query(out_refund_no="R9")


def test_split_indexed():
    plain, indexed = split_indexed(
        {"refund_count": "1", "refund_fee_0": "5", "coupon_type_0_1": "CASH", "cash_fee": "5"}
    )
    assert plain == {"refund_count": "1", "cash_fee": "5"}
    assert indexed == {0: {"refund_fee": "5", "coupon_type_1": "CASH"}}


# -- bills ----------------------------------------------------------------------------------------------

BILL = (
    ",".join(ALL_COLUMNS)
    + "\n`2024-01-01 12:01:05,`wx2421b1c4370ec43b,`10000100,`,`,`4200000000202401011234567890,"
    "`S01-01-20240101-0001,`o1,`NATIVE,`SUCCESS,`OTHERS,`CNY,`12.50,`0.00,`0,`0,`0.00,`0.00,`,`,`咖啡,`,"
    "`0.08000,`0.60%,`12.50,`0.00,`\n"
    + ",".join(SUMMARY_COLUMNS)
    + "\n`1,`12.50,`0.00,`0.00,`0.08000,`12.50,`0.00\n"
)


def test_download_gzip_bill(gateway):
    gateway.answer("/pay/downloadbill", gzip.compress(BILL.encode("utf-8")))
    text = make_client(gateway).download_bill(date(2024, 1, 1))
    assert text == BILL
    assert parse_bill(text).rows[0].total_fee == 1250
    sent = gateway.seen[0].fields
    assert (sent["bill_date"], sent["bill_type"], sent["tar_type"]) == ("20240101", "ALL", "GZIP")
    signing.verify(sent, KEY)


def test_download_plain_bill_with_bom(gateway):
    gateway.answer("/pay/downloadbill", BILL.encode("utf-8-sig"))
    text = make_client(gateway).download_bill("20240101", bill_type="SUCCESS", gzip=False)
    assert text == BILL
    assert "tar_type" not in gateway.seen[0].fields and gateway.seen[0].fields["bill_type"] == "SUCCESS"


def test_no_bill_exist_is_not_a_failure(gateway):
    gateway.answer(
        "/pay/downloadbill",
        b"<xml><return_code><![CDATA[FAIL]]></return_code>\n"
        b"<return_msg><![CDATA[No Bill Exist]]></return_msg>\n"
        b"<error_code><![CDATA[20002]]></error_code>\n</xml>",
    )
    with pytest.raises(NoBill) as info:
        make_client(gateway).download_bill(date(2024, 1, 1))
    assert info.value.fields["error_code"] == "20002"


def test_no_bill_by_error_code_alone(gateway):
    gateway.answer(
        "/pay/downloadbill",
        protocol_fail("NO Bill Exist").replace(b"</xml>", b"<error_code>20002</error_code></xml>"),
    )
    with pytest.raises(NoBill):
        make_client(gateway).download_bill(date(2024, 1, 1))


def test_bill_creating_is_not_ready(gateway):
    gateway.answer("/pay/downloadbill", protocol_fail("Bill Creating"))
    with pytest.raises(BillNotReady):
        make_client(gateway).download_bill(date(2024, 1, 1))


def test_other_bill_failures_are_protocol_fails(gateway):
    gateway.answer("/pay/downloadbill", protocol_fail("invalid bill_type"))
    with pytest.raises(ProtocolFail, match="invalid bill_type") as info:
        make_client(gateway).download_bill(date(2024, 1, 1))
    assert not isinstance(info.value, (NoBill, BillNotReady))


def test_damaged_gzip_bill(gateway):
    gateway.answer("/pay/downloadbill", gzip.compress(BILL.encode())[:40])
    with pytest.raises(TransportError, match="gzip"):
        make_client(gateway).download_bill(date(2024, 1, 1))


def test_bill_argument_checks(gateway):
    client = make_client(gateway)
    with pytest.raises(ValueError, match="bill_type"):
        client.download_bill(date(2024, 1, 1), bill_type="ALL ")
    with pytest.raises(ValueError, match="yyyyMMdd"):
        client.download_bill("2024-01-01")


# -- construction ---------------------------------------------------------------------------------------


def test_from_config(gateway, client_cert):
    merchant = config.MerchantConfig(
        api_base=gateway.url + "/",
        sign_type="HMAC-SHA256",
        timeout=3.0,
        cert_file=client_cert[0],
        key_file=client_cert[1],
    )
    client = WeChatPayClient.from_config(merchant, backoff=0)
    assert (client.appid, client.mch_id, client.api_key) == (
        merchant.appid,
        merchant.mch_id,
        merchant.api_key,
    )
    assert (client.sign_type, client.timeout, client.cert, client.api_base) == (
        "HMAC-SHA256",
        3.0,
        client_cert,
        gateway.url,
    )
    gateway.answer("/pay/orderquery", ok(trade_state="NOTPAY"))
    assert client.query_order("S01").trade_state == "NOTPAY"
    assert WeChatPayClient.from_config(config.MerchantConfig()).cert is None
    assert WeChatPayClient.from_config(config.MerchantConfig()).verify is True
    assert (
        WeChatPayClient.from_config(config.MerchantConfig(ca_file="/etc/pos/ca.pem")).verify
        == "/etc/pos/ca.pem"
    )


def test_constructor_checks():
    with pytest.raises(ValueError, match="HMAC_SHA256"):
        WeChatPayClient(APPID, MCH_ID, KEY, sign_type="HMAC_SHA256")
    with pytest.raises(ValueError):
        WeChatPayClient(APPID, MCH_ID, KEY, retries=-1)
