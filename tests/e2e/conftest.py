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

import dataclasses
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import zxingcpp
from werkzeug.security import generate_password_hash

from pos.config import Config
from pos.ledger import Ledger, SaleState, open_ledger
from pos.listener.app import create_app as listener_app
from pos.printing import preview
from pos.sandbox.testing import RunningSimulator, running_simulator
from pos.sandbox.v3files import v3_merchant
from pos.till.testing import RunningTill, running_till, till_config
from pos.web import BackgroundServer

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


# -- a shop on either API (a module wanting v2 refunds overrides ``sim`` with a TLS one) -------------

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Shop:
    """A shop on ``api`` (the ``shop`` fixture): the till on the simulator's clock, the listener on
    the same ledger (its own connection), WeChat's notices over loopback HTTP."""

    config: Config
    till: RunningTill
    listener_ledger: Ledger
    day: date

    @property
    def ledger(self) -> Ledger:
        return self.till.till.ledger

    def ring_up(self, amount: str) -> dict:
        answer = self.till.http.post(self.till.url("/api/sales"), json={"amount": amount}, timeout=30)
        assert answer.status_code == 201 and answer.json()["state"] == "AWAITING_PAYMENT", answer.text
        return answer.json()

    def state(self, sale_id: int) -> SaleState:
        return self.ledger.get_sale(sale_id).state


@pytest.fixture
def shop(api, database, sim, tmp_path) -> Iterator[Shop]:
    now = sim.sim.clock.beijing()
    if now.hour >= 23:  # keep the day clear of midnight: the bill is one Beijing day
        sim.advance(((now + timedelta(days=1)).replace(hour=10, minute=0) - now).total_seconds())
    late = LateApp()
    listener = BackgroundServer(late, threads=4).start()
    base = config_for(api, tmp_path, sim, database=database.config)
    cert_file, key_file = sim.pki.client
    merchant = dataclasses.replace(
        base.merchant, notify_url=listener.base_url + "/wechatpay/notify", api_base=sim.tls_base_url,
        ca_file=str(sim.pki.ca_file), cert_file=cert_file, key_file=key_file,
    )  # fmt: skip
    manager = dataclasses.replace(
        base.manager, password_hash=generate_password_hash(PASSWORD, "pbkdf2:sha256:1000")
    )
    config = base.replace(merchant=merchant, manager=manager)
    clock = clock_of(sim)
    try:
        with running_till(config, clock=clock) as till:
            listener_ledger = open_ledger(config.database.url, timezone=config.store.timezone, clock=clock)
            late.set(listener_app(config, listener_ledger))
            try:
                yield Shop(config, till, listener_ledger, sim.sim.clock.beijing().date())
            finally:
                listener_ledger.close()
    finally:
        listener.stop()


def manager_session(till: RunningTill) -> tuple[requests.Session, str]:
    """Signed in on the manager's pages as a browser would be; returns the session and a CSRF token."""
    http = requests.Session()
    token = CSRF.search(http.get(till.url("/manager/login"), timeout=30).text)
    assert token
    answer = http.post(
        till.url("/manager/login"), data={"csrf_token": token[1], "password": PASSWORD}, timeout=30
    )
    assert answer.status_code == 200 and answer.url.endswith("/manager/day"), answer.text[:300]
    token = CSRF.search(answer.text)
    assert token
    return http, token[1]


class Helpers:
    """The helpers above as one fixture (tests import nothing from conftest)."""

    wait_until = staticmethod(wait_until)
    clock_of = staticmethod(clock_of)
    config = staticmethod(config_for)
    PrinterDir = PrinterDir
    LateApp = LateApp
    manager_session = staticmethod(manager_session)


@pytest.fixture
def e2e() -> type[Helpers]:
    return Helpers
