"""A chain's tills and listeners as real processes, for tests and benches: a config file per till
(or listener) on one ledger, and ``pos till`` / ``pos listen`` started and stopped as a person would.

    config = write_config(tmp_path / "till-a", sim, "postgresql+psycopg://...", lane="01")
    with PosProcess(config, "till") as till:
        requests.post(till.url + "/api/sales", json={"amount": "12.50"})
        wait_until(lambda: printed(tmp_path / "till-a"), "the sale slip")
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def write_config(
    folder: Path, sim: Any, database_url: str, *, store: str = "S01", lane: str = "01", notify_url: str = ""
) -> Path:
    """``folder/pos.toml`` for one till (its own data folder and ``dir:`` printer under ``folder``)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "pos.toml"
    path.write_text(
        f"""
[merchant]
appid = "{sim.appid}"
mch_id = "{sim.mch_id}"
api_key = "{sim.api_key}"
api_base = "{sim.base_url}"
notify_url = "{notify_url or "http://127.0.0.1:9/wechatpay/notify"}"

[database]
url = "{database_url}"

[store]
id = "{store}"

[till]
lane = "{lane}"
data_dir = "{folder / "data"}"

[listener]
host = "127.0.0.1"

[printer]
device = "dir:{folder / "printer"}"
""",
        encoding="utf-8",
    )
    return path


def printed(folder: Path) -> list[int]:
    """The ledger job ids the ``dir:`` printer under ``folder`` wrote, in order."""
    journal = folder / "printer" / "jobs.jsonl"
    if not journal.exists():
        return []
    lines = [json.loads(line) for line in journal.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [int(line["job"].removeprefix("job-")) for line in lines]


def wait_until(predicate: Any, what: str, timeout: float = 60.0) -> Any:
    """Poll ``predicate`` until it is truthy (a deadline for a hung test, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {value!r}")
        time.sleep(0.05)


class PosProcess:
    """``pos --config CONFIG COMMAND --port 0`` in its own process; ``url`` is where it serves."""

    def __init__(self, config: Path, command: str) -> None:
        self.log_path = config.parent / f"{command}.log"
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pos.cli", "--config", str(config), command, "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        line = self.process.stdout.readline() if self.process.stdout else ""
        if "http://" not in line:
            self.stop()
            raise AssertionError(f"pos {command} did not start: {line!r}; see {self.log_path}")
        self.url = line[line.index("http://") :].split()[0].rstrip("/")

    def stop(self) -> int:
        """SIGTERM, as systemd stops it; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()
        finally:
            self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def __enter__(self) -> PosProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
