"""A refusal of what a request asked (:class:`InputError`), and the checks both web services make.

Below the services: the till's API and sign-in and the manager's pages (mounted on the till's app)
all refuse bad input with an :class:`InputError`, which the till's app answers with its status and
the message in the store's language (:mod:`pos.till.errors`). The till's own request rules (a sale,
a JSON body) stay in :mod:`pos.till.validation`; what the manager's pages ask too (a business day)
lives here, so the manager imports nothing of the till.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from pos.ledger import FIRST_DAY, LAST_DAY

_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


class InputError(ValueError):
    """A refusal: ``key`` names the message in :mod:`pos.i18n`, ``values`` fill it in;
    ``status`` is the HTTP answer (400 bad input, 404 unknown sale, 409 the sale's state forbids it)."""

    status = 400

    def __init__(self, key: str, *, status: int | None = None, **values: Any) -> None:
        super().__init__(key)
        self.key = key
        self.values = values
        if status is not None:
            self.status = status


def parse_day(text: str | None, today: date) -> date:
    """``?date=YYYY-MM-DD`` (a real calendar day the ledger can hold), or ``today`` when absent."""
    if text is None or text == "":
        return today
    if not _DATE.match(text):
        raise InputError("error.date")
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise InputError("error.date") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise InputError("error.date_range", first=FIRST_DAY.isoformat(), last=LAST_DAY.isoformat())
    return day
