"""``pos sale --code`` as a real subprocess against a real till and the simulator."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest
import requests

from pos.sandbox.testing import running_simulator
from pos.till.testing import running_till, till_config


@pytest.fixture
def sim():
    with running_simulator() as running:
        yield running


@pytest.fixture
def till(sim, tmp_path):
    with running_till(till_config(tmp_path, sim), workers=False) as running:
        yield running


def pos_sale(tmp_path, *args: str) -> subprocess.CompletedProcess:
    config = tmp_path / "en.toml"
    config.write_text('[store]\nlanguage = "en"\n', encoding="utf-8")
    command = [sys.executable, "-m", "pos.cli", "--config", str(config), "sale", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def paycode(sim, outcome: str) -> str:
    return sim.paycode(outcome)


def test_pos_sale_code_pays_by_payment_code(till, sim, tmp_path):
    done = pos_sale(tmp_path, "18.80", "--code", paycode(sim, "paid"), "--url", till.base_url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "Paid"
    sale = till.http.get(till.url("/api/sales/1")).json()
    assert sale["state"] == "PAID" and not sale.get("code_url")


def test_pos_sale_code_declined_exits_1_with_plain_words(till, sim, tmp_path):
    done = pos_sale(tmp_path, "18.80", "--code", paycode(sim, "expired"), "--url", till.base_url)
    assert done.returncode == 1 and "refresh" in done.stdout


def test_pos_sale_code_refuses_a_barcode_before_ringing_up(till, tmp_path):
    done = pos_sale(tmp_path, "18.80", "--code", "6901234567892", "--url", till.base_url)
    assert done.returncode == 2 and "not a WeChat payment code" in done.stderr
    assert till.http.get(till.url("/api/sales")).json()["sales"] == []


def test_pos_sale_code_waits_while_the_customer_types_the_password(sim, tmp_path):
    """The till answers "userpaying" at once; the command asks until its watcher (a real thread,
    the real clock: one query 5 s after the pay call) finds the payment."""
    with running_till(till_config(tmp_path, sim)) as till:
        code = paycode(sim, "password")

        def customer() -> None:  # types the password once the till has charged the code
            for _ in range(300):
                if sim.orders():
                    requests.post(sim.base_url + f"/_sim/paycode/{code}", json={"action": "pay"}, timeout=5)
                    return
                time.sleep(0.1)

        customer = threading.Thread(target=customer)
        customer.start()
        try:
            done = pos_sale(tmp_path, "18.80", "--code", code, "--url", till.base_url)
        finally:
            customer.join()
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert "The customer must enter the payment password on the phone" in lines
        assert lines[-1] == "Paid"
        assert till.http.get(till.url("/api/sales/1")).json()["state"] == "PAID"
