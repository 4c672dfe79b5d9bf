"""The one logger of ``pos``: structured ``key=value`` events, escaped, through stdlib logging.

Every module logs with ``log = get_logger(__name__)`` and ``log.info("notice_paid", sale=7,
out_trade_no="...")``: the event's name and its fields, never a hand-formatted line. Why:

- **One escaping rule.** A value that came from the internet (an ``out_trade_no`` in a forged
  notice, a ``Host`` header) must not be able to add a field or start a line of its own. The
  renderer here writes a value bare only when it is one plain token; anything else is quoted, with
  quotes, backslashes and every non-printable character (newlines, ``U+2028``...) escaped.
- **Fields, not text.** Code that reacts to log events (the listener demotes the ledger's
  ``mark_paid`` line for notices) reads the fields :func:`fields_of` puts on the record, and tests
  assert on fields with ``structlog.testing.capture_logs``, not on formatted strings.
- **Through stdlib logging.** The rendered line becomes an ordinary ``logging`` record on the
  logger named by ``get_logger(name)``, so ``pos/cli.py``'s ``basicConfig`` (time, level, logger
  name), ``-v``, levels per logger and waitress's and alembic's own lines work as before.

``None`` values are left out of the line (an absent sale is no ``sale=`` rather than ``sale=None``).
Values are cut at :data:`MAX_VALUE` characters so one hostile field cannot flood the log; an
exception is written as its type and message.

structlog is configured once, when this module is first imported. ``capture_logs`` in tests sees
every event (it swaps the processors in the list each logger holds).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

import structlog

__all__ = ["MAX_VALUE", "fields_of", "get_logger", "render", "render_value"]

MAX_VALUE = 200
RECORD_FIELDS = "pos_fields"  # the attribute of a stdlib LogRecord that holds the event's fields

_BARE = re.compile(r"[\w.:/@+,\-]+")  # one plain token: letters (any script), digits and a few marks
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BAD_KEY_CHAR = re.compile(r"[^A-Za-z0-9_]")
_STDLIB_KEYS = ("exc_info", "stack_info", "stacklevel")


def _escape_char(char: str) -> str:
    if char == '"':
        return '\\"'
    if char == "\\":
        return "\\\\"
    if char == "\n":
        return "\\n"
    if char == "\r":
        return "\\r"
    if char == "\t":
        return "\\t"
    if char == " " or char.isprintable():
        return char
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def render_value(value: object) -> str:
    """A value as it follows ``key=``: bare when it is one plain token, else quoted and escaped.

    The quoted form never holds a raw ``"``, backslash, newline or other non-printable character,
    so a reader splitting on spaces outside quotes (logfmt) finds exactly the fields we wrote."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, BaseException):  # the kind of failure says the most; its text may be empty
        text = f"{type(value).__name__}: {value}" if str(value) else type(value).__name__
    else:
        text = str(value)
    if len(text) > MAX_VALUE:
        text = text[:MAX_VALUE] + "..."
    if _BARE.fullmatch(text):
        return text
    return '"' + "".join(map(_escape_char, text)) + '"'


def _render_key(key: str) -> str:
    if _KEY.fullmatch(key):
        return key
    return "_" + _BAD_KEY_CHAR.sub("_", key)


def render(fields: Mapping[str, Any]) -> str:
    """``event=NAME key=value ...`` in the order given, ``event`` first, ``None`` values left out."""
    parts = [f"event={render_value(fields.get('event', '-'))}"]
    parts += [
        f"{_render_key(key)}={render_value(value)}"
        for key, value in fields.items()
        if key != "event" and value is not None
    ]
    return " ".join(parts)


def _to_stdlib(_logger: Any, _method: str, event_dict: dict[str, Any]) -> tuple[tuple[str], dict[str, Any]]:
    """structlog's last processor: the rendered line as the record's message, the fields beside it."""
    kwargs: dict[str, Any] = {key: event_dict.pop(key) for key in _STDLIB_KEYS if key in event_dict}
    kwargs["extra"] = {RECORD_FIELDS: event_dict}
    return (render(event_dict),), kwargs


def fields_of(record: logging.LogRecord) -> Mapping[str, Any]:
    """The fields of a record written through :func:`get_logger` (empty for other records)."""
    return getattr(record, RECORD_FIELDS, None) or {}


_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "exception": logging.ERROR,
    "critical": logging.CRITICAL,
    "fatal": logging.CRITICAL,
}


class _BoundLogger(structlog.stdlib.BoundLogger):
    """structlog's stdlib logger with the level test first: an event below its logger's level
    costs one ``isEnabledFor`` (the listener writes a DEBUG line per notice), not a copy of the
    context and a trip through the processors. Under ``capture_logs`` (which replaces the
    processors) every event is captured, as structlog documents."""

    def _proxy_to_logger(self, method_name: str, event: str | None = None, *args: Any, **kw: Any) -> Any:
        if self._processors and self._processors[0] is structlog.stdlib.filter_by_level:
            level = _LEVELS.get(method_name)
            if level is not None and not self._logger.isEnabledFor(level):
                return None
        return super()._proxy_to_logger(method_name, event, *args, **kw)


def get_logger(name: str) -> Any:
    """A structlog bound logger writing to the stdlib logger ``name`` (use ``__name__``).

    Call ``log.info("event_name", key=value, ...)``; ``log.exception(...)`` adds the traceback;
    ``log.bind(sale=...)`` returns a logger that adds those fields to every event."""
    return structlog.get_logger(name).bind()  # bound now: no lazy proxy on every call


structlog.configure(
    processors=[structlog.stdlib.filter_by_level, _to_stdlib],
    logger_factory=structlog.stdlib.LoggerFactory(),
    wrapper_class=_BoundLogger,
    # capture_logs swaps the processors inside the one list bound loggers hold, so caching is safe
    cache_logger_on_first_use=True,
)
