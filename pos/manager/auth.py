"""The manager's login: server-side sessions and CSRF tokens.

- The password is checked against ``[manager] password_hash`` (a werkzeug
  hash, scrypt by default; ``pos manager set-password`` writes it) with
  :func:`pos.passwords.check_password`. The password itself is never stored anywhere.
- Sessions live in this process's memory, keyed by a random id that travels in
  an HttpOnly, SameSite=Strict cookie limited to ``/manager``. Restarting the
  till logs everybody out, which is what a shop's till should do. A session
  ends after ``[manager] session_minutes`` without a request.
- Every session, logged in or not yet, carries its own CSRF token; every form
  posts it back and every POST is refused without it. The login form has one
  too (a pre-login session), so another site cannot log a browser in either.
- After ``[manager] max_failures`` wrong passwords from one address within the
  cooling period, that address may not try again until the period has passed;
  after four times as many from all addresses together, nobody may
  (:class:`pos.passwords.LoginGuard`, shared with the cashiers' sign-in). The login
  page says so and for how long. A locked-out attempt is refused before the
  password is even looked at, so a right guess during the lock-out tells the
  guesser nothing.

Times come from a clock passed in (the till's), so tests move time instead of
sleeping.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

COOKIE = "pos_manager"
COOKIE_PATH = "/manager"
ANONYMOUS_LIFETIME = timedelta(minutes=30)  # a login form left open this long must be reloaded
MAX_SESSIONS = 512  # pre-login sessions are dropped oldest first beyond this


@dataclass
class ManagerSession:
    id: str
    csrf_token: str
    authenticated: bool
    address: str
    created: datetime
    seen: datetime
    notices: list[tuple[str, str]] = field(default_factory=list)  # (kind, text) shown once
    chain: bool = False  # signed in with the chain's password: every store (see pos.manager.scope)
    viewing: str = ""  # the store a chain session's day pages show ("" for the till's own)


class SessionStore:
    """Sessions in memory; thread-safe. ``minutes`` of idleness end a logged-in session."""

    def __init__(self, minutes: int, clock: Callable[[], datetime]) -> None:
        self.idle = timedelta(minutes=max(1, minutes))
        self.clock = clock
        self._sessions: OrderedDict[str, ManagerSession] = OrderedDict()
        self._lock = threading.Lock()

    def new(self, *, authenticated: bool, address: str, chain: bool = False) -> ManagerSession:
        now = self.clock()
        session = ManagerSession(
            id=secrets.token_urlsafe(32),
            csrf_token=secrets.token_urlsafe(32),
            authenticated=authenticated,
            address=address,
            created=now,
            seen=now,
            chain=chain,
        )
        with self._lock:
            self._expire(now)
            self._sessions[session.id] = session
            anonymous = [s.id for s in self._sessions.values() if not s.authenticated]
            for sid in anonymous[: max(0, len(self._sessions) - MAX_SESSIONS)]:
                del self._sessions[sid]
        return session

    def get(self, session_id: str | None) -> ManagerSession | None:
        """The live session with this id (its idle time restarts), or None."""
        if not session_id:
            return None
        now = self.clock()
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return None
            if self._expired(session, now):
                del self._sessions[session_id]
                return None
            session.seen = now
            return session

    def drop(self, session_id: str | None) -> None:
        with self._lock:
            self._sessions.pop(session_id or "", None)

    def _expired(self, session: ManagerSession, now: datetime) -> bool:
        limit = self.idle if session.authenticated else max(self.idle, ANONYMOUS_LIFETIME)
        return now - session.seen > limit

    def _expire(self, now: datetime) -> None:
        for sid in [sid for sid, s in self._sessions.items() if self._expired(s, now)]:
            del self._sessions[sid]
