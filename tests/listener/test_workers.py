"""``pos listen --workers 2``: two real processes on one port, one ledger; paid once, stopped as one."""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from pathlib import Path

import pytest
import requests

from pos.cli import main
from pos.config import ConfigError, from_mapping
from pos.ledger import JobKind, SaleState
from pos.processes import PosProcess, start_pos
from pos.wechatpay import notices


def write_config(tmp_path: Path, stack) -> Path:
    merchant = stack.config.merchant
    path = tmp_path / "listen.toml"
    path.write_text(
        f"""
[merchant]
appid = "{merchant.appid}"
mch_id = "{merchant.mch_id}"
api_key = "{merchant.api_key}"
api_base = "{merchant.api_base}"

[database]
url = "{stack.config.database.url}"

[listener]
host = "127.0.0.1"
workers = 2
""",
        encoding="utf-8",
    )
    return path


def workers_of(listening: PosProcess) -> list[int]:
    """The pids of a ``pos listen --workers 2`` parent's worker processes."""
    pid = listening.pid
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


@pytest.fixture
def listening(tmp_path, stack):
    config = write_config(tmp_path, stack)
    with start_pos(config, "listen") as running:
        assert "2 processes" in running.output(), running.output()
        deadline = time.monotonic() + 20
        while len(workers_of(running)) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        yield running


def send_all(url: str, bodies: list[bytes], threads: int = 8) -> list[bytes]:
    """POST every body over ``threads`` new connections at a time (new connections spread over the
    workers: the kernel hands each one to whichever process accepts first)."""
    replies: list[bytes] = [b""] * len(bodies)

    def run(start: int) -> None:
        for i in range(start, len(bodies), threads):
            with requests.Session() as http:
                replies[i] = http.post(
                    url, data=bodies[i], headers={"Content-Type": "text/xml"}, timeout=30
                ).content

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    return replies


def test_two_processes_pay_each_sale_once_and_queue_one_slip(stack, listening):
    sales = [stack.ring_up(1000 + n) for n in range(12)]
    bodies = [stack.signed(stack.notice_for(sale)) for sale in sales]
    load = [body for body in bodies for _ in range(4)]  # each notice four times, interleaved
    replies = send_all(listening.url + "/wechatpay/notify", load)
    assert replies == [notices.success_reply()] * len(load)
    for sale in sales:
        assert stack.ledger.get_sale(sale.id).state is SaleState.PAID
        jobs = [j for j in stack.ledger.jobs_for_sale(sale.id) if j.kind is JobKind.CONFIRMATION]
        assert len(jobs) == 1
    assert len(set(workers_of(listening))) == 2


def test_sigterm_stops_every_worker_and_the_parent_cleanly(listening):
    workers = workers_of(listening)
    assert requests.get(listening.url + "/healthz", timeout=10).text == "ok\n"
    listening.process.send_signal(signal.SIGTERM)
    assert listening.process.wait(timeout=20) == 0
    for pid in workers:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
    err = listening.log()
    assert "Traceback" not in err
    assert "event=listener_worker_died" not in err


def test_a_worker_that_dies_stops_the_rest_so_systemd_restarts_the_set(listening):
    first, second = workers_of(listening)
    os.kill(first, signal.SIGKILL)
    assert listening.process.wait(timeout=20) == 1
    assert not Path(f"/proc/{second}").exists() or "zombie" in Path(f"/proc/{second}/status").read_text()
    assert re.search(rf"event=listener_worker_died worker=\d pid={first}", listening.log())


def test_workers_stop_when_the_parent_is_killed_outright(listening):
    workers = workers_of(listening)
    listening.process.kill()  # SIGKILL: no handler runs in the parent
    listening.process.wait(timeout=10)
    deadline = time.monotonic() + 20
    while any(_running(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_running(pid) for pid in workers)


def _running(pid: int) -> bool:
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False


def test_workers_must_be_1_to_16(tmp_path, stack, capsys):
    with pytest.raises(ConfigError, match=r"\[listener\] workers must be 1..16 processes, not 0"):
        from_mapping({"listener": {"workers": 0}}, "pos.toml", env={})
    config = write_config(tmp_path, stack)
    assert main(["--config", str(config), "listen", "--workers", "17"]) == 2
    assert "--workers must be 1..16, not 17" in capsys.readouterr().err
