"""Fixtures for the manager's pages: a till on loopback against the simulator, with a manager password.

The password hash uses few PBKDF2 rounds so a test of ten wrong passwords takes
milliseconds; production hashes are scrypt (``pos manager set-password``).
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from werkzeug.security import generate_password_hash

from pos.sandbox.testing import running_simulator
from pos.testing.system import system_tool
from pos.till.testing import RunningTill, running_till, till_config

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class MovableClock:
    """Wall-clock time plus an offset the test moves (sessions and lock-outs use the till's clock)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, **delta: float) -> None:
        self.offset += timedelta(**delta)


def csrf_token(html: str) -> str:
    match = CSRF.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


class Manager:
    """A browser-like session on the manager's pages: cookies kept, CSRF token read from each page."""

    def __init__(self, till: RunningTill) -> None:
        self.till = till
        self.http = requests.Session()
        self.token = ""

    def url(self, path: str) -> str:
        return self.till.url(path)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        response = self.http.get(self.url(path), timeout=30, **kwargs)
        match = (
            CSRF.search(response.text) if "text/html" in response.headers.get("Content-Type", "") else None
        )
        if match:
            self.token = match.group(1)
        return response

    def post(self, path: str, data: dict[str, Any] | None = None, **kwargs: Any) -> requests.Response:
        body = {"csrf_token": self.token, **(data or {})}
        response = self.http.post(self.url(path), data=body, timeout=30, **kwargs)
        match = (
            CSRF.search(response.text) if "text/html" in response.headers.get("Content-Type", "") else None
        )
        if match:
            self.token = match.group(1)
        return response

    def login(self, password: str = PASSWORD) -> requests.Response:
        self.get("/manager/login")
        return self.post("/manager/login", {"password": password})


@pytest.fixture
def sim():
    with running_simulator() as running:
        yield running


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


def manager_config(tmp_path, sim, *, language: str = "zh-CN", **manager: Any):
    config = till_config(tmp_path, sim, language=language)
    settings = dataclasses.replace(
        config.manager, password_hash=generate_password_hash(PASSWORD, "pbkdf2:sha256:1000"), **manager
    )
    return config.replace(manager=settings)


@pytest.fixture
def config(tmp_path, sim):
    return manager_config(tmp_path, sim)


@pytest.fixture
def till(config, clock) -> Iterator[RunningTill]:
    with running_till(config, clock=clock, workers=False) as running:
        yield running


@pytest.fixture
def manager(till) -> Manager:
    return Manager(till)


@pytest.fixture
def logged_in(manager) -> Manager:
    response = manager.login()
    assert response.status_code == 200 and response.url.endswith("/manager/day"), response.text[:300]
    return manager


class Kit:
    """What the tests share beyond fixtures (pytest's importlib mode has no test packages to import)."""

    PASSWORD = PASSWORD
    Manager = Manager
    MovableClock = MovableClock
    manager_config = staticmethod(manager_config)
    csrf_token = staticmethod(csrf_token)


@pytest.fixture
def kit() -> type[Kit]:
    return Kit


# -- headless Chromium, driven over the DevTools protocol on a pipe ----------------------------------

ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "manager"


class Browser:
    """Debian's Chromium, headless, spoken to with the DevTools protocol over ``--remote-debugging-pipe``
    (JSON messages separated by NUL bytes on file descriptors 3 and 4): no WebSocket library, no
    driver download. Just enough to load pages, run a line of script, and take screenshots."""

    def __init__(self, chromium: str, profile: Path, size: tuple[int, int] = (1280, 900)) -> None:
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
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
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
        target = ARTIFACTS / name
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
def browser() -> Iterator[Browser]:
    chromium = system_tool("chromium", "chromium-browser", package="chromium")
    # A short profile path: Chromium's singleton socket lives there, and socket paths are short.
    profile = Path(tempfile.mkdtemp(prefix="pos-chromium-"))
    opened = Browser(chromium, profile)
    try:
        yield opened
    finally:
        opened.close()
        shutil.rmtree(profile, ignore_errors=True)
