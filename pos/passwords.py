"""Passwords and PINs, and the lock-out after wrong guesses: what the manager's login and the
cashiers' sign-in (:mod:`pos.manager.auth`, :mod:`pos.till.signin`) share.

A leaf below the services, so neither service imports the other for it.

- Passwords and PINs are kept only as werkzeug hashes (scrypt by default, with a random salt);
  checking one against nothing configured takes as long as checking a wrong one.
- :class:`LoginGuard` counts wrong passwords per address and from all addresses together within a
  cooling period, and refuses further tries until the period has passed. An attempt is counted
  *before* its password is checked (:meth:`LoginGuard.attempt`), so wrong passwords sent in
  parallel get no more checks than ``max_failures`` either.

Times come from a clock passed in (the till's), so tests move time instead of sleeping.
"""

from __future__ import annotations

import contextlib
import hmac
import secrets
import threading
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta

from werkzeug.security import check_password_hash, generate_password_hash

COOLING = timedelta(minutes=15)  # how long a lock-out lasts, and the window failures are counted in
OVERALL_FACTOR = 4  # all addresses together may fail this many times max_failures
MIN_PASSWORD = 8

# A hash to check a password against when none is configured, so "no password set" takes as long
# as "wrong password" (computed once, lazily).
_dummy_hash: str | None = None


def hash_password(password: str, *, minimum: int = MIN_PASSWORD) -> str:
    """The werkzeug hash for ``[manager] password_hash`` (scrypt, with a random salt); cashiers' PINs
    (:mod:`pos.till.signin`) are hashed the same way, with a shorter ``minimum``."""
    if len(password) < minimum:
        raise ValueError(f"the password must have at least {minimum} characters")
    return generate_password_hash(password)


def check_password(password_hash: str, password: str) -> bool:
    """True if ``password`` matches; False for a wrong one, an empty config or a malformed hash."""
    global _dummy_hash
    if not password_hash:
        _dummy_hash = _dummy_hash or generate_password_hash(secrets.token_hex(8))
        check_password_hash(_dummy_hash, password)
        return False
    try:
        return check_password_hash(password_hash, password)
    except (ValueError, TypeError):  # a hash werkzeug does not know: never a match, never a crash
        return False


def tokens_match(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), str(given).encode())


class LoginGuard:
    """Counts wrong passwords per address and overall, within the cooling period; thread-safe."""

    def __init__(
        self, max_failures: int, clock: Callable[[], datetime], cooling: timedelta = COOLING
    ) -> None:
        self.max_failures = max(1, max_failures)
        self.overall_limit = self.max_failures * OVERALL_FACTOR
        self.cooling = cooling
        self.clock = clock
        self._by_address: dict[str, deque[datetime]] = {}
        self._all: deque[datetime] = deque()
        self._lock = threading.Lock()

    def locked_for(self, address: str) -> timedelta | None:
        """How long ``address`` must still wait before trying again, or None if it may try now."""
        now = self.clock()
        with self._lock:
            return self._wait(address, now)

    def _wait(self, address: str, now: datetime) -> timedelta | None:
        """:meth:`locked_for`, with the lock held."""
        self._forget(now)
        waits = []
        mine = self._by_address.get(address)
        if mine and len(mine) >= self.max_failures:
            waits.append(mine[-1] + self.cooling - now)
        if len(self._all) >= self.overall_limit:
            waits.append(self._all[-1] + self.cooling - now)
        return max(waits) if waits else None

    def failures(self, address: str) -> int:
        """Wrong passwords (and attempts still being checked) from ``address`` that still count."""
        with self._lock:
            return len(self._by_address.get(address, ()))

    def attempt(self, address: str) -> datetime | timedelta:
        """Count an attempt from ``address`` *before* its password is checked, or refuse it.

        Returns how long the address must still wait (a :class:`timedelta`: do not check the
        password), or the attempt's mark (a :class:`datetime`: check it, then call
        :meth:`succeeded` if it was right; a wrong one stays counted). Checking the lock-out and
        counting happen under one lock, so however many requests race, no address gets more
        than ``max_failures`` checks in a cooling period (and all together ``overall_limit``).
        """
        now = self.clock()
        with self._lock:
            wait = self._wait(address, now)
            if wait is not None:
                return wait
            self._by_address.setdefault(address, deque()).append(now)
            self._all.append(now)
            return now

    def failed(self, address: str) -> None:
        """Count a wrong password that was not counted by :meth:`attempt` beforehand."""
        now = self.clock()
        with self._lock:
            self._by_address.setdefault(address, deque()).append(now)
            self._all.append(now)

    def succeeded(self, address: str, mark: datetime | None = None) -> None:
        """A right password: the address's failures are forgotten, and its attempt ``mark`` no
        longer counts against everybody."""
        with self._lock:
            self._by_address.pop(address, None)
            if mark is not None:
                with contextlib.suppress(ValueError):  # already forgotten
                    self._all.remove(mark)

    def _forget(self, now: datetime) -> None:
        """Drop failures older than the cooling period, unless they are part of a lock-out still running."""
        for address, times in list(self._by_address.items()):
            if times and times[-1] + self.cooling <= now:
                del self._by_address[address]
        if self._all and self._all[-1] + self.cooling <= now:
            self._all.clear()
        while len(self._all) > self.overall_limit and self._all[0] + self.cooling <= now:
            self._all.popleft()
