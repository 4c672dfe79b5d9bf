"""The printer is off while sales are rung up: the sales go on, the jobs wait in the queue (attempts
growing, nothing lost), and when the printer comes back they print in order, none twice.

Two kinds of "off": the ``dir:`` printer's state file saying ``unavailable`` (a write fails, as with
an unplugged USB printer), and a loopback TCP printer answering ``DLE EOT`` with "offline" (the
spooler asks before sending and holds the job back)."""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest

from pos.ledger import JobState
from pos.printing.devices.testing import FakeNetworkPrinter
from pos.till.testing import running_till


class DirSwitch:
    def __init__(self, printer) -> None:
        self.printer = printer
        self.spec = printer.spec

    def off(self) -> None:
        self.printer.set_state("unavailable")

    def on(self) -> None:
        self.printer.set_state("online")

    def printed(self) -> list[bytes]:
        return [(self.printer.path / j["bin"]).read_bytes() for j in self.printer.journal()]

    def close(self) -> None:
        pass


class TcpSwitch:
    def __init__(self) -> None:
        self.fake = FakeNetworkPrinter(mode="offline")
        self.spec = self.fake.spec

    def off(self) -> None:
        self.fake.mode = "offline"

    def on(self) -> None:
        self.fake.mode = "online"

    def printed(self) -> list[bytes]:
        return self.fake.jobs

    def close(self) -> None:
        self.fake.close()


@pytest.fixture(params=["dir-unavailable", "tcp-offline"])
def switch(request, printer):
    device = DirSwitch(printer) if request.param == "dir-unavailable" else TcpSwitch()
    yield device
    device.close()


def test_jobs_wait_while_the_printer_is_off_then_print_in_order_once(
    database, api, sim, switch, tmp_path, e2e
):
    base = e2e.config(api, tmp_path, sim, database=database.config)
    config = dataclasses.replace(base, printer=dataclasses.replace(base.printer, device=switch.spec))
    switch.off()
    with running_till(config, clock=e2e.clock_of(sim)) as till:
        spooler = till.till.spooler
        spooler.backoff_base, spooler.backoff_max = 0.02, 0.1  # compressed back-off, same schedule shape
        ledger = till.till.ledger

        sales = []
        for n in range(4):
            answer = till.http.post(till.url("/api/sales"), json={"amount": f"{n + 1}.50"}, timeout=30)
            assert answer.status_code == 201 and answer.json()["state"] == "AWAITING_PAYMENT"
            sales.append(answer.json())
        # The cashier still has the QR on screen while the paper cannot come out.
        assert till.http.get(till.url(f"/api/sales/{sales[0]['id']}/qr.svg"), timeout=10).status_code == 200

        # The first customer pays from the screen; its confirmation queues behind the four slips.
        sim.pay(sales[0]["code_url"], notify=False)
        sim.advance(2)
        till.till.watcher.nudge()
        e2e.wait_until(lambda: ledger.get_sale(sales[0]["id"]).state == "PAID", "the first sale PAID")

        def head_attempts() -> int:
            unfinished = ledger.unfinished_jobs()
            return len(unfinished) == 5 and min(unfinished, key=lambda j: j.id).attempts

        e2e.wait_until(lambda: head_attempts() >= 3, "the head job to be retried a few times")
        assert switch.printed() == []
        printer = till.http.get(till.url("/api/printer"), timeout=10).json()
        assert printer["printer"] == "offline" and printer["last_error"]
        queued = {j.id: j for j in ledger.unfinished_jobs()}
        assert len(queued) == 5  # nothing lost
        # The head job is the one waiting for the printer (it is "printing" only during an attempt).
        assert printer["current_job"] == min(queued) and printer["queued"] in (4, 5)
        assert all(j.attempts == 0 for j in queued.values() if j.id != min(queued))  # the head blocks

        switch.on()
        e2e.wait_until(lambda: len(switch.printed()) >= 5, "five jobs printed after switching on")
        e2e.wait_until(lambda: not ledger.unfinished_jobs(), "an empty queue")
        assert all(ledger.get_job(job_id).state is JobState.DONE for job_id in queued)
        assert ledger.get_job(min(queued)).attempts >= 3  # the record of the wait is kept
        assert till.http.get(till.url("/api/printer"), timeout=10).json()["printer"] in ("online", "virtual")

    printed = switch.printed()
    expected = [s["out_trade_no"] for s in sales] + [sales[0]["out_trade_no"]]
    found = [next(s["out_trade_no"] for s in sales if s["out_trade_no"].encode() in data) for data in printed]
    assert found == expected  # the queue's order: four slips, then the confirmation
    assert len(printed) == 5 and Counter(printed).most_common(1)[0][1] == 1  # none twice
