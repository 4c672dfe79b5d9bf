"""Fixtures shared by every test package."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pos import config


@pytest.fixture
def demo_config(tmp_path) -> config.Config:
    """The embedded defaults with the data directory and database under tmp_path."""
    cfg = config.from_mapping({}, "<test>", env={})
    return cfg.replace(
        till=config.TillConfig(data_dir=str(tmp_path)),
        database=config.DatabaseConfig(url=f"sqlite:///{tmp_path / 'pos.sqlite3'}"),
        printer=config.PrinterConfig(device=f"dir:{tmp_path / 'printer'}"),
    )


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
