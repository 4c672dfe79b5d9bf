"""Hostile and wrong notices through the real server: each gets its reply and changes nothing it must not.

Every test also checks, through caplog, that no traceback, no API key and no received sign reached
the logs, and every response body is checked for tracebacks and the key."""

from __future__ import annotations

import logging
import re
import socket

import pytest

from pos.ledger import FlagKind, JobKind, SaleState
from pos.log import fields_of
from pos.wechatpay import notices

FAIL = b"<return_code><![CDATA[FAIL]]></return_code>"
FORGED_KEY = "0" * 32


@pytest.fixture(autouse=True)
def all_logs(caplog):
    caplog.set_level(logging.DEBUG)
    return caplog


def snapshot(stack, sale):
    """Everything a notice could change about a sale, and the ledger's audit tables."""
    ledger = stack.ledger
    return (
        ledger.get_sale(sale.id),
        ledger.payments_for_sale(sale.id),
        ledger.jobs_for_sale(sale.id),
        ledger.messages_for(sale.out_trade_no),
        ledger.events_for_sale(sale.id),
        ledger.open_flags(),
    )


def assert_clean(stack, caplog, *responses):
    key = stack.config.merchant.api_key
    for response in responses:
        assert b"Traceback" not in response.content
        assert key.encode() not in response.content
    assert "Traceback" not in caplog.text
    assert key not in caplog.text
    assert all(record.exc_info is None for record in caplog.records)


def events(caplog, name: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if fields_of(r).get("event") == name]


def rejected(caplog, reason: str) -> list[logging.LogRecord]:
    return [r for r in events(caplog, "notice_rejected") if fields_of(r)["reason"] == reason]


@pytest.fixture
def sale(stack):
    return stack.ring_up(1800)


def _forged(stack, sale):
    fields = stack.notice_for(sale)
    return stack.signed(fields, key=FORGED_KEY), "signature"


def _unsigned(stack, sale):
    from pos.wechatpay import xmlcodec

    return xmlcodec.encode_as_wechat(stack.notice_for(sale)), "signature"


def _probe(stack, sale):
    # WeChat's own probe: a real-looking notice whose sign is made with a key that is not ours.
    return stack.signed(stack.notice_for(sale), key="WECHATPAY/SIGNTEST/abcdef"), "signature"


def _tampered(stack, sale):
    body = stack.signed(stack.notice_for(sale, total_fee="1"))
    return body.replace(b"<total_fee>1</total_fee>", f"<total_fee>{sale.total_fee}</total_fee>".encode()), (
        "signature"
    )


def _wrong_appid(stack, sale):
    return stack.signed(stack.notice_for(sale, appid="wx0000000000000000")), "wrong_merchant"


def _wrong_mch_id(stack, sale):
    return stack.signed(stack.notice_for(sale, mch_id="1900000109")), "wrong_merchant"


def _xxe(stack, sale):
    return (
        b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<xml><return_code>SUCCESS</return_code><out_trade_no>&x;</out_trade_no></xml>",
        "forbidden_markup",
    )


def _billion_laughs(stack, sale):
    entities = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    return (
        f'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY l0 "ha">{entities}]><xml><a>&l9;</a></xml>'.encode(),
        "forbidden_markup",
    )


def _not_utf8(stack, sale):
    return "<xml><return_code>SUCCESS</return_code><body>拿铁</body></xml>".encode("gbk"), "not_utf8"


def _nested(stack, sale):
    return (
        b"<xml><return_code>SUCCESS</return_code><out_trade_no><a>1</a></out_trade_no></xml>",
        "nested_element",
    )


def _not_xml(stack, sale):
    return b'{"return_code": "SUCCESS"}', "malformed_xml"


def _empty(stack, sale):
    return b"", "malformed_xml"


def _twice(stack, sale):
    # The same field twice: one value could be signed and the other read.
    body = stack.signed(stack.notice_for(sale))
    return body.replace(b"</xml>", b"<total_fee>1</total_fee></xml>"), "malformed_xml"


@pytest.mark.parametrize(
    "make",
    [
        _forged,
        _unsigned,
        _probe,
        _tampered,
        _wrong_appid,
        _wrong_mch_id,
        _xxe,
        _billion_laughs,
        _not_utf8,
        _nested,
        _not_xml,
        _empty,
        _twice,
    ],
    ids=lambda f: f.__name__.strip("_"),
)
def test_refused_notices_get_fail_and_change_nothing(stack, sale, caplog, make):
    body, reason = make(stack, sale)
    before = snapshot(stack, sale)
    response = stack.post(body)
    assert FAIL in response.content
    assert response.status_code in (200, 400)
    assert response.headers["Content-Type"].startswith("text/xml")
    assert snapshot(stack, sale) == before
    assert len(rejected(caplog, reason)) == 1
    assert b"root:" not in response.content  # nothing of /etc/passwd came back
    assert_clean(stack, caplog, response)
    # The received sign is never logged (it would help nobody and is half of a forgery oracle).
    for sign in re.findall(rb"<sign>(?:<!\[CDATA\[)?([0-9A-F]{32,64})", body):
        assert sign.decode() not in caplog.text


def test_a_bad_signature_is_a_security_event_line(stack, sale, caplog):
    body, _ = _forged(stack, sale)
    stack.post(body)
    (record,) = rejected(caplog, "signature")
    assert fields_of(record)["out_trade_no"] == sale.out_trade_no
    assert fields_of(record)["remote"] == "127.0.0.1"
    assert record.levelno == logging.WARNING


def test_wrong_amount_is_stored_and_flagged_but_not_paid(stack, sale, caplog):
    response = stack.post(stack.signed(stack.notice_for(sale, total_fee="1", cash_fee="1")))
    assert response.content == notices.success_reply()  # stored: WeChat may stop sending it
    after = stack.ledger.get_sale(sale.id)
    assert after.state is SaleState.AWAITING_PAYMENT
    assert after.flagged
    assert [f.kind for f in stack.ledger.flags_for_sale(sale.id)] == [FlagKind.AMOUNT_MISMATCH]
    assert [p.accepted for p in stack.ledger.payments_for_sale(sale.id)] == [False]
    assert [m.verdict for m in stack.ledger.messages_for(sale.out_trade_no)] == ["amount_mismatch"]
    assert not [j for j in stack.ledger.jobs_for_sale(sale.id) if j.kind is JobKind.CONFIRMATION]
    assert [fields_of(r)["outcome"] for r in events(caplog, "notice_flagged")] == ["amount_mismatch"]
    assert_clean(stack, caplog, response)


def test_unknown_out_trade_no_with_a_valid_signature_is_flagged(stack, sale, caplog):
    fields = stack.notice_for(sale, out_trade_no="S01-01-20200101-9999")
    response = stack.post(stack.signed(fields))
    assert response.content == notices.success_reply()
    flags = [f for f in stack.ledger.open_flags() if f.kind is FlagKind.UNKNOWN_ORDER]
    assert [f.out_trade_no for f in flags] == ["S01-01-20200101-9999"]
    assert [m.verdict for m in stack.ledger.messages_for("S01-01-20200101-9999")] == ["unknown_sale"]
    assert stack.ledger.get_sale(sale.id).state is SaleState.AWAITING_PAYMENT
    assert_clean(stack, caplog, response)


def test_unknown_out_trade_no_with_a_forged_signature_writes_nothing(stack, sale, caplog):
    fields = stack.notice_for(sale, out_trade_no="S01-01-20200101-9999")
    response = stack.post(stack.signed(fields, key=FORGED_KEY))
    assert FAIL in response.content
    assert stack.ledger.open_flags() == []
    assert stack.ledger.messages_for("S01-01-20200101-9999") == []


def test_a_replayed_old_notice_for_a_paid_sale_changes_nothing(stack, sale, caplog):
    old = stack.signed(stack.notice_for(sale))
    assert stack.post(old).content == notices.success_reply()
    before = snapshot(stack, sale)
    assert before[0].state is SaleState.PAID
    for _ in range(3):
        response = stack.post(old)
        assert response.content == notices.success_reply()
    assert snapshot(stack, sale) == before
    duplicates = events(caplog, "notice_duplicate")
    assert len(duplicates) == 3
    assert_clean(stack, caplog, response)


def test_a_second_transaction_for_a_paid_sale_is_kept_and_flagged(stack, sale, caplog):
    stack.post(stack.signed(stack.notice_for(sale)))
    other = stack.notice_for(sale, transaction_id="4200000000202001019999999999")
    response = stack.post(stack.signed(other))
    assert response.content == notices.success_reply()
    assert [f.kind for f in stack.ledger.flags_for_sale(sale.id)] == [FlagKind.SECOND_PAYMENT]
    assert [p.accepted for p in stack.ledger.payments_for_sale(sale.id)] == [True, False]
    confirmations = [j for j in stack.ledger.jobs_for_sale(sale.id) if j.kind is JobKind.CONFIRMATION]
    assert len(confirmations) == 1


def test_return_code_fail_is_acknowledged_and_changes_nothing(stack, sale, caplog):
    from pos.wechatpay import xmlcodec

    before = snapshot(stack, sale)
    fail = {"return_code": "FAIL", "out_trade_no": sale.out_trade_no}
    response = stack.post(xmlcodec.encode_as_wechat(fail))
    assert response.content == notices.success_reply()
    assert snapshot(stack, sale) == before


def test_a_10_mb_body_is_refused_before_it_is_read(stack, sale, caplog):
    before = snapshot(stack, sale)
    status, reply = raw_post(stack.url, b"<xml>" + b"A" * (10 * 1024 * 1024) + b"</xml>")
    assert status == 413
    assert b"Traceback" not in reply
    assert snapshot(stack, sale) == before


def test_a_chunked_body_over_the_limit_is_refused(stack, sale, caplog):
    def chunks():
        for _ in range(40):
            yield b"<a>" + b"B" * 4096 + b"</a>"

    response = stack.http.post(stack.url + "/wechatpay/notify", data=chunks(), timeout=10)
    assert response.status_code == 413
    assert snapshot(stack, sale)[0].state is SaleState.AWAITING_PAYMENT


def test_the_app_itself_refuses_a_large_body_behind_a_lenient_server(stack, sale, caplog):
    """Behind a server without a body cap (waitress defaults), the app checks Content-Length itself."""
    from pos.web import BackgroundServer

    app = stack_app(stack)
    server = BackgroundServer(app).start()
    try:
        body = b"<xml>" + b"C" * (200 * 1024) + b"</xml>"
        response = stack.http.post(server.base_url + "/wechatpay/notify", data=body, timeout=10)

        def chunks():
            for _ in range(20):
                yield b"D" * 8192

        chunked = stack.http.post(server.base_url + "/wechatpay/notify", data=chunks(), timeout=10)
    finally:
        server.stop()
    assert response.status_code == 413 and FAIL in response.content
    assert chunked.status_code == 413 and FAIL in chunked.content
    assert len(rejected(caplog, "too_large")) == 2
    assert_clean(stack, caplog, response, chunked)


def stack_app(stack):
    from pos.listener import create_app

    return create_app(stack.config, stack.ledger)


def test_log_lines_cannot_be_forged_through_a_field(stack, sale, caplog):
    fields = stack.notice_for(sale, out_trade_no="x\nevent=notice_paid sale=1")
    stack.post(stack.signed(fields, key=FORGED_KEY))
    records = [r for r in caplog.records if r.name.startswith("pos.listener")]
    assert records and all("\n" not in r.getMessage() for r in records)
    assert not any(r.getMessage().startswith("event=notice_paid") for r in records)
    (refused,) = rejected(caplog, "signature")
    assert fields_of(refused)["out_trade_no"] == "x\nevent=notice_paid sale=1"  # kept whole, as a field
    assert events(caplog, "notice_paid") == []


def raw_post(base_url: str, body: bytes) -> tuple[int, bytes]:
    """POST over a raw socket, reading the answer as soon as the server gives one (it need not read
    the whole body first), so a refusal mid-upload is seen instead of a broken pipe."""
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        head = (
            f"POST /wechatpay/notify HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/xml\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        conn.sendall(head)
        conn.settimeout(0.05)
        sent = 0
        reply = b""
        while sent < len(body):
            try:
                reply += conn.recv(65536)
                if reply:
                    break
            except TimeoutError:
                pass
            try:
                conn.sendall(body[sent : sent + 65536])
            except OSError:
                break
            sent += 65536
        conn.settimeout(10)
        try:
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                reply += data
        except OSError:
            pass
    assert sent < len(body), "the server read the whole 10 MB before answering"
    status = int(reply.split(b" ", 2)[1])
    return status, reply


def test_replays_are_still_duplicates_once_the_memory_has_forgotten_them(stack, caplog):
    from pos.listener.notify import PaymentNotices

    handler = PaymentNotices(stack.config, stack.ledger, memory=1)
    first, second = stack.ring_up(100), stack.ring_up(200)
    bodies = [stack.signed(stack.notice_for(s)) for s in (first, second)]
    assert [handler.handle(b).verdict for b in bodies] == ["paid", "paid"]
    before = snapshot(stack, first)
    # `first` was pushed out of the one-entry memory: its replay is judged from the ledger, then remembered.
    assert [handler.handle(bodies[0]).verdict for _ in range(2)] == ["duplicate", "duplicate"]
    assert snapshot(stack, first) == before
    assert handler.paid.get(first.out_trade_no) is not None
    assert handler.paid.get(second.out_trade_no) is None
