"""The manager's blueprint and what every manager page shares: the app's manager state, the
till it runs on, the words, and the small request helpers (the day asked for, a notice for the
next page, a redirect back to the day, an error page).

The pages themselves are in :mod:`.signin` (login, sessions, CSRF), :mod:`.dayview` (the day,
its CSV and JSON) and :mod:`.actions` (Z report, flags, reconcile, refund); :mod:`.views`
imports them so that their routes are on :data:`bp`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, g, jsonify, redirect, render_template, request

from pos import passwords
from pos.inputs import parse_day
from pos.ledger import SaleState
from pos.log import get_logger
from pos.manager import auth
from pos.manager.host import Host
from pos.manager.words import Words

log = get_logger("pos.manager")

bp = Blueprint(
    "manager",
    __name__,
    url_prefix="/manager",
    template_folder="templates",
    static_folder="static",
)

PAGE_SIZE = 100
CHART_WEEKS = 4
EARLIER_TTL = 300.0  # seconds the chart's earlier weeks are kept
PUBLIC_ENDPOINTS = frozenset({"manager.login", "manager.login_post", "manager.static"})
FILTERS = ("all", "flagged", *(s.value for s in SaleState))


@dataclass
class ManagerState:
    """One per app: the sessions, the login guard, and the services built on first use."""

    sessions: auth.SessionStore
    guard: passwords.LoginGuard
    refunds: Any = None
    # The chart's earlier weeks: past days whose takings hardly change, kept a few minutes.
    earlier_takings: dict[tuple[str, date], tuple[float, tuple[int, ...]]] = field(default_factory=dict)


def till() -> Host:
    """The service whose app mounts these pages (the till's, under ``app.extensions["pos_till"]``)."""
    return current_app.extensions["pos_till"]


def state() -> ManagerState:
    app = current_app
    manager = app.extensions.get("pos_manager")
    if manager is None:
        service = till()
        settings = service.config.manager
        manager = ManagerState(
            sessions=auth.SessionStore(settings.session_minutes, service.now),
            guard=passwords.LoginGuard(settings.max_failures, service.now),
        )
        app.extensions["pos_manager"] = manager
    return manager


def words() -> Words:
    return Words(till().config.store.language)


# -- shared request helpers ----------------------------------------------------------------------


def client_address() -> str:
    return request.remote_addr or "?"


def is_api() -> bool:
    return request.path.startswith("/manager/api/")


def day_arg() -> date:
    return parse_day(request.values.get("date"), till().today())


def notice(kind: str, text: str) -> None:
    g.manager_session.notices.append((kind, text))


def back_to_day(day: date, **extra: Any) -> Response:
    query = {"date": day.isoformat(), **{k: v for k, v in extra.items() if v}}
    return redirect(f"/manager/day?{urlencode(query)}", code=303)


def by() -> str:
    return f"manager@{client_address()}"[:64]


def page_error(status: int, message: str) -> Response:
    if is_api():
        response = jsonify(error=message)
        response.status_code = status
        return response
    w = words()
    html = render_template(
        "manager/error.html", w=w, lang=w.language, store=till().config.store, message=message
    )
    return Response(html, status=status, content_type="text/html; charset=utf-8")
