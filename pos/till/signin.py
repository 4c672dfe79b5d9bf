"""Who is driving the till: a cashier signed in with a PIN, a script with the API token, or (one kiosk
on loopback, nobody set up) whoever sits at it.

- **Cashiers** (``pos cashier add NAME``, kept in :mod:`pos.ledger.cashiers`).
  When any exist, the cashier's page asks for a name and PIN at the start of a
  shift (``POST /api/session``) and again after ``[till] cashier_idle_minutes``
  without a tap (the page reports taps, ``POST /api/session/active``; its own
  polling does not count). The session is a random id in an HttpOnly,
  SameSite=Strict cookie with its own CSRF token, the manager's mechanism
  (:mod:`pos.manager.auth`): the PIN is checked like the manager's password
  and wrong PINs are counted per address by the same lock-out
  (:mod:`pos.passwords`; ``[manager] max_failures`` in 15 minutes). Every sale rung up records the
  signed-in cashier; voids and reprints record them too.
- **Scripts** (``pos sale``, a shop's own tools) send ``Authorization: Bearer
  <[till] api_token>``.
- **Open**: with no cashier and the till on a loopback address, the till works
  as it always has, for the one person at the kiosk.

Anything else asking ``/api/`` is answered 401 and changes nothing.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request

from pos import passwords
from pos.inputs import InputError
from pos.ledger import cashiers as store
from pos.log import get_logger
from pos.till.guard import CSRF_HEADER, SAFE_METHODS, is_loopback, refuse
from pos.till.validation import read_json

log = get_logger("pos.till.signin")

bp = Blueprint("signin", __name__, url_prefix="/api/session")

COOKIE = "pos_cashier"
MAX_SESSIONS = 256  # a shop has a few tablets; sessions nobody signed into are dropped oldest first
ANONYMOUS_LIFETIME = timedelta(hours=12)
MAX_PIN = 12
MIN_PIN = 4


def hash_pin(pin: str) -> str:
    """The PIN's werkzeug hash (the manager's password hashing), for ``pos cashier add``."""
    if not (pin.isdigit() and pin.isascii() and MIN_PIN <= len(pin) <= MAX_PIN):
        raise ValueError(f"a PIN is {MIN_PIN} to {MAX_PIN} digits")
    return passwords.hash_password(pin, minimum=MIN_PIN)


@dataclass
class CashierSession:
    id: str
    csrf_token: str
    cashier: str  # "" until someone signs in
    created: datetime
    active: datetime  # the last tap (or the sign-in)


class CashierSessions:
    """The till's browser sessions, in memory (a restart asks for the PIN again); thread-safe."""

    def __init__(self, idle_minutes: int, clock: Callable[[], datetime]) -> None:
        self.idle = timedelta(minutes=max(1, idle_minutes))
        self.clock = clock
        self._sessions: OrderedDict[str, CashierSession] = OrderedDict()
        self._lock = threading.Lock()

    def new(self) -> CashierSession:
        now = self.clock()
        session = CashierSession(secrets.token_urlsafe(32), secrets.token_urlsafe(32), "", now, now)
        with self._lock:
            self._sessions[session.id] = session
            for sid in [s.id for s in self._sessions.values() if now - s.active > ANONYMOUS_LIFETIME]:
                del self._sessions[sid]
            anonymous = [s.id for s in self._sessions.values() if not s.cashier]
            for sid in anonymous[: max(0, len(self._sessions) - MAX_SESSIONS)]:
                del self._sessions[sid]
        return session

    def get(self, session_id: str | None) -> CashierSession | None:
        with self._lock:
            return self._sessions.get(session_id or "")

    def sign_in(self, old: CashierSession, cashier: str) -> CashierSession:
        """A fresh session (new id and token: nobody who knew the old one rides along) for ``cashier``."""
        session = self.new()
        session.cashier = cashier
        self.drop(old.id)
        return session

    def drop(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)

    def idle_out(self, session: CashierSession) -> bool:
        """True (and the cashier signed out, the session kept for the next PIN) if idle too long."""
        with self._lock:
            if session.cashier and self.clock() - session.active > self.idle:
                session.cashier = ""
                return True
            return False

    def touch(self, session: CashierSession) -> None:
        with self._lock:
            session.active = self.clock()


@dataclass
class SignIn:
    sessions: CashierSessions
    guard: passwords.LoginGuard
    open_kiosk: bool  # loopback address: without cashiers, nobody needs to sign in
    checking: threading.Lock = field(default_factory=threading.Lock)


def _state() -> SignIn:
    return current_app.extensions["pos_signin"]


def _till() -> Any:
    return current_app.extensions["pos_till"]


def install(app: Flask, bind_host: str) -> None:
    """Register the sign-in routes and the check every other ``/api/`` request passes."""
    till = app.extensions["pos_till"]
    app.extensions["pos_signin"] = SignIn(
        sessions=CashierSessions(till.config.till.cashier_idle_minutes, till.now),
        guard=passwords.LoginGuard(till.config.manager.max_failures, till.now),
        open_kiosk=is_loopback(bind_host),
    )
    app.register_blueprint(bp)

    @app.before_request
    def authorize() -> Response | None:
        g.cashier = ""
        if not request.path.startswith("/api/") or request.blueprint == "signin" or request.routing_exception:
            return None
        return _authorize()


def cashier() -> str:
    """The signed-in cashier of this request ("" for a script or the open kiosk)."""
    return str(g.get("cashier", ""))


def _session() -> CashierSession | None:
    return _state().sessions.get(request.cookies.get(COOKIE))


def _token_ok(session: CashierSession | None) -> bool:
    given = request.headers.get(CSRF_HEADER)
    return session is not None and passwords.tokens_match(session.csrf_token, given)


def _authorize() -> Response | None:
    state, config = _state(), _till().config.till
    unsafe = request.method not in SAFE_METHODS
    session = _session()
    if unsafe and request.headers.get(CSRF_HEADER) is not None and not _token_ok(session):
        return refuse(403, "error.csrf")  # a token that is not this browser's own
    if unsafe and request.mimetype != "application/json" and not _token_ok(session):
        return refuse(403, "error.csrf")
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        bearer = scheme.lower() == "bearer" and config.api_token
        if bearer and passwords.tokens_match(config.api_token, token.strip()):
            return None
        log.warning("till_token_refused", path=request.path, address=request.remote_addr)
        return refuse(401, "error.bad_token")
    if session is not None and session.cashier:
        if state.sessions.idle_out(session):
            return refuse(401, "error.idle", minutes=config.cashier_idle_minutes)
        if unsafe:
            if not _token_ok(session):
                return refuse(403, "error.csrf")
            state.sessions.touch(session)
        g.cashier = session.cashier
        return None
    if state.open_kiosk and not store.has_cashiers(_till().ledger):
        return None
    return refuse(401, "error.sign_in")


def _with_cookie(response: Response, session: CashierSession) -> Response:
    response.set_cookie(COOKIE, session.id, httponly=True, samesite="Strict", path="/")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("")
def who() -> Response:
    """Whether the page must ask for a PIN, who is signed in, the names to choose from, its CSRF token."""
    state, till = _state(), _till()
    session = _session() or state.sessions.new()
    if session.cashier:
        state.sessions.idle_out(session)
    names = [c.name for c in store.list_cashiers(till.ledger)]
    required = bool(names) or not state.open_kiosk
    return _with_cookie(
        jsonify(
            required=required,
            cashier=session.cashier or None,
            cashiers=names if required else [],
            csrf_token=session.csrf_token,
            idle_minutes=till.config.till.cashier_idle_minutes,
        ),
        session,
    )


@bp.post("")
def sign_in() -> Response | tuple[Response, int]:
    """``{"name": ..., "pin": ...}``: a new session for that cashier, or 401 (429 when locked out)."""
    state, till = _state(), _till()
    session = _session()
    if session is None or not _token_ok(session):
        return refuse(403, "error.csrf")
    address = request.remote_addr or "?"
    data = read_json(request.get_data(cache=False), request.content_type)
    name, pin = data.get("name"), data.get("pin")
    if not isinstance(name, str) or not isinstance(pin, str) or len(name) > 64 or len(pin) > 64:
        raise InputError("error.pin", status=401)
    # One PIN check at a time: the lock-out is looked at and a failure counted inside the same lock,
    # so guesses sent in parallel get no more tries than one after the other would.
    with state.checking:
        wait = state.guard.locked_for(address)
        if wait is not None:
            return refuse(429, "error.pin_locked", minutes=max(1, int(wait.total_seconds() // 60) + 1))
        if not passwords.check_password(store.pin_hash(till.ledger, name.strip()) or "", pin):
            state.guard.failed(address)
            log.warning("cashier_pin_refused", address=address)
            return refuse(401, "error.pin")
        state.guard.succeeded(address)
    signed = state.sessions.sign_in(session, name.strip())
    log.info("cashier_signed_in", cashier=signed.cashier)
    return _with_cookie(jsonify(cashier=signed.cashier, csrf_token=signed.csrf_token), signed)


@bp.post("/active")
def active() -> Response | tuple[Response, int]:
    """A tap on the page: the idle clock starts again (unless it has already run out)."""
    state = _state()
    session = _session()
    if session is None or not _token_ok(session):
        return refuse(403, "error.csrf")
    if session.cashier and state.sessions.idle_out(session):
        return refuse(401, "error.idle", minutes=_till().config.till.cashier_idle_minutes)
    state.sessions.touch(session)
    return jsonify(cashier=session.cashier or None)


@bp.post("/end")
def sign_out() -> Response | tuple[Response, int]:
    """End the shift: the page asks for a PIN again."""
    state = _state()
    session = _session()
    if session is None or not _token_ok(session):
        return refuse(403, "error.csrf")
    if session.cashier:
        log.info("cashier_signed_out", cashier=session.cashier)
    state.sessions.drop(session.id)
    fresh = state.sessions.new()
    return _with_cookie(jsonify(cashier=None, csrf_token=fresh.csrf_token), fresh)
