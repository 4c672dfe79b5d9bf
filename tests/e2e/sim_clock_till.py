"""Run ``pos till`` with the till's clock following the simulator's (for the crash test).

Why: the crash test runs ``pos till`` as a real process (it gets ``kill -9``) against the
simulator running in the test process, and it must see 5-minute deadlines pass in seconds.
The simulator's clock is real time plus an offset the test moves (``sim.advance``); the till
takes a ``clock`` (DESIGN.md: every service does) but ``pos till`` gives it the real one.

So this launcher runs the very same command (:func:`pos.cli.main`, argument parsing, waitress,
signals, the spooler and the watcher, all unchanged) with one difference: :class:`Till`'s
default clock is real time plus the number of seconds in the file named by
``POS_E2E_CLOCK_OFFSET_FILE``, which the test rewrites (atomically) after every
``sim.advance()``. The file is re-read only when it changes, so the clock stays cheap.

    POS_E2E_CLOCK_OFFSET_FILE=/tmp/offset python sim_clock_till.py --config pos.toml till --port 0
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime


def offset_clock(path: str) -> Callable[[], datetime]:
    lock = threading.Lock()
    seen: list[object] = [None, 0.0]  # (inode, mtime_ns) of the file last read, its offset

    def now() -> datetime:
        try:
            stat = os.stat(path)
            key: object = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            key = None
        with lock:
            if key != seen[0]:
                try:
                    with open(path, encoding="ascii") as fh:
                        offset = float(fh.read().strip() or 0)
                except FileNotFoundError:
                    offset = 0.0
                seen[0], seen[1] = key, max(offset, float(seen[1]))  # never backwards
            offset = float(seen[1])
        return datetime.fromtimestamp(time.time() + offset, UTC)

    return now


def main(argv: list[str]) -> int:
    import pos.till.service as service
    from pos.cli import main as pos_main

    sim_clock = offset_clock(os.environ["POS_E2E_CLOCK_OFFSET_FILE"])
    original = service.Till.__init__

    def init(self, config, *, clock: Callable[[], datetime] | None = None) -> None:
        original(self, config, clock=clock or sim_clock)

    service.Till.__init__ = init  # type: ignore[method-assign]
    return pos_main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
