"""A clock a test holds: the till's idea of "now", moved by the test instead of by waiting.

Everything in ``pos`` that reads the time takes a ``clock`` callable returning an aware
``datetime`` (the ledger, the checkout, the watcher, the spooler, the manager's sessions), so a
test hands it a :class:`FakeClock` and moves it::

    clock = FakeClock(datetime(2026, 11, 27, 2, 0, tzinfo=UTC))   # 10:00 in Shanghai
    ledger = open_ledger(url, clock=clock)
    clock.advance(minutes=15)                                      # or clock.advance(900)

Four shapes the tests need, one class:

- frozen (the default): ``now`` stays where it was put until :meth:`FakeClock.advance`;
- ``tick=``: every reading first moves the clock on by that much, so each row a test writes in a
  loop gets its own time without the test moving the clock by hand;
- ``follow=``: every :meth:`advance` also moves another clock by the same seconds, typically
  the simulator's (``follow=sim.advance``), so the till and WeChat agree on the time;
- ``live=True``: real time plus the distance :meth:`advance` has moved it, for tests that run a
  real server whose own threads must see time pass (sessions expiring while a browser waits).

Why the simulator keeps its own clock (:class:`pos.sandbox.clock.SimClock`): it is part of the
simulator, not a test helper. It answers in epoch seconds, the simulator's unit, is moved over
HTTP (``POST /_sim/clock``) and wakes the notifier's retries when it moves. ``FakeClock(live=True)``
is the same idea (real time plus an offset) in the till's shape; a test that drives both moves the
simulator's with ``follow=``.

Tests must never assert wall-clock times; a frozen or ticking clock makes every time a test sees
one it chose.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta


class FakeClock:
    """A callable clock (``clock() -> datetime``, aware UTC) that a test moves.

    :param start: the first "now"; an aware ``datetime``. Default: the real now, to the whole
        second, for tests that also talk to something running on real time (the simulator).
    :param tick: if given, each call moves the clock on by this much before answering (reading
        :attr:`now` does not).
    :param follow: called with the seconds of every :meth:`advance`, after this clock moved.
    :param live: read real time plus the offset moved so far, instead of a fixed instant.
    """

    def __init__(
        self,
        start: datetime | None = None,
        *,
        tick: timedelta | None = None,
        follow: Callable[[float], object] | None = None,
        live: bool = False,
    ) -> None:
        if start is not None and start.tzinfo is None:
            raise ValueError("start must be an aware datetime (the till's times are aware)")
        if live and (start is not None or tick is not None):
            raise ValueError("a live clock reads real time: it takes no start and no tick")
        if tick is not None and tick < timedelta(0):
            raise ValueError("tick must not be negative: the clock never goes back")
        self._lock = threading.Lock()  # spoolers and watchers read it from their own threads
        self._live = live
        self._offset = timedelta(0)
        self._now = start if start is not None else datetime.now(UTC).replace(microsecond=0)
        self._tick = tick
        self._follow = follow

    @property
    def now(self) -> datetime:
        """The current time, without ticking."""
        with self._lock:
            return self._read()

    @now.setter
    def now(self, value: datetime) -> None:
        if self._live:
            raise ValueError("a live clock reads real time; move it with advance()")
        if value.tzinfo is None:
            raise ValueError("now must be an aware datetime")
        with self._lock:
            self._now = value

    def __call__(self) -> datetime:
        """The time, as the code under test reads it (ticks first when ``tick`` was given)."""
        with self._lock:
            if self._tick is not None:
                self._now += self._tick
            return self._read()

    def advance(self, seconds: float = 0.0, **delta: float) -> datetime:
        """Move forward by ``seconds`` and/or ``timedelta`` keywords (``minutes=15``); returns now.

        The clock never goes back: a negative step is refused (a test that needs an earlier time
        makes a new clock).
        """
        step = timedelta(seconds=seconds, **delta)
        if step < timedelta(0):
            raise ValueError("the clock only moves forward")
        with self._lock:
            if self._live:
                self._offset += step
            else:
                self._now += step
            now = self._read()
        if self._follow is not None:
            self._follow(step.total_seconds())
        return now

    def _read(self) -> datetime:
        return datetime.now(UTC) + self._offset if self._live else self._now

    def __repr__(self) -> str:
        kind = "live" if self._live else "frozen"
        return f"<FakeClock {kind} {self._read().isoformat()}>"
