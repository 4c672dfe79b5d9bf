"""Log lines: values cleaned, and in the listener's process one INFO line per notice, not two."""

from __future__ import annotations

import logging

import pytest

from pos.listener.reply import (
    LEDGER_LOGGER,
    NoticePaymentLinesAtDebug,
    clean,
    lean_log_records,
    quiet_duplicate_lines,
)


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


def lines(caplog, logger: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == logger]


def test_clean_keeps_a_value_on_one_line():
    assert clean("a b\nevent=forged") == "a_b_event=forged"
    assert clean("") == "-"
    assert clean("x" * 100) == "x" * 64 + "..."


def test_a_paid_notice_is_one_info_line_with_the_ledgers_facts(stack, caplog, quiet):
    caplog.set_level(logging.INFO)
    sale = stack.ring_up(100)
    fields = stack.notice_for(sale)
    assert stack.post(stack.signed(fields)).status_code == 200
    assert stack.post(stack.signed(fields)).status_code == 200  # a new nonce: through the ledger again
    assert not any(r.getMessage().startswith("event=mark_paid") for r in lines(caplog, LEDGER_LOGGER))
    notify = [r.getMessage() for r in lines(caplog, "pos.listener.notify")]
    paid = [m for m in notify if m.startswith("event=notice_paid")]
    assert paid == [
        f"event=notice_paid out_trade_no={sale.out_trade_no} sale={sale.id} "
        f"transaction_id={fields['transaction_id']} remote=127.0.0.1"
    ]
    assert sum(m.startswith("event=notice_duplicate") for m in notify) == 1


def test_with_debug_on_the_ledgers_line_is_still_written_at_debug(stack, caplog, quiet):
    caplog.set_level(logging.DEBUG)
    sale = stack.ring_up(100)
    stack.post(stack.signed(stack.notice_for(sale)))
    (record,) = [r for r in lines(caplog, LEDGER_LOGGER) if r.getMessage().startswith("event=mark_paid")]
    assert record.levelno == logging.DEBUG and "outcome=paid" in record.getMessage()


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
    ledger_lines = [r for r in lines(caplog, LEDGER_LOGGER) if r.getMessage().startswith("event=mark_paid")]
    assert [(r.levelno, "source=" + r.getMessage().rsplit("source=", 1)[1]) for r in ledger_lines] == [
        (logging.WARNING, "source=notice"),
        (logging.INFO, "source=query"),
    ]


def test_lean_log_records_drop_what_the_format_never_prints(monkeypatch, caplog):
    for name in ("_srcfile", "logThreads", "logProcesses", "logMultiprocessing"):
        monkeypatch.setattr(logging, name, getattr(logging, name))  # restored after the test
    lean_log_records()
    caplog.set_level(logging.INFO)
    logging.getLogger("pos.listener.notify").info("event=notice_paid out_trade_no=X")
    (record,) = caplog.records
    assert record.getMessage() == "event=notice_paid out_trade_no=X"
    assert (record.funcName, record.thread, record.process) == ("(unknown function)", None, None)
    assert "level=INFO logger=pos.listener.notify event=notice_paid" in logging.Formatter(
        "%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"
    ).format(record)
