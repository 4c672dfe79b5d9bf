"""Fixtures shared by every test package: the ledger's database (``database``: each test on SQLite
and on PostgreSQL), the demo's config, and headless Chromium (``browser``)."""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pos import config
from pos.testing.postgres import PostgresUnavailable, Server, postgres_server
from pos.testing.system import system_tool, unavailable

# -- the ledger's database: every test that uses a ledger runs on SQLite and on PostgreSQL ---------

POSTGRES_URL = "POS_TEST_POSTGRES_URL"  # a server to use instead of a throwaway cluster


@dataclass
class Postgres:
    """The session's PostgreSQL server and its migrated, empty template database."""

    server: Server
    template: str


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A PostgreSQL server for the session: ``POS_TEST_POSTGRES_URL`` if set, else a throwaway
    cluster (pos.testing.postgres). Without one the test skips (fails under CI=true).

    The ledger is migrated once, into a template every test's database is copied from.
    """
    from pos.ledger import open_ledger

    given = os.environ.get(POSTGRES_URL, "").strip() or None
    if importlib.util.find_spec("psycopg") is None:
        unavailable("psycopg is not installed for the PostgreSQL half (pip install -e '.[postgres]')")
    with contextlib.ExitStack() as stack:
        try:
            server = stack.enter_context(postgres_server(given))
        except PostgresUnavailable as exc:
            unavailable(f"no PostgreSQL for the PostgreSQL half: {exc} (or set {POSTGRES_URL})")
        template = server.create_database(prefix="pos_template")
        stack.callback(server.drop_database, template)
        open_ledger(server.url(template)).close()  # closed: a template must have no connections
        yield Postgres(server, template)


class LedgerDatabase:
    """Where a test's ledger lives (the ``database`` fixture): ``kind`` is ``sqlite`` or ``postgresql``.

    :meth:`url_in` gives the ledger's URL: on SQLite a ``pos.sqlite3`` file in the folder asked for,
    on PostgreSQL the test's own database (one per test, a copy of the migrated template, dropped
    after the test, whatever folder is asked for). :attr:`url` and :attr:`config` are the ones in
    ``tmp_path / "data"``, where ``pos.till.testing.till_config`` keeps a till's data.
    """

    def __init__(self, kind: str, data_dir: Path, postgres: Postgres | None = None) -> None:
        self.kind = kind
        self.data_dir = data_dir
        self._postgres = postgres
        self._names: dict[bool, str] = {}  # empty? -> the test's database of that kind

    def url_in(self, folder: Path, *, empty: bool = False) -> str:
        """The ledger's URL; ``empty=True``: a database no migration has run on yet (on SQLite a
        file that does not exist yet is just that)."""
        if self._postgres is None:
            return f"sqlite:///{folder / 'pos.sqlite3'}"
        if empty not in self._names:
            self._names[empty] = self._postgres.server.create_database(
                template=None if empty else self._postgres.template
            )
        return self._postgres.server.url(self._names[empty])

    def untouched(self, url: str) -> bool:
        """True while nothing has made the ledger at ``url``: on SQLite no file, on PostgreSQL no
        table (for tests that a refused command leaves no ledger behind)."""
        if url.startswith("sqlite:///"):
            return not Path(url.removeprefix("sqlite:///")).exists()
        from pos.ledger.database import create_ledger_engine, current_revision

        engine = create_ledger_engine(url)
        try:
            return current_revision(engine) is None
        finally:
            engine.dispose()

    def config_in(self, folder: Path) -> config.DatabaseConfig:
        return config.DatabaseConfig(url=self.url_in(folder))

    @property
    def url(self) -> str:
        return self.url_in(self.data_dir)

    @property
    def config(self) -> config.DatabaseConfig:
        return self.config_in(self.data_dir)

    def close(self) -> None:
        if self._postgres is not None:
            for name in self._names.values():
                self._postgres.server.drop_database(name)


DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]


@pytest.fixture(params=DATABASES)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LedgerDatabase]:
    """The one fixture that chooses the ledger's database: each test using it runs twice, on SQLite
    and on PostgreSQL (``-m "not postgresql"`` runs the SQLite half only)."""
    postgres = request.getfixturevalue("postgres") if request.param == "postgresql" else None
    chosen = LedgerDatabase(request.param, tmp_path / "data", postgres)
    try:
        yield chosen
    finally:
        chosen.close()


@pytest.fixture(scope="module", params=DATABASES)
def module_database(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[LedgerDatabase]:
    """``database`` for a module-scoped fixture (one costly stack shared by a module's tests): the
    module runs on SQLite, then on PostgreSQL; the data folder is the module's own."""
    postgres = request.getfixturevalue("postgres") if request.param == "postgresql" else None
    chosen = LedgerDatabase(request.param, tmp_path_factory.mktemp("db") / "data", postgres)
    try:
        yield chosen
    finally:
        chosen.close()


@pytest.fixture
def database_url(database: LedgerDatabase, tmp_path: Path) -> str:
    """The test's ledger URL (SQLite: ``tmp_path / "pos.sqlite3"``)."""
    return database.url_in(tmp_path)


@pytest.fixture
def demo_config(tmp_path, database_url) -> config.Config:
    """The embedded defaults with the data directory under tmp_path, on the test's database."""
    cfg = config.from_mapping({}, "<test>", env={})
    return cfg.replace(
        till=config.TillConfig(data_dir=str(tmp_path)),
        database=config.DatabaseConfig(url=database_url),
        printer=config.PrinterConfig(device=f"dir:{tmp_path / 'printer'}"),
    )


def make_box_font(path, chars: str, *, advance: int = 600) -> str:
    """A real TrueType font (built with fontTools) whose glyphs for ``chars`` are hollow boxes
    ``advance`` units wide (1000 units per em): a Latin-only font, or one with a glyph wider than
    a printer's cell, made here rather than taken from whatever the machine has installed."""
    from fontTools.fontBuilder import FontBuilder
    from fontTools.pens.ttGlyphPen import TTGlyphPen

    names = [".notdef", *(f"uni{ord(c):04X}" for c in chars)]
    builder = FontBuilder(1000, isTTF=True)
    builder.setupGlyphOrder(names)
    builder.setupCharacterMap({ord(c): f"uni{ord(c):04X}" for c in chars})
    glyphs = {}
    for name in names:
        pen = TTGlyphPen(None)
        for x0, y0, x1, y1, outer in (
            (40, 0, advance - 40, 700, True),
            (140, 100, advance - 140, 600, False),
        ):
            corners = [(x0, y0), (x0, y1), (x1, y1), (x1, y0)]  # clockwise: ink; reversed: a hole
            pen.moveTo(corners[0] if outer else corners[-1])
            for point in corners[1:] if outer else corners[-2::-1]:
                pen.lineTo(point)
            pen.closePath()
        glyphs[name] = pen.glyph()
    builder.setupGlyf(glyphs)
    builder.setupHorizontalMetrics({name: (advance, 40) for name in names})
    builder.setupHorizontalHeader(ascent=800, descent=-200)
    builder.setupNameTable({"familyName": "Box Test", "styleName": "Regular"})
    builder.setupOS2(sTypoAscender=800, sTypoDescender=-200, usWinAscent=800, usWinDescent=200)
    builder.setupPost()
    builder.save(str(path))
    return str(path)


LATIN = "".join(chr(c) for c in range(0x20, 0x7F))


@pytest.fixture
def latin_font(tmp_path) -> str:
    """A font with printable ASCII only (named like the issue's DejaVuSans.ttf): no Chinese, no ￥."""
    return make_box_font(tmp_path / "DejaVuSans.ttf", LATIN)


@pytest.fixture
def fresh_box(monkeypatch):
    """No system CJK font installed: pos.printing.fonts falls back to the bundled one."""
    from pos.printing import fonts
    from pos.printing.preview import paper

    monkeypatch.setattr(fonts, "SYSTEM_FONTS", ())
    paper._load_font.cache_clear()
    paper._glyph.cache_clear()
    yield
    paper._load_font.cache_clear()
    paper._glyph.cache_clear()


@pytest.fixture
def box_font(tmp_path):
    """``box_font(name, chars, advance=600)``: a font file under tmp_path (see make_box_font)."""
    return lambda name, chars, advance=600: make_box_font(tmp_path / name, chars, advance=advance)


# -- headless Chromium, driven over the DevTools protocol on a pipe ----------------------------------

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"  # + the test's folder name


class Browser:
    """Debian's Chromium, headless, spoken to with the DevTools protocol over ``--remote-debugging-pipe``
    (JSON messages separated by NUL bytes on file descriptors 3 and 4): no WebSocket library, no
    driver download. Just enough to load pages, run a line of script, and take screenshots."""

    def __init__(
        self,
        chromium: str,
        profile: Path,
        size: tuple[int, int] = (1280, 900),
        artifacts: Path = ARTIFACTS,
    ) -> None:
        self.artifacts = artifacts
        to_browser_read, self._to_browser = os.pipe()
        self._from_browser, from_browser_write = os.pipe()
        command = [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--remote-debugging-pipe",
            f"--user-data-dir={profile}",
            f"--window-size={size[0]},{size[1]}",
            "about:blank",
        ]
        script = f'exec "$@" 3<&{to_browser_read} 4>&{from_browser_write}'
        self.process = subprocess.Popen(
            ["bash", "-c", script, "bash", *command],  # dash takes only one-digit descriptors
            pass_fds=(to_browser_read, from_browser_write),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser_read)
        os.close(from_browser_write)
        self._buffer = b""
        self._next_id = 0
        targets = self.send("Target.getTargets")["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        self.session = self.send("Target.attachToTarget", targetId=page["targetId"], flatten=True)[
            "sessionId"
        ]
        self.send("Page.enable", session=True)
        self.send("Runtime.enable", session=True)

    def send(self, method: str, session: bool = False, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            answer = self._read()
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer.get("result", {})
        raise TimeoutError(method)

    def _read(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def eval(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", session=True, expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 20) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                value = self.eval(expression)
            except RuntimeError:  # the page is navigating: its context is being replaced
                value = None
            if value:
                return value
            time.sleep(0.05)
        raise TimeoutError(expression)

    def goto(self, url: str) -> None:
        """Load ``url`` and wait until the page it ends on (after redirects) has loaded."""
        self.eval("window.__old_page = true")
        self.send("Page.navigate", session=True, url=url)
        self.wait_for("!window.__old_page && document.readyState === 'complete'")

    def submit(self, expression: str) -> None:
        """Run ``expression`` (which submits a form) and wait until the next page has loaded."""
        self.eval("window.__old_page = true")
        self.eval(expression)
        self.wait_for("!window.__old_page && document.readyState === 'complete'")

    def size(self, width: int, height: int) -> None:
        self.send(
            "Emulation.setDeviceMetricsOverride",
            session=True,
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )

    def screenshot(self, name: str, full_page: bool = False) -> Path:
        self.artifacts.mkdir(parents=True, exist_ok=True)
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
            metrics = self.send("Page.getLayoutMetrics", session=True)["cssContentSize"]
            params["clip"] = {
                "x": 0,
                "y": 0,
                "width": metrics["width"],
                "height": metrics["height"],
                "scale": 1,
            }
        data = self.send("Page.captureScreenshot", session=True, **params)["data"]
        target = self.artifacts / name
        target.write_bytes(base64.b64decode(data))
        return target

    def close(self) -> None:
        with contextlib.suppress(Exception):  # it may be gone already
            self.send("Browser.close")
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)


@pytest.fixture
def browser(request: pytest.FixtureRequest) -> Iterator[Browser]:
    """Headless Chromium; screenshots go to ``test-artifacts/<the test's folder>/`` (not committed)."""
    chromium = system_tool("chromium", "chromium-browser", package="chromium")
    # A short profile path: Chromium's singleton socket lives there, and socket paths are short.
    profile = Path(tempfile.mkdtemp(prefix="pos-chromium-"))
    opened = Browser(chromium, profile, artifacts=ARTIFACTS / request.path.parent.name)
    try:
        yield opened
    finally:
        opened.close()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port another program holds (bound and listening) while the test runs."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        yield holder.getsockname()[1]


@pytest.fixture
def run_pos() -> Callable[..., subprocess.CompletedProcess[str]]:
    """``run_pos(*args, cwd=DIR)``: ``pos ARGS`` as a person runs it, a new process in ``cwd``;
    returns its exit code, stdout and stderr."""

    def run(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pos.cli", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    return run
