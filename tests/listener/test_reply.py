"""In the listener's process one INFO line per notice, not two: the ledger's ``mark_paid`` goes to DEBUG."""

from __future__ import annotations

import logging

import pytest
from structlog.testing import capture_logs

from pos.listener.reply import (
    LEDGER_LOGGER,
    NoticePaymentLinesAtDebug,
    lean_log_records,
    quiet_duplicate_lines,
)
from pos.log import fields_of, get_logger


@pytest.fixture
def quiet():
    quiet_duplicate_lines()
    quiet_duplicate_lines()  # twice adds nothing
    ledger_log = logging.getLogger(LEDGER_LOGGER)
    installed = [f for f in ledger_log.filters if isinstance(f, NoticePaymentLinesAtDebug)]
    assert len(installed) == 1
    yield
    for f in installed:
        ledger_log.removeFilter(f)


def lines(caplog, logger: str, event: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == logger and fields_of(r).get("event") == event]


def test_a_paid_notice_is_one_info_line_with_the_ledgers_facts(stack, caplog, quiet):
    caplog.set_level(logging.INFO)
    sale = stack.ring_up(100)
    fields = stack.notice_for(sale)
    assert stack.post(stack.signed(fields)).status_code == 200
    assert stack.post(stack.signed(fields)).status_code == 200  # a new nonce: through the ledger again
    assert lines(caplog, LEDGER_LOGGER, "mark_paid") == []
    paid = [dict(fields_of(r)) for r in lines(caplog, "pos.listener.notify", "notice_paid")]
    assert paid == [
        {
            "event": "notice_paid",
            "out_trade_no": sale.out_trade_no,
            "sale": sale.id,
            "transaction_id": fields["transaction_id"],
            "remote": "127.0.0.1",
        }
    ]
    assert len(lines(caplog, "pos.listener.notify", "notice_duplicate")) == 1


def test_a_paid_notice_is_told_by_the_listener_with_its_fields(stack):
    sale = stack.ring_up(100)
    fields = stack.notice_for(sale)
    with capture_logs() as events:
        assert stack.post(stack.signed(fields)).status_code == 200
    (paid,) = [e for e in events if e["event"] == "notice_paid"]
    assert paid == {
        "event": "notice_paid",
        "log_level": "info",
        "out_trade_no": sale.out_trade_no,
        "sale": sale.id,
        "transaction_id": fields["transaction_id"],
        "remote": "127.0.0.1",
    }
    (ledger,) = [e for e in events if e["event"] == "mark_paid"]
    assert (ledger["source"], ledger["outcome"], ledger["sale"]) == ("notice", "paid", sale.id)


def test_with_debug_on_the_ledgers_line_is_still_written_at_debug(stack, caplog, quiet):
    caplog.set_level(logging.DEBUG)
    sale = stack.ring_up(100)
    stack.post(stack.signed(stack.notice_for(sale)))
    (record,) = lines(caplog, LEDGER_LOGGER, "mark_paid")
    assert record.levelno == logging.DEBUG and fields_of(record)["outcome"] == "paid"


def test_flagged_payments_and_other_sources_keep_their_level(stack, caplog, quiet):
    caplog.set_level(logging.INFO)
    sale = stack.ring_up(100)
    stack.post(stack.signed(stack.notice_for(sale, total_fee="1", cash_fee="1")))  # wrong amount
    other = stack.ring_up(200)
    stack.ledger.mark_paid(
        other.out_trade_no,
        transaction_id="4200000000000000000000000099",
        total_fee=200,
        time_end=other.created_at,
        source="query",
    )
    ledger_lines = lines(caplog, LEDGER_LOGGER, "mark_paid")
    assert [(r.levelno, fields_of(r)["source"]) for r in ledger_lines] == [
        (logging.WARNING, "notice"),
        (logging.INFO, "query"),
    ]


def test_lean_log_records_drop_what_the_format_never_prints(monkeypatch, caplog):
    for name in ("_srcfile", "logThreads", "logProcesses", "logMultiprocessing"):
        monkeypatch.setattr(logging, name, getattr(logging, name))  # restored after the test
    lean_log_records()
    caplog.set_level(logging.INFO)
    get_logger("pos.listener.notify").info("notice_paid", out_trade_no="X")
    (record,) = caplog.records
    assert fields_of(record) == {"event": "notice_paid", "out_trade_no": "X"}
    assert (record.funcName, record.thread, record.process) == ("(unknown function)", None, None)
    assert "level=INFO logger=pos.listener.notify event=notice_paid" in logging.Formatter(
        "%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"
    ).format(record)
