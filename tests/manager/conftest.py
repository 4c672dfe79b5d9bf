"""Fixtures for the manager's pages: a till on loopback against the simulator, with a manager password.

The password hash uses few PBKDF2 rounds so a test of ten wrong passwords takes
milliseconds; production hashes are scrypt (``pos manager set-password``).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from werkzeug.security import generate_password_hash

from pos.sandbox.testing import running_simulator
from pos.testing.clock import FakeClock
from pos.till.testing import RunningTill, running_till, till_config

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


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
def clock() -> FakeClock:
    return FakeClock(live=True)


def manager_config(tmp_path, sim, *, language: str = "zh-CN", database: Any = None, **manager: Any):
    """The till's config with a manager's password; ``database``: a DatabaseConfig (default SQLite)."""
    sections = {"database": database} if database is not None else {}
    config = till_config(tmp_path, sim, language=language, **sections)
    settings = dataclasses.replace(
        config.manager, password_hash=generate_password_hash(PASSWORD, "pbkdf2:sha256:1000"), **manager
    )
    return config.replace(manager=settings)


@pytest.fixture
def config(database, tmp_path, sim):
    return manager_config(tmp_path, sim, database=database.config)


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
    manager_config = staticmethod(manager_config)
    csrf_token = staticmethod(csrf_token)


@pytest.fixture
def kit() -> type[Kit]:
    return Kit
