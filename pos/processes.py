"""Starting ``pos`` commands as processes of their own, waiting until each serves, stopping them.

The one way to run a chain's parts as real processes (issue #14): the tests
(``tests/till/test_tills_processes.py``, ``tests/listener/test_fleet.py`` ...), the chain demo
(``pos demo --database URL`` starts its ``pos listen`` processes here) and ``bench/chain.py`` (its
simulator, listeners and K till processes) all start, wait for and stop them through this module.

    with ProcessGroup() as group:
        listener = group.start(pos_command(config, "listen"), name="listener", log=folder / "listen.log")
        tills = group.start_all([Launch(pos_command(c, "till"), f"till {n}", ...) ...], batch=4)
        requests.post(tills[0].url + "/api/sales", ...)
    # every process the group started is stopped here, whatever happened

Why this shape:

- A serving ``pos`` command prints one line naming its URL on stdout once it serves (``pos
  till``, ``pos listen``, ``pos sim``, and the bench's till worker, which says so once warm). The
  child's stdout and stderr go to files (``NAME.log`` and ``NAME.out`` beside it), never to a
  pipe: a pipe nobody drains stops a chatty child once it fills, and 64 pipes are 64 threads or
  a select loop. Waiting is polling that file, so many children can start at once.
- A child that fails to start raises :class:`ProcessFailed` naming the process and the last
  line of its log, not a bare "did not start".
- A :class:`ProcessGroup` stops everything it started on the way out, a failure included (a
  till that failed to start once left 63 others running for hours on a 2-core machine), and
  stops them together: SIGTERM to all, then wait, then SIGKILL what will not stop.
- :meth:`ProcessGroup.start_all` starts in batches and waits for each batch before the next, so
  64 interpreters importing Flask and SQLAlchemy do not fight over two cores at once; the
  timeout is per batch, so the whole start-up's allowance grows with the number of processes.

Where it sits: a leaf of the layers (beside ``ports.py`` and ``web.py``), standard library only
and importing nothing of ``pos``, so every user may import it: the demo (above the services),
the bench (outside the package) and the tests. The layers would let the demo import
``pos.testing`` too (a leaf), but ``pos.testing`` is what test suites need, and the chain demo is
a program a person runs; so the helper is here, and ``pos.testing.chain`` keeps only what is
for tests (a till's config file, the slips its ``dir:`` printer wrote).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

START_TIMEOUT = 120.0  # seconds one process (or one batch) may take to serve: a loaded 2-core box
STOP_TIMEOUT = 30.0  # seconds a process gets between SIGTERM and SIGKILL
_URL = re.compile(r"(https?://[^/\s]+)")  # scheme://host:port of the first URL on a line


class ProcessFailed(RuntimeError):
    """A process did not come up (it exited, or did not serve in time); ``str()`` names the
    process and the last line of its log."""


def pos_command(config: Path | None, subcommand: str, *args: str) -> list[str]:
    """``python -m pos.cli [--config CONFIG] SUBCOMMAND --port 0 ARGS``: this interpreter, so a
    virtualenv's ``pos`` is the one run, and on a free port, so nothing collides."""
    command = [sys.executable, "-m", "pos.cli"]
    if config is not None:
        command += ["--config", str(config)]
    return [*command, subcommand, "--port", "0", *args]


def start_pos(
    config: Path | None,
    subcommand: str,
    *args: str,
    name: str = "",
    log: Path | None = None,
    timeout: float = START_TIMEOUT,
) -> PosProcess:
    """``pos [--config CONFIG] SUBCOMMAND --port 0 ARGS`` started and serving (stopped again if it
    fails to); its log is ``LOG`` (default: ``SUBCOMMAND.log`` beside the config)."""
    folder = config.parent if config is not None else Path.cwd()
    return PosProcess(
        pos_command(config, subcommand, *args),
        name=name or f"pos {subcommand}",
        log=log or folder / f"{subcommand}.log",
    ).ready(timeout)


@dataclass(frozen=True)
class Launch:
    """What to start: the command, a name for messages, and its log file (stderr; stdout goes to
    the same name with ``.out``)."""

    command: Sequence[str]
    name: str
    log: Path


class PosProcess:
    """One child process; started at once, :meth:`wait_ready` waits for its URL line. ``env`` is
    added to this process's environment (the child runs unbuffered, so its lines come at once)."""

    def __init__(
        self, command: Sequence[str], *, name: str, log: Path, env: Mapping[str, str] | None = None
    ) -> None:
        self.name = name
        self.log_path = log
        self.out_path = log.with_suffix(".out")
        log.parent.mkdir(parents=True, exist_ok=True)
        self.url = ""
        with open(log, "ab") as err, open(self.out_path, "wb") as out:  # the child keeps its own copies
            self.process = subprocess.Popen(
                list(command),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self, timeout: float = START_TIMEOUT, *, deadline: float | None = None) -> str:
        """Wait until the child prints a line with its URL; ``self.url`` is its scheme://host:port.

        ``deadline`` (``time.monotonic()``) is a batch's, shared by its processes; else ``timeout``
        from now."""
        deadline = time.monotonic() + timeout if deadline is None else deadline
        while not self.url:
            found = _URL.search(self.output())
            if found:
                self.url = found.group(1)
            elif self.process.poll() is not None:
                raise ProcessFailed(
                    f"{self.name} exited ({self.process.returncode}) before serving: {self.last_line()}"
                )
            elif time.monotonic() > deadline:
                raise ProcessFailed(f"{self.name} did not serve within {timeout:g} s: {self.last_line()}")
            else:
                time.sleep(0.05)
        return self.url

    def ready(self, timeout: float = START_TIMEOUT) -> PosProcess:
        """:meth:`wait_ready`, stopping the child if it fails to serve; returns ``self``."""
        try:
            self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def terminate(self) -> None:
        """SIGTERM, as systemd stops a service (no waiting: see :meth:`stop`)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM, wait, SIGKILL if it will not go; returns the exit code."""
        self.terminate()
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def kill(self) -> int:
        """SIGKILL: the crash a test means (no clean-up runs in the child)."""
        if self.process.poll() is None:
            self.process.kill()
        return self.process.wait()

    def output(self) -> str:
        """What the child printed on stdout so far."""
        return self.out_path.read_text(encoding="utf-8", errors="replace") if self.out_path.exists() else ""

    def log(self) -> str:
        """What the child wrote on stderr (its log) so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    def last_line(self) -> str:
        """The last line of its log (else of its output), with where to read the rest."""
        lines = self.log().strip().splitlines() or self.output().strip().splitlines() or ["(nothing)"]
        return f"{lines[-1].strip()} (see {self.log_path})"

    def __enter__(self) -> PosProcess:
        return self.ready()  # stopped on the way out

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ProcessGroup:
    """Processes started together and stopped together, on a failure as on the way out."""

    def __init__(self) -> None:
        self.processes: list[PosProcess] = []

    def start(
        self, command: Sequence[str], *, name: str, log: Path, timeout: float = START_TIMEOUT
    ) -> PosProcess:
        """Start one process and wait until it serves."""
        return self.start_all([Launch(command, name, log)], timeout=timeout)[0]

    def start_all(
        self, launches: Iterable[Launch], *, batch: int = 1, timeout: float = START_TIMEOUT
    ) -> list[PosProcess]:
        """Start ``batch`` at a time, each batch serving (within ``timeout``) before the next starts.
        A failure raises :class:`ProcessFailed`; what was started stays in the group, to be stopped."""
        pending = list(launches)
        started: list[PosProcess] = []
        for first in range(0, len(pending), max(1, batch)):
            group = [
                PosProcess(launch.command, name=launch.name, log=launch.log)
                for launch in pending[first : first + batch]
            ]
            self.processes += group
            deadline = time.monotonic() + timeout
            for process in group:
                process.wait_ready(timeout, deadline=deadline)
            started += group
        return started

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM to every process still running, then wait for each; SIGKILL the stragglers."""
        for process in reversed(self.processes):
            process.terminate()
        deadline = time.monotonic() + timeout
        for process in reversed(self.processes):
            try:
                process.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
