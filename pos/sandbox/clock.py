"""The simulator's clock: real time plus an offset that tests move forward.

Deadlines (code_url lifetime, time_expire, the close-order guard, bill days,
notification retries) all read this clock, so a test passes two hours with one
``POST /_sim/clock`` instead of sleeping. It never goes backwards.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

BEIJING = ZoneInfo("Asia/Shanghai")


class SimClock:
    def __init__(self, offset: float = 0.0) -> None:
        self._offset = float(offset)
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []

    @property
    def offset(self) -> float:
        return self._offset

    def now(self) -> float:
        """Seconds since the epoch, as the simulator sees them."""
        return time.time() + self._offset

    def beijing(self, at: float | None = None) -> datetime:
        return datetime.fromtimestamp(self.now() if at is None else at, BEIJING)

    def advance(self, seconds: float) -> float:
        """Move forward (never back) and wake whoever waits on the clock; returns the new now."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += seconds
            listeners = list(self._listeners)
        for listener in listeners:
            listener()
        return self.now()

    def on_advance(self, listener: Callable[[], None]) -> None:
        with self._lock:
            self._listeners.append(listener)


def wechat_time(at: float) -> str:
    """``yyyyMMddHHmmss`` in Beijing time, WeChat's format for time_end and friends."""
    return datetime.fromtimestamp(at, BEIJING).strftime("%Y%m%d%H%M%S")


def parse_wechat_time(text: str) -> float:
    """The inverse of :func:`wechat_time`; ValueError for anything not a real date-time."""
    if len(text) != 14 or not text.isdigit():
        raise ValueError(f"{text!r} is not yyyyMMddHHmmss")
    return datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=BEIJING).timestamp()


def dashed_time(at: float) -> str:
    """``yyyy-MM-dd HH:mm:ss`` Beijing time, the bill's and refund notice's format."""
    return datetime.fromtimestamp(at, BEIJING).strftime("%Y-%m-%d %H:%M:%S")
