"""A chain on one ledger: K tills (processes) ring sales at a steady rate; customers pay; two
listener processes take WeChat's notices. For K = 1, 4, 16, 64 on PostgreSQL, and one store on
SQLite beside it.

    .venv/bin/python bench/chain.py [--tills 1,4,16,64] [--seconds 30] [--rate 8] [--database URL]
                                    [--raw FILE]

Each till is its own process (``running_till``: the till's Flask app under waitress, its
spooler printing to a ``file:`` printer, its watcher), a lane of a store (two lanes a store:
``S01``/``01``, ``S01``/``02``, ``S02``/``01`` ...), all on one ledger. A till rings one sale
every ``K / rate`` seconds (at most one a second: a lane cannot ring faster), so the chain rings
``rate`` sales a second whatever K is, and every run lasts ``--seconds``. Right after each
ring-up the customer pays at the simulator (``POST /_sim/pay``, notice on); the simulator (``pos
sim``, its own process) sends the notice to one of two ``pos listen`` processes (even lanes to
one, odd lanes to the other), which marks the sale paid and queues its confirmation slip.

Figures, per run:

- **ring-up, our own**: ``POST /api/sales`` until it answered, minus the time inside
  ``client.unified_order`` (WeChat's); p50 and p95. Target at K = 64: p95 under 30 ms.
- **payment to confirmation job**: from the moment the customer's payment is sent to the
  simulator to the ``created_at`` of the sale's confirmation job in the ledger (the listener's
  transaction); p50 and p95. Target at K = 64: p95 under 200 ms.
- **notices per second**: sales paid per second of the run.
- **CPU per sale**: CPU seconds of every process of the chain (tills, listeners and their
  workers, the simulator, and PostgreSQL's server with its backends) over the run, per sale.
  Flat as K grows is the target.
- **lost / doubled**: sales paid at the simulator but not PAID in the ledger by the end, and
  sales with more than one payment or confirmation job. Both must be 0.
- **failed**: a worker's request to its till or to the simulator that failed or took over
  ``REQUEST_TIMEOUT`` seconds: that sale counts as not rung up (or not paid) and the bench goes on;
  the first ten are printed with their URL, error and moment in the run.

``--raw FILE`` writes the last run's per-till figures: each payment's moment and its time to the
confirmation job, each ring-up's moment, own time and the till process's CPU so far.

Start-up: every process (the simulator, the listeners, the tills) starts through one
``pos.processes.ProcessGroup``, the tills ``START_BATCH`` at a time, each batch serving before the
next starts (a per-batch timeout, so the allowance grows with K); a till that fails names itself
and its log's last line, and every process started is stopped. The bench prints the most
PostgreSQL connections the chain can hold (``connection_budget``) and starts its throwaway
cluster allowing that many; with ``--database`` it warns when the server allows fewer.

Baseline, in the same run: K = 1 on a SQLite file (one store, the kiosk's set-up), same rate
per till. With no ``--database`` the PostgreSQL server is a throwaway cluster from Debian's
binaries (``pos.testing.postgres``: fsync off, as tests run it; a real server with fsync on
spends more per commit).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Any

from pos.processes import Launch, ProcessFailed, ProcessGroup, pos_command

TARGET_RINGUP_P95_MS = 30.0
TARGET_CONFIRMATION_P95_MS = 200.0
IDENTITY = {"appid": "wx2421b1c4370ec43b", "mch_id": "10000100", "api_key": "chain" * 6 + "ab"}
LISTENERS = 2
START_BATCH = 2 * (os.cpu_count() or 1)  # till processes started at once
REQUEST_TIMEOUT = 30.0  # seconds a worker waits for its till or the simulator before counting a failure
START_TIMEOUT = 180.0  # seconds a batch of till processes may take to serve (a loaded machine)


def pct(values: list[float], p: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process, its living descendants and the children it has
    reaped; 0 where /proc is missing.

    The reaped children count (``cutime``/``cstime``): PostgreSQL's backends end when a till
    closes its pool, and without them the server's CPU over a run came out negative at K = 64."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        children: list[int] = []
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as listing:
                children += [int(child) for child in listing.read().split()]
    except OSError:
        return 0.0
    own = sum(int(field) for field in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime stime cutime cstime
    return own + sum(process_cpu(child) for child in children)


def till_place(index: int) -> tuple[str, str]:
    """The store and lane of the index-th till: two lanes a store."""
    return f"S{index // 2 + 1:02d}", f"{index % 2 + 1:02d}"


# -- one till (a process of its own) ------------------------------------------------------------------


def worker(spec: dict[str, Any]) -> None:
    """Ring ``spec["sales"]`` sales at ``spec["interval"]`` once ``spec["go"]`` exists; pay each; write
    the figures as JSON to ``spec["out"]``."""
    import dataclasses

    import requests

    from pos import config as pos_config
    from pos.ledger import JobKind, SaleState
    from pos.till.testing import running_till, till_config

    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("pos").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    tmp = Path(spec["dir"])
    base = till_config(tmp, _Sim(spec["sim"]))
    config = base.replace(
        merchant=dataclasses.replace(base.merchant, notify_url=spec["notify_url"]),
        store=dataclasses.replace(base.store, id=spec["store"]),
        till=dataclasses.replace(base.till, lane=spec["lane"]),
        database=pos_config.DatabaseConfig(url=spec["database"]),
        # The slips' bytes appended to a file, as a USB printer takes them: the dir: printer's PNG
        # previews are a demo's aid, not a shop's work, and would be most of the CPU counted.
        printer=dataclasses.replace(base.printer, device=f"file:{tmp / 'printer.bin'}"),
    )
    body = {"items": [{"name": "拿铁", "price": "18.00", "qty": 2}]}
    ringup: list[float] = []
    paid_at: dict[int, float] = {}
    failures: list[dict[str, Any]] = []
    rung_at: list[
        tuple[float, float, float]
    ] = []  # (when, own ring-up seconds, process CPU so far), for --raw
    with running_till(config) as till, requests.Session() as customer:
        client = till.till.client
        inside = _Stopwatch(client.unified_order)
        client.unified_order = inside  # type: ignore[method-assign]
        till.http.post(till.url("/api/sales"), json=body, timeout=30)  # warm: first pages, first fonts
        print(f"bench till {spec['store']}-{spec['lane']} at {till.url('/')}", flush=True)  # ready
        while not Path(spec["go"]).exists():
            time.sleep(0.05)
        go = float(Path(spec["go"]).read_text())
        start = go + spec["phase"]
        chain_done = go + spec["sales"] * spec["interval"]  # every till has rung its last sale by then
        cpu_before = time.process_time()
        for n in range(spec["sales"]):
            delay = start + n * spec["interval"] - time.time()
            if delay > 0:
                time.sleep(delay)
            inside.take()
            began = time.perf_counter()
            url = till.url("/api/sales")
            try:
                answer = till.http.post(url, json=body, timeout=REQUEST_TIMEOUT)
                sale = answer.json()
            except (requests.RequestException, ValueError) as exc:  # not rung up; say where it hung
                failures.append(_failure(url, exc, began, time.time()))
                continue
            answered = time.perf_counter() - began
            if answer.status_code != 201 or sale.get("state") != "AWAITING_PAYMENT":
                failures.append(
                    _failure(url, f"HTTP {answer.status_code} {sale.get('state')}", began, time.time())
                )
                continue  # counted as a sale not rung up
            ringup.append(answered - inside.take())
            rung_at.append((time.time(), ringup[-1], time.process_time() - cpu_before))
            paid_at[sale["id"]] = time.time()
            url = spec["sim"] + "/_sim/pay"
            began = time.perf_counter()
            try:
                customer.post(
                    url, json={"code_url": sale["code_url"], "notify": True}, timeout=REQUEST_TIMEOUT
                )
            except requests.RequestException as exc:  # the payment may or may not have happened
                failures.append(_failure(url, exc, began, time.time()))
        # Check the payments only once the whole chain has stopped ringing (and a moment more), then
        # once a second: 64 tills asking the ledger five times a second while the others still ring
        # would be the bench's load, not the chain's, and slow the very listeners it measures.
        time.sleep(max(0.0, chain_done + 2.0 - time.time()))
        deadline = time.time() + 60
        ledger = till.till.ledger
        unpaid = set(paid_at)
        while unpaid and time.time() < deadline:
            unpaid = {sale_id for sale_id in unpaid if ledger.get_sale(sale_id).state is not SaleState.PAID}
            if unpaid:
                time.sleep(1.0)
        cpu = time.process_time() - cpu_before
        confirmation: list[float] = []
        timeline: list[tuple[float, float]] = []  # (paid at, payment to job), for --raw
        lost = doubled = 0
        for sale_id, at in paid_at.items():
            jobs = [j for j in ledger.jobs_for_sale(sale_id) if j.kind is JobKind.CONFIRMATION]
            payments = ledger.payments_for_sale(sale_id)
            if ledger.get_sale(sale_id).state is not SaleState.PAID:
                lost += 1
            if len(jobs) > 1 or len(payments) > 1:
                doubled += 1
            if jobs:
                confirmation.append(jobs[0].created_at.timestamp() - at)
                timeline.append((at, confirmation[-1]))
    Path(spec["out"]).write_text(
        json.dumps(
            {
                "ringup": ringup,
                "confirmation": confirmation,
                "rung": len(paid_at),
                "asked": spec["sales"],
                "lost": lost,
                "doubled": doubled,
                "cpu": cpu,
                "failures": failures,
                "timeline": timeline,
                "rung_at": rung_at,
            }
        )
    )


def _failure(url: str, error: object, began: float, now: float) -> dict[str, Any]:
    """A request that failed: where it went, what happened, how long it took, when it ended."""
    said = f"{type(error).__name__}: {error}" if isinstance(error, Exception) else str(error)
    return {"url": url, "error": said, "seconds": round(time.perf_counter() - began, 3), "at": now}


class _Sim:
    """What ``till_config`` reads of a simulator: its address and the sandbox merchant."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.appid, self.mch_id, self.api_key = IDENTITY["appid"], IDENTITY["mch_id"], IDENTITY["api_key"]


class _Stopwatch:
    """Wall time inside one callable since the last ``take()`` (the ring-up's unified order)."""

    def __init__(self, target: Any) -> None:
        self.target, self.spent, self._lock = target, 0.0, threading.Lock()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return self.target(*args, **kwargs)
        finally:
            with self._lock:
                self.spent += time.perf_counter() - began

    def take(self) -> float:
        with self._lock:
            spent, self.spent = self.spent, 0.0
        return spent


# -- the chain ------------------------------------------------------------------------------------------


def connection_budget(tills: int) -> tuple[int, str]:
    """The most PostgreSQL connections the chain can hold at once, and how that adds up.

    A till process has one ledger engine (its pool: ``PG_POOL_SIZE`` kept, ``PG_MAX_OVERFLOW``
    more under a burst; the bench's own reads in the worker share it) and one LISTEN connection
    for its wake-up. A listener (one worker) has one engine. The simulator holds none; the
    bench's own migration and database creation hold one while they run, before the chain.
    Typically a till holds 2 or 3; the server must allow the worst case or a burst is refused.
    """
    from pos.ledger.database import PG_MAX_OVERFLOW, PG_POOL_SIZE

    till = PG_POOL_SIZE + PG_MAX_OVERFLOW + 1
    listener = PG_POOL_SIZE + PG_MAX_OVERFLOW
    total = tills * till + LISTENERS * listener + 1
    return total, (
        f"{tills} tills x {till} (pool {PG_POOL_SIZE} + overflow {PG_MAX_OVERFLOW} + LISTEN) + "
        f"{LISTENERS} listeners x {listener} + 1 (the bench) = {total}"
    )


def server_max_connections(url: str) -> int:
    """The server's ``max_connections`` less its superuser reserve: what clients may open."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            allowed = int(connection.execute(text("SHOW max_connections")).scalar_one())
            reserved = int(connection.execute(text("SHOW superuser_reserved_connections")).scalar_one())
    finally:
        engine.dispose()
    return allowed - reserved


def run_chain(tills: int, database: str, db_pid: int | None, args: argparse.Namespace, tmp: Path) -> dict:
    """One run: the simulator, two listeners and ``tills`` till processes on ``database``."""
    from pos.ledger import open_ledger

    with open_ledger(database):  # migrate once, before anyone starts
        pass
    tmp.mkdir(parents=True)
    listen_config = tmp / "listen.toml"
    listen_config.write_text(
        f'[database]\nurl = "{database}"\n\n[merchant]\napi_key = "{IDENTITY["api_key"]}"\n'
        f'appid = "{IDENTITY["appid"]}"\nmch_id = "{IDENTITY["mch_id"]}"\napi_base = "http://127.0.0.1:9"\n\n'
        '[listener]\nhost = "127.0.0.1"\n',
        encoding="utf-8",
    )
    identity = [f"--{k.replace('_', '-')}={v}" for k, v in IDENTITY.items()]
    # Every process of the run is in the group: whatever fails, all of them are stopped on the way
    # out (a till that failed to start once left 63 others running for hours).
    with ProcessGroup() as group:
        sim = group.start(pos_command(None, "sim", *identity), name="the simulator", log=tmp / "sim.log")
        listeners = group.start_all(
            [
                Launch(pos_command(listen_config, "listen"), f"listener {n}", tmp / f"listen-{n}.log")
                for n in range(LISTENERS)
            ],
            batch=LISTENERS,
        )
        interval = max(1.0, tills / args.rate)
        sales = max(1, int(args.seconds / interval))
        go = tmp / "go"
        launches = []
        for index in range(tills):
            store, lane = till_place(index)
            spec = {
                "dir": str(tmp / f"till-{index}"),
                "sim": sim.url,
                "notify_url": listeners[index % LISTENERS].url + "/wechatpay/notify",
                "store": store,
                "lane": lane,
                "database": database,
                "sales": sales,
                "interval": interval,
                "phase": interval * index / tills,
                "go": str(go),
                "out": str(tmp / f"out-{index}.json"),
            }
            command = [sys.executable, __file__, "--worker", json.dumps(spec)]
            launches.append(Launch(command, f"till {index} ({store}-{lane})", tmp / f"till-{index}.log"))
        # A few at a time, each batch serving before the next starts: 64 interpreters importing
        # at once on two cores is minutes of thrashing, and the timeout is per batch.
        try:
            workers = group.start_all(launches, batch=START_BATCH, timeout=START_TIMEOUT)
        except ProcessFailed as exc:
            raise SystemExit(f"bench: {exc}") from exc
        pids = [sim.pid, *(listener.pid for listener in listeners), *([db_pid] if db_pid else [])]
        cpu_before = sum(process_cpu(pid) for pid in pids)
        began = time.time()
        go.write_text(str(began + 0.5))
        for till in workers:  # a till hung past the run and its minute of checks fails the bench
            till.process.wait(timeout=max(0.0, began + args.seconds + 300 - time.time()))
        cpu_others = sum(process_cpu(pid) for pid in pids) - cpu_before
        failed = [till for i, till in enumerate(workers) if not (tmp / f"out-{i}.json").exists()]
        if failed:
            raise SystemExit(f"bench: {failed[0].name} ended without its figures: {failed[0].last_line()}")
    results = [json.loads((tmp / f"out-{i}.json").read_text()) for i in range(tills)]
    rung = sum(r["rung"] for r in results)
    failures = [f | {"till": i} for i, r in enumerate(results) for f in r["failures"]]
    for failure in sorted(failures, key=lambda f: f["at"])[:10]:
        print(f"  till {failure['till']}: {failure['url']} failed after {failure['seconds']:.1f} s "
              f"({failure['at'] - began:.1f} s into the run): {failure['error']}", flush=True)  # fmt: skip
    if args.raw:
        Path(args.raw).write_text(json.dumps({"began": began, "tills": results}))
    return {
        "tills": tills,
        "ringup": [v * 1000 for r in results for v in r["ringup"]],
        "confirmation": [v * 1000 for r in results for v in r["confirmation"]],
        "rung": rung,
        "failed": len(failures),
        "asked": sum(r["asked"] for r in results),
        # over the ringing (sales x interval), not the whole run: the final checks and the tills'
        # exit took a third of a 60-second K=64 run and made 7.5 paid/s read as 5.1
        "per_second": len([1 for r in results for _ in r["confirmation"]]) / (sales * interval),
        "cpu_ms": (cpu_others + sum(r["cpu"] for r in results)) * 1000 / max(rung, 1),
        "lost": sum(r["lost"] for r in results),
        "doubled": sum(r["doubled"] for r in results),
    }


def line(name: str, run: dict) -> str:
    return (
        f"  {name:<16} {run['rung']:>5}/{run['asked']:<5} ring-up own p50 {pct(run['ringup'], 50):6.1f} "
        f"p95 {pct(run['ringup'], 95):6.1f} ms | payment->job p50 {pct(run['confirmation'], 50):6.1f} "
        f"p95 {pct(run['confirmation'], 95):6.1f} ms | {run['per_second']:5.1f} paid/s | "
        f"CPU {run['cpu_ms']:5.1f} ms/sale | lost {run['lost']} doubled {run['doubled']} "
        f"failed {run['failed']}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tills", default="1,4,16,64", help="the K values, comma-separated")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long each run rings sales")
    parser.add_argument("--rate", type=float, default=8.0, help="the chain's sales per second")
    parser.add_argument("--database", help="a PostgreSQL URL to use (default: a throwaway cluster)")
    parser.add_argument("--raw", help="write the last run's per-till figures (JSON) to this file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(json.loads(args.worker))
        return 0
    ks = [int(k) for k in args.tills.split(",")]
    from pos.testing import postgres

    budget, sums = connection_budget(max(ks))
    print(f"PostgreSQL connections at K={max(ks)}, at most: {sums}", flush=True)
    runs: list[tuple[str, dict]] = []
    with tempfile.TemporaryDirectory(prefix="pos-chain-") as tmp, contextlib.ExitStack() as stack:
        db_pid = None
        if args.database:
            server = stack.enter_context(postgres.postgres_server(args.database))
            allowed = server_max_connections(args.database)
            print(f"the server allows {allowed} client connections", flush=True)
            if allowed < budget:
                print(f"bench: WARNING: {allowed} < {budget}: a burst may be refused (raise max_connections)")
        else:  # a throwaway cluster, allowing the budget: its server's CPU is counted too
            cluster = postgres.start_cluster(max_connections=max(300, budget + 10))
            stack.callback(cluster.stop)
            server = postgres.Server(cluster.url())
            print(f"throwaway cluster at {cluster.url()}", flush=True)
            db_pid = int((cluster.data / "postmaster.pid").read_text().split()[0])
        sqlite = f"sqlite:///{Path(tmp) / 'kiosk.sqlite3'}"
        runs.append(("SQLite K=1", run_chain(1, sqlite, None, args, Path(tmp) / "sqlite")))
        print(line(*runs[-1]), flush=True)
        for k in ks:
            url = server.url(server.create_database(prefix="pos_chain"))
            runs.append((f"PostgreSQL K={k}", run_chain(k, url, db_pid, args, Path(tmp) / f"pg-{k}")))
            print(line(*runs[-1]), flush=True)
    load = os.getloadavg()[0]
    print(f"a chain: K tills ringing {args.rate:g} sales/s in all (at most 1/s a till) for "
          f"{args.seconds:g} s, paid at once, two listeners; {os.cpu_count()} CPUs, "
          f"load average {load:.2f} at the end")  # fmt: skip
    for name, run in runs:
        print(line(name, run))
    biggest = runs[-1][1]
    ring, confirm = pct(biggest["ringup"], 95), pct(biggest["confirmation"], 95)
    print(f"target at K={biggest['tills']}: ring-up own p95 < {TARGET_RINGUP_P95_MS:.0f} ms: {ring:.1f} ms, "
          f"{'meets' if ring < TARGET_RINGUP_P95_MS else 'MISSES'} it; payment->confirmation job p95 < "
          f"{TARGET_CONFIRMATION_P95_MS:.0f} ms: {confirm:.1f} ms, "
          f"{'meets' if confirm < TARGET_CONFIRMATION_P95_MS else 'MISSES'} it")  # fmt: skip
    bad = sum(run["lost"] + run["doubled"] for _, run in runs)
    print(f"lost or doubled payments in all runs: {bad} (must be 0)")
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
