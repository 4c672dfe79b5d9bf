"""Many tills, one ledger: two or three spoolers (different lanes, different stores) on one ledger,
each with its own ``dir:`` printer, on SQLite and PostgreSQL. Each prints only its till's jobs;
a till that was off prints what it missed when it comes back; each watcher asks WeChat about its
own till's sales only. (The PostgreSQL wake-up across processes: tests/till/test_wakeup.py.)"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pos.config import Config, PrinterConfig
from pos.ledger import JobKind, JobState, Ledger, LineItem, MessageKind, Sale, SaleState, open_ledger
from pos.orders.checkout import Checkout
from pos.sandbox.testing import RunningSimulator, running_simulator
from pos.testing.clock import FakeClock
from pos.till.spooler import Spooler
from pos.till.watcher import Watcher
from pos.wechatpay import WeChatPayClient

FAST = {"backoff_base": 0.01, "backoff_max": 0.05, "idle_poll": 0.02}
TILLS = {"a": ("S01", "01"), "b": ("S01", "02"), "c": ("S02", "01")}


def till_config(base: Config, tmp_path: Path, name: str) -> Config:
    store, lane = TILLS[name]
    return base.replace(
        store=dataclasses.replace(base.store, id=store),
        till=dataclasses.replace(base.till, lane=lane),
        printer=PrinterConfig(device=f"dir:{tmp_path / ('printer-' + name)}"),
    )


def printed(tmp_path: Path, name: str) -> list[int]:
    """The ledger job ids the till's ``dir:`` printer wrote, in order."""
    journal = tmp_path / f"printer-{name}" / "jobs.jsonl"
    if not journal.exists():
        return []
    lines = [json.loads(line) for line in journal.read_text(encoding="utf-8").splitlines() if line]
    return [int(line["job"].removeprefix("job-")) for line in lines]


def awaiting(ledger: Ledger, name: str, now: datetime) -> Sale:
    store, lane = TILLS[name]
    sale = ledger.create_sale(store=store, lane=lane, items=[LineItem("拿铁", 1800)])
    return ledger.record_order(
        sale.id,
        code_url=f"weixin://wxpay/bizpayurl?pr={sale.id:07d}",
        prepay_id=f"wx{sale.id:030d}",
        expires_at=now + timedelta(minutes=15),
    )


def paid(ledger: Ledger, sale: Sale, now: datetime) -> Sale:
    outcome = ledger.mark_paid(
        sale.out_trade_no,
        transaction_id=f"42000{sale.id:023d}",
        total_fee=sale.total_fee,
        time_end=now,
        source="notice",
    )
    assert outcome.sale is not None and outcome.sale.state is SaleState.PAID
    return outcome.sale


def wait_until(predicate, what: str, timeout: float = 30.0) -> None:
    """Poll ``predicate`` (a deadline for a hung test, not a timing assertion)."""
    deadline = datetime.now(UTC) + timedelta(seconds=timeout)
    while not predicate():
        if datetime.now(UTC) > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def ledger(demo_config) -> Iterator[Ledger]:
    with open_ledger(demo_config.database.url) as opened:
        yield opened


@pytest.fixture
def spoolers(ledger, demo_config, tmp_path) -> Iterator[dict[str, Spooler]]:
    made = {name: Spooler(ledger, till_config(demo_config, tmp_path, name), **FAST) for name in TILLS}
    yield made
    for spooler in made.values():
        spooler.stop()


def test_each_tills_spooler_prints_only_its_tills_jobs(ledger, spoolers, tmp_path):
    now = datetime.now(UTC)
    a1, b1, c1, b2 = (awaiting(ledger, name, now) for name in ("a", "b", "c", "b"))
    paid(ledger, c1, now)  # as the listener would: the confirmation goes to c's till
    z_b = spoolers["b"].enqueue(JobKind.Z_REPORT, payload={"business_date": now.date().isoformat()})
    reprint_at_a = spoolers["a"].reprint(c1.id, JobKind.SALE_SLIP)  # asked at a: printed at a
    for name in ("b", "a", "c"):  # one at a time, each until it has nothing left
        while spoolers[name].run_once():
            pass
    slips = {sale.id: [j.id for j in ledger.jobs_for_sale(sale.id)] for sale in (a1, b1, c1, b2)}
    assert {name: printed(tmp_path, name) for name in TILLS} == {
        "a": [slips[a1.id][0], reprint_at_a.id],
        "b": [slips[b1.id][0], slips[b2.id][0], z_b.id],
        "c": slips[c1.id][:2],  # its sale slip and its confirmation
    }
    assert [ledger.get_job(j).kind for j in printed(tmp_path, "c")] == [
        JobKind.SALE_SLIP,
        JobKind.CONFIRMATION,
    ]
    assert ledger.unfinished_jobs() == []


def test_a_till_that_was_off_prints_what_it_missed_when_it_comes_back(ledger, spoolers, tmp_path):
    now = datetime.now(UTC)
    spoolers["a"].start()
    a1, b1 = awaiting(ledger, "a", now), awaiting(ledger, "b", now)
    paid(ledger, b1, now)  # b is off: its customer paid all the same
    a2 = awaiting(ledger, "a", now)
    b2 = paid(ledger, awaiting(ledger, "b", now), now)
    spoolers["a"].wake()
    wait_until(lambda: len(printed(tmp_path, "a")) == 2, "a's two sale slips")
    missed = [j.id for j in ledger.unfinished_jobs(store="S01", lane="02")]
    assert [ledger.get_job(j).state for j in missed] == [JobState.QUEUED] * 4  # nobody took them
    assert {ledger.get_job(j).sale_id for j in printed(tmp_path, "a")} == {a1.id, a2.id}
    assert spoolers["a"].status().queued == 0 and spoolers["b"].status().queued == 4
    spoolers["b"].start()  # b comes back
    wait_until(lambda: len(printed(tmp_path, "b")) == 4, "b's missed slips")
    assert printed(tmp_path, "b") == missed  # all of them, in the order they were queued
    assert [ledger.get_job(j).sale_id for j in missed] == [b1.id, b1.id, b2.id, b2.id]
    assert ledger.unfinished_jobs() == []
    assert len(printed(tmp_path, "a")) == 2 and printed(tmp_path, "c") == []


def test_a_till_restarting_mid_print_re_queues_only_its_own_job(ledger, spoolers, tmp_path):
    now = datetime.now(UTC)
    awaiting(ledger, "a", now), awaiting(ledger, "b", now)
    printing_a = ledger.claim_next_job(store="S01", lane="01")  # a "crashed" with it in hand
    printing_b = ledger.claim_next_job(store="S01", lane="02")  # b is printing it right now
    assert [j.id for j in spoolers["a"].recover()] == [printing_a.id]
    assert ledger.get_job(printing_b.id).state is JobState.PRINTING  # not a's to re-queue
    assert [j.id for j in spoolers["b"].recover()] == [printing_b.id]  # b's own restart does


# -- the watcher ---------------------------------------------------------------------------------


@pytest.fixture
def sim() -> Iterator[RunningSimulator]:
    with running_simulator(time_scale=0.001) as running:
        yield running


def test_each_tills_watcher_queries_only_its_own_sales(demo_config, sim, tmp_path):
    clock = FakeClock(datetime.now(UTC), follow=sim.advance)
    merchant = dataclasses.replace(
        demo_config.merchant, api_base=sim.base_url, appid=sim.appid, mch_id=sim.mch_id, api_key=sim.api_key
    )
    base = demo_config.replace(merchant=merchant)
    configs = {name: till_config(base, tmp_path, name) for name in ("a", "b")}
    with open_ledger(base.database.url, clock=clock) as ledger:
        clients = {
            n: WeChatPayClient.from_config(c.merchant, timeout=2.0, retries=1, backoff=0)
            for n, c in configs.items()
        }
        try:
            sales = {
                n: Checkout(ledger, clients[n], c, clock=clock).ring_up(items=[LineItem("拿铁", 1800)])
                for n, c in configs.items()
            }
            assert {n: (s.store, s.lane) for n, s in sales.items()} == {"a": TILLS["a"], "b": TILLS["b"]}
            for sale in sales.values():
                sim.pay(sale.code_url, notify=False)  # the notices are lost: only a query finds them
            watcher_a = Watcher(ledger, clients["a"], configs["a"], clock=clock)
            clock.advance(3)
            assert watcher_a.poll_once() == 1  # a's sale, the one it owns
            assert ledger.get_sale(sales["a"].id).state is SaleState.PAID
            assert ledger.get_sale(sales["b"].id).state is SaleState.AWAITING_PAYMENT
            queries_b = [
                m for m in ledger.messages_for(sales["b"].out_trade_no) if m.kind is MessageKind.QUERY
            ]
            assert queries_b == []  # nobody asked WeChat about b's sale
            watcher_b = Watcher(ledger, clients["b"], configs["b"], clock=clock)
            assert watcher_b.poll_once() == 1
            assert ledger.get_sale(sales["b"].id).state is SaleState.PAID
        finally:
            for client in clients.values():
                client.close()
