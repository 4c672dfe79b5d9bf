"""The one logger: escaped key=value lines through stdlib logging, fields on every record."""

from __future__ import annotations

import logging
import shlex

import pytest
from structlog.testing import capture_logs

from pos.log import MAX_VALUE, fields_of, get_logger, render, render_value

FORMAT = "%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"


def parse(line: str) -> dict[str, str]:
    """Read a rendered line back the way a logfmt reader does (split outside quotes, then key=value)."""
    pairs = [shlex.split(part)[0] if '"' in part else part for part in _split(line)]
    return dict(pair.split("=", 1) for pair in pairs)


def _split(line: str) -> list[str]:
    parts, current, quoted, escaped = [], "", False, False
    for char in line:
        if escaped:
            current, escaped = current + char, False
        elif char == "\\" and quoted:
            current, escaped = current + char, True
        elif char == '"':
            current, quoted = current + char, not quoted
        elif char == " " and not quoted:
            parts.append(current)
            current = ""
        else:
            current += char
    assert not quoted, f"unbalanced quotes in {line!r}"
    return [*parts, current]


@pytest.mark.parametrize(
    "hostile",
    [
        "a b\nevent=notice_paid sale=1",
        'x" sale=2 y="',
        "tab\there\rreturn",
        "line\u2028separator\x85next\x00nul",
        'back\\slash\\" sale=3',
        "=",
        "",
    ],
)
def test_a_hostile_value_cannot_forge_a_field_or_a_line(hostile):
    line = render({"event": "notice_rejected", "out_trade_no": hostile, "remote": "127.0.0.1"})
    assert line.isprintable()  # no newline, carriage return, U+2028 or other line break survives
    assert len(line.splitlines()) == 1
    keys = [part.split("=", 1)[0] for part in _split(line)]
    assert keys == ["event", "out_trade_no", "remote"]
    assert line.startswith("event=notice_rejected out_trade_no=")
    assert line.endswith(" remote=127.0.0.1")


def test_plain_tokens_stay_bare_and_everything_else_is_quoted():
    assert render_value("4200000000202611270001") == "4200000000202611270001"
    assert render_value("2026-11-27") == "2026-11-27"
    assert render_value("拿铁") == "拿铁"  # Chinese is readable, not escaped
    assert render_value(12) == "12"
    assert render_value("a b") == '"a b"'
    assert render_value("") == '""'
    assert render_value('say "hi"') == '"say \\"hi\\""'
    assert render_value("a\nb") == '"a\\nb"'
    assert render_value("a\u2028b") == '"a\\u2028b"'


def test_a_long_value_is_cut_short():
    rendered = render_value("x" * (MAX_VALUE + 50))
    assert rendered == "x" * MAX_VALUE + "..." or rendered == '"' + "x" * MAX_VALUE + '..."'


def test_exceptions_are_written_as_their_kind_and_message():
    assert render_value(TimeoutError()) == "TimeoutError"
    assert render_value(ValueError("bad amount")) == '"ValueError: bad amount"'


def test_none_values_are_left_out_and_event_comes_first():
    assert render({"sale": 7, "event": "paid", "flag": None, "out_trade_no": "S01"}) == (
        "event=paid sale=7 out_trade_no=S01"
    )


def test_a_key_that_is_not_a_name_cannot_break_the_line():
    line = render({"event": "x", "a b=c\nd": 1})
    assert line == "event=x _a_b_c_d=1"


def test_events_go_through_stdlib_logging_with_their_fields(caplog):
    caplog.set_level(logging.INFO, logger="pos.test_log")
    log = get_logger("pos.test_log")
    log.info("notice_paid", sale=7, out_trade_no="S01 2", transaction_id=None)
    log.debug("not_written", sale=8)  # below the logger's level: dropped before rendering
    (record,) = [r for r in caplog.records if r.name == "pos.test_log"]
    assert record.levelno == logging.INFO
    assert record.getMessage() == 'event=notice_paid sale=7 out_trade_no="S01 2"'
    assert fields_of(record) == {
        "event": "notice_paid",
        "sale": 7,
        "out_trade_no": "S01 2",
        "transaction_id": None,
    }
    assert parse(record.getMessage()) == {"event": "notice_paid", "sale": "7", "out_trade_no": "S01 2"}
    formatted = logging.Formatter(FORMAT).format(record)
    assert "level=INFO logger=pos.test_log event=notice_paid sale=7" in formatted


def test_a_percent_sign_in_a_value_is_written_as_it_is(caplog):
    caplog.set_level(logging.INFO, logger="pos.test_log")
    get_logger("pos.test_log").info("odd", detail="100% %s %(x)s")
    (record,) = [r for r in caplog.records if r.name == "pos.test_log"]
    assert record.getMessage() == 'event=odd detail="100% %s %(x)s"'


def test_exception_keeps_its_traceback_for_the_stdlib_handler(caplog):
    caplog.set_level(logging.ERROR, logger="pos.test_log")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        get_logger("pos.test_log").exception("crashed", job=3)
    (record,) = [r for r in caplog.records if r.name == "pos.test_log"]
    assert record.levelno == logging.ERROR and record.getMessage() == "event=crashed job=3"
    assert record.exc_info and record.exc_info[0] is RuntimeError
    assert "exc_info" not in record.getMessage()


def test_log_level_numbers_work_and_capture_logs_sees_fields():
    log = get_logger("pos.test_log")
    with capture_logs() as events:
        log.log(logging.WARNING, "flag", kind="late_payment", sale=4)
        log.bind(sale=5).info("refunded", out_refund_no="R1")
    assert events == [
        {"event": "flag", "kind": "late_payment", "sale": 4, "log_level": "warning"},
        {"event": "refunded", "sale": 5, "out_refund_no": "R1", "log_level": "info"},
    ]
