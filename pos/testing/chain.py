"""A chain's tills and listeners as real processes, for tests: a config file per till (or
listener) on one ledger, and what its ``dir:`` printer wrote. The processes themselves are started
and stopped by :mod:`pos.processes` (the one way, shared with the chain demo and the bench).

    config = write_config(tmp_path / "till-a", sim, "postgresql+psycopg://...", lane="01")
    with start_pos(config, "till") as till:
        requests.post(till.url + "/api/sales", json={"amount": "12.50"})
        wait_until(lambda: printed(tmp_path / "till-a"), "the sale slip")
"""

from __future__ import annotations

import json
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
