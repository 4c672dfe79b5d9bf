"""End to end: the simulator as WeChat, the till over real HTTP, a ``dir:`` printer on disk.

Nothing is mocked. The simulator and the till (its Flask app under waitress, or
``pos till`` as a subprocess where the test is about processes) talk over
loopback; the ledger is a SQLite file; the printer is the virtual ``dir:`` one,
whose ``jobs.jsonl`` and ``<job>.bin`` files are what "printed" means here.

APIs: a test that takes the ``api`` fixture runs twice, on WeChat Pay API v2 and on v3
(the till's client, the listener's notices and the simulator's paths all follow
``[merchant] api``), the way the ``database`` fixture runs it on SQLite and PostgreSQL.
``e2e.config(api, tmp_path, sim, ...)`` is ``till_config`` on that API. A test about a
v2-only thing (mode one, micropay, v2's XML on the wire) does not take it and says why.

Time: where a test needs the watcher's 2-second schedule or a deadline to pass,
the till runs on the simulator's clock (``sim_clock``) and the test moves it
with ``sim.advance()``, so nothing sleeps for the schedule.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import zxingcpp

from pos.config import Config
from pos.printing import preview
from pos.sandbox.testing import RunningSimulator, running_simulator
from pos.sandbox.v3files import v3_merchant
from pos.till.testing import till_config

_BIN = re.compile(r"^job-(\d+)(?:-(\d+))?\.bin$")


@pytest.fixture
def sim() -> RunningSimulator:
    with running_simulator(time_scale=0.001) as running:
        yield running


@pytest.fixture(params=["v2", "v3"])
def api(request: pytest.FixtureRequest) -> str:
    """The WeChat Pay API the whole stack speaks: each test using it runs on v2 and on v3."""
    return request.param


def config_for(api: str, tmp_path: Path, sim: RunningSimulator, **sections: Any) -> Config:
    """``till_config`` on ``api``: on v3 the simulator's v3 merchant, its keys in 0600 files under
    ``tmp_path / "keys"`` and loaded through the config's own checks, as a shop's would be."""
    config = till_config(tmp_path, sim, **sections)
    if api == "v3":
        config = config.replace(merchant=v3_merchant(config.merchant, tmp_path / "keys", sim.v3))
    return config


def clock_of(sim: RunningSimulator) -> Callable[[], datetime]:
    """The simulator's clock as the till's ``clock``: both see the same moment when a test advances it."""
    return lambda: datetime.fromtimestamp(sim.sim.clock.now(), UTC)


def wait_until(predicate: Callable[[], Any], what: str, timeout: float = 20.0, pause: float = 0.02) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {value!r}")
        time.sleep(pause)


class PrinterDir:
    """Reads what the ``dir:`` printer at ``path`` has "printed"."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def spec(self) -> str:
        return f"dir:{self.path}"

    def journal(self) -> list[dict[str, Any]]:
        """``jobs.jsonl``: one line per job written, oldest first."""
        try:
            lines = (self.path / "jobs.jsonl").read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in lines if line.strip()]

    def lines_for(self, out_trade_no: str, kind: str | None = None) -> list[dict[str, Any]]:
        return [
            j
            for j in self.journal()
            if j["out_trade_no"] == out_trade_no and (kind is None or j["kind"] == kind)
        ]

    def bin_counts(self) -> Counter[int]:
        """Ledger job id -> how many ``.bin`` files hold its bytes (``job-7.bin``, ``job-7-2.bin``...)."""
        counts: Counter[int] = Counter()
        for file in self.path.glob("job-*.bin"):
            match = _BIN.match(file.name)
            if match:
                counts[int(match[1])] += 1
        return counts

    def set_state(self, word: str) -> None:
        """Rehearse a printer condition (``unavailable``, ``paper-out``, ``online``...)."""
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / "state").write_text(word + "\n", encoding="utf-8")

    def qr_texts(self, entry: dict[str, Any], width_dots: int = 576) -> list[str]:
        """Decode every QR on a printed job: its bytes -> the preview's picture -> zxing-cpp."""
        data = (self.path / entry["bin"]).read_bytes()
        picture = preview.render(data, width_dots=width_dots)
        return [result.text for result in zxingcpp.read_barcodes(picture.image)]


@pytest.fixture
def printer(tmp_path) -> PrinterDir:
    return PrinterDir(tmp_path / "printer")


class LateApp:
    """A WSGI app whose target is set after its server started (a listener needs its own URL in the
    config it is built from)."""

    def __init__(self) -> None:
        self.app: Any = None
        self._ready = threading.Event()

    def set(self, app: Any) -> None:
        self.app = app
        self._ready.set()

    def __call__(self, environ: Any, start_response: Any) -> Any:
        self._ready.wait(10)
        return self.app(environ, start_response)


class Helpers:
    """The helpers above as one fixture (tests import nothing from conftest)."""

    wait_until = staticmethod(wait_until)
    clock_of = staticmethod(clock_of)
    config = staticmethod(config_for)
    PrinterDir = PrinterDir
    LateApp = LateApp


@pytest.fixture
def e2e() -> type[Helpers]:
    return Helpers
