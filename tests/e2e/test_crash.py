"""``kill -9`` in the middle of a burst of sales: after a restart nothing is lost, every sale ends
in a final state with exactly one order at WeChat, and every slip prints — twice only when the
kill cut its write short, which the ledger re-queues on purpose.

``pos till`` runs as a real process (through ``sim_clock_till.py``, which only gives the till the
simulator's clock: see its docstring); the simulator runs in this process on loopback. The ledger
is a SQLite file or a PostgreSQL database (the ``database`` fixture: both). The till's
order_ttl is 5 minutes; the test passes deadlines by moving the shared clock, not by waiting.

What the design promises, and what is checked:

- A sale the till answered for exists after the crash; a sale rung up while the till died is
  either ordered (AWAITING_PAYMENT, its slip queued) or NEW, which the watcher settles once it is
  older than any ring-up (paid at WeChat -> PAID, else FAILED "interrupted, press Retry").
- WeChat has exactly one order per sale: the restarted till re-uses out_trade_no for everything.
  A FAILED sale the cashier retries gets its order then; one whose order WeChat already had and
  let expire stays FAILED (its order can never be paid: nobody saw its QR, no slip was queued).
- Paid at WeChat <-> PAID in the ledger (the watcher's query: the notices go nowhere).
- Printing: every job of the ledger is done; its bytes were written once, or twice when the kill
  left it "printing" (``requeue_interrupted_jobs`` marks it so: last_error says "interrupted"),
  and then the second copy carries the REPRINT mark on paper.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import requests

from pos.ledger import JobKind, JobState, SaleState, UnknownSale, open_ledger
from pos.ledger.ledger import INTERRUPTED
from pos.processes import PosProcess
from pos.sandbox.v3files import write_v3_files

LAUNCHER = Path(__file__).with_name("sim_clock_till.py")
BURST = 24
WORKERS = 6
KILL_AFTER = 8  # answers received before the kill; the rest are in flight or never sent
FINAL = {SaleState.PAID, SaleState.EXPIRED, SaleState.FAILED}
REPRINT = "重打印 REPRINT"  # the mark on a copy that may not be the first on paper
# order_ttl 5 is asked of WeChat as 6 minutes (a margin over its 5-minute minimum): passed.
PAST_DEADLINE = 6 * 60 + 10


def till_process(config: Path, offset_file: Path, log: Path) -> PosProcess:
    """``pos till`` through the launcher that follows the simulator's clock (the offset file)."""
    return PosProcess(
        [sys.executable, str(LAUNCHER), "--config", str(config), "till", "--port", "0"],
        name="pos till (e2e)",
        log=log,
        env={"POS_E2E_CLOCK_OFFSET_FILE": str(offset_file)},
    ).ready()


def write_config(tmp_path: Path, sim, api: str, database_url: str) -> Path:
    """``pos.toml`` for ``pos till`` on ``api`` (v3: the simulator's v3 merchant, keys in 0600 files)."""
    path = tmp_path / "pos.toml"
    v3 = write_v3_files(tmp_path / "keys", sim.v3) if api == "v3" else {}
    v3 = {k: v for k, v in v3.items() if k not in ("appid", "mch_id")}  # one merchant: the lines below
    path.write_text(
        f"""
[merchant]
{"".join(f'{key} = "{value}"{chr(10)}' for key, value in v3.items())}appid = "{sim.appid}"
mch_id = "{sim.mch_id}"
api_key = "{sim.api_key}"
api_base = "{sim.base_url}"
notify_url = "http://127.0.0.1:9/wechatpay/notify"

[database]
url = "{database_url}"

[till]
data_dir = "{tmp_path / "data"}"
order_ttl = 5

[printer]
device = "dir:{tmp_path / "printer"}"
""",
        encoding="utf-8",
    )
    return path


def all_sales(ledger) -> list:
    """Every sale by id; a gap is allowed (a PostgreSQL sequence keeps the id of an INSERT the kill
    rolled back), a run of unknown ids ends the list."""
    sales, sale_id, misses = [], 1, 0
    while misses < 2 * BURST:
        try:
            sales.append(ledger.get_sale(sale_id))
            misses = 0
        except UnknownSale:
            misses += 1
        sale_id += 1
    return sales


def test_kill_9_mid_burst_then_restart_settles_every_sale_once(api, sim, printer, tmp_path, e2e, database):
    offset_file = tmp_path / "clock-offset"

    def set_offset() -> None:
        tmp = offset_file.with_suffix(".tmp")
        tmp.write_text(repr(sim.sim.clock.offset), encoding="ascii")
        os.replace(tmp, offset_file)

    def advance(seconds: float) -> None:
        sim.advance(seconds)
        set_offset()

    set_offset()
    config = write_config(tmp_path, sim, api, database.url_in(tmp_path / "data"))
    log = tmp_path / "till.log"
    http = requests.Session()

    # -- a burst of sales, and kill -9 while it is in full flow ----------------------------------
    till = till_process(config, offset_file, log)
    answered: dict[str, dict] = {}
    unanswered = 0

    def ring_up(n: int) -> dict:
        with requests.Session() as session:
            answer = session.post(till.url + "/api/sales", json={"amount": f"{n + 1}.00"}, timeout=30)
        assert answer.status_code == 201, answer.text
        return answer.json()

    with ThreadPoolExecutor(WORKERS) as pool:
        futures = [pool.submit(ring_up, n) for n in range(BURST)]
        for future in as_completed(futures):
            try:
                sale = future.result()
            except requests.RequestException:
                unanswered += 1
                continue
            answered[sale["out_trade_no"]] = sale
            if len(answered) == KILL_AFTER:
                till.kill()
    assert len(answered) >= KILL_AFTER and unanswered >= 1

    # -- restart: the same command, the same files ---------------------------------------------
    till = till_process(config, offset_file, log)
    try:
        ledger = open_ledger(database.url_in(tmp_path / "data"))
        sales = all_sales(ledger)
        by_no = {s.out_trade_no: s for s in sales}
        assert set(answered) <= set(by_no)  # no sale the cashier saw is lost
        assert all(by_no[no].state is SaleState.AWAITING_PAYMENT for no in answered)
        assert {s.state for s in sales} <= {SaleState.NEW, SaleState.AWAITING_PAYMENT}

        # Half the customers with a QR pay; no notice reaches the till (notify_url goes nowhere).
        awaiting = [s for s in sales if s.state is SaleState.AWAITING_PAYMENT]
        paid_nos = {s.out_trade_no for s in awaiting[::2]}
        for sale in awaiting[::2]:
            sim.pay(sale.code_url, notify=False)
        e2e.wait_until(
            lambda: all(ledger.sale_by_out_trade_no(no).state is SaleState.PAID for no in paid_nos),
            "the restarted till's watcher to find the payments",
            timeout=30,
        )

        # The deadline passes: unpaid orders are closed (EXPIRED), interrupted ones settled (FAILED).
        advance(PAST_DEADLINE)
        e2e.wait_until(
            lambda: {s.state for s in all_sales(ledger)} <= FINAL, "every sale settled", timeout=30
        )

        # The cashier presses Retry on each failed sale; those WeChat never had get their order now.
        retried = []
        for sale in all_sales(ledger):
            if sale.state is SaleState.FAILED:
                answer = http.post(f"{till.url}/api/sales/{sale.id}/retry", json={}, timeout=30)
                assert answer.status_code == 200, answer.text
                if answer.json()["state"] == "AWAITING_PAYMENT":
                    retried.append(answer.json())
        for sale in retried[:1]:
            sim.pay(sale["code_url"], notify=False)
            paid_nos.add(sale["out_trade_no"])
        if retried:
            e2e.wait_until(
                lambda: ledger.sale_by_out_trade_no(retried[0]["out_trade_no"]).state is SaleState.PAID,
                "the retried sale to be PAID",
                timeout=30,
            )
            advance(PAST_DEADLINE)
        e2e.wait_until(
            lambda: {s.state for s in all_sales(ledger)} <= FINAL, "every sale final again", timeout=30
        )
        e2e.wait_until(lambda: not ledger.unfinished_jobs(), "the print queue to empty", timeout=30)
    finally:
        assert till.stop() == 0

    sales = all_sales(ledger)
    orders = Counter(o["out_trade_no"] for o in sim.orders())
    wechat = {o["out_trade_no"]: o for o in sim.orders()}
    assert set(orders) == {s.out_trade_no for s in sales}  # no order WeChat has that the ledger lacks
    assert set(orders.values()) == {1}  # exactly one order per sale
    for sale in sales:
        order = wechat[sale.out_trade_no]
        assert (sale.state is SaleState.PAID) == (order["state"] == "SUCCESS"), (sale, order)
        assert (sale.out_trade_no in paid_nos) == (sale.state is SaleState.PAID)
        if sale.state is SaleState.PAID:
            assert sale.transaction_id == order["transaction_id"]
        if sale.state is SaleState.FAILED:
            # Interrupted by the kill, its order (made before the kill) let expire at WeChat.
            assert sale.out_trade_no not in answered and sale.code_url is None
            assert order["state"] == "NOTPAY" and order["expires_at"] <= sim.sim.clock.now()

    # -- printing -----------------------------------------------------------------------------------
    bins = printer.bin_counts()
    journal = Counter(int(line["job"].removeprefix("job-")) for line in printer.journal())
    for sale in sales:
        jobs = ledger.jobs_for_sale(sale.id)
        kinds = Counter(job.kind for job in jobs)
        expected = {
            SaleState.PAID: {JobKind.SALE_SLIP: 1, JobKind.CONFIRMATION: 1},
            SaleState.EXPIRED: {JobKind.SALE_SLIP: 1, JobKind.EXPIRED_NOTICE: 1},
            SaleState.FAILED: {},
        }[sale.state]
        assert kinds == Counter(expected), (sale.out_trade_no, sale.state, kinds)
        for job in jobs:
            assert job.state is JobState.DONE
            # Once; or, for a job the kill left "printing", maybe twice (the kill may have come
            # before or after its bytes reached the printer).
            allowed = {1, 2} if job.last_error == INTERRUPTED else {1}
            assert bins[job.id] in allowed, (job, bins[job.id])
            assert 1 <= journal[job.id] <= bins[job.id]
            if bins[job.id] == 2:  # the kill came after its bytes went out: the second copy says so
                first, second = (
                    (printer.path / name).read_bytes().decode("gb18030", errors="replace")
                    for name in (f"job-{job.id}.bin", f"job-{job.id}-2.bin")
                )
                assert REPRINT not in first and REPRINT in second, job
                assert job.interrupted_at is not None
    interrupted = [j for s in sales for j in ledger.jobs_for_sale(s.id) if j.last_error == INTERRUPTED]
    ledger.close()
    http.close()
    print(
        f"burst {BURST}: {len(answered)} answered before the kill, {unanswered} not; "
        f"{len(sales)} sales in the ledger: {dict(Counter(str(s.state) for s in sales))}; "
        f"{len(retried)} reordered by Retry; jobs re-queued by the kill: {[j.id for j in interrupted]}"
    )
