"""Where one sale's CPU goes, component by component, and how many SQL statements it costs.

    .venv/bin/python bench/sale_cpu.py [--sales 40] [--idle 5]

One till (in this process: the Flask app under waitress, its spooler printing to a ``file:``
printer, its watcher, its LISTEN thread), one ``pos listen`` and one ``pos sim`` process, on a
throwaway PostgreSQL cluster (``pos.testing.postgres``) that logs every statement. Sales are
rung one after another, each paid at once (notice on) and followed until its confirmation slip
is written; the CPU each component spent meanwhile is read from ``/proc`` (per thread of this
process, per process for the others; PostgreSQL's server with all its backends), so other load
on a shared machine does not count, only time spent. Printed per component: the median and p95
CPU ms per sale, and the statements per sale by process (``application_name``). Then the same
parts with no sales for ``--idle`` seconds: CPU ms per second and statements per second.

The naive baseline beside it, in the same run: ``GET /api/products`` (a request through the
same waitress and Flask that touches nothing else), the floor a ring-up cannot go under.

An idle till's cost matters as much as a sale's in a chain: K tills ringing R sales a second in
all spend K x (idle CPU a second) / R on every sale besides the sale's own. To compare with
another commit, run this script with that commit's ``pos`` first on the path:
``git archive COMMIT pos printer_profiles | tar -x -C /tmp/base`` then
``PYTHONPATH=/tmp/base .venv/bin/python bench/sale_cpu.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

IDENTITY = {"appid": "wx2421b1c4370ec43b", "mch_id": "10000100", "api_key": "salecpu" * 4 + "abcd"}
POS = str(Path(sys.executable).with_name("pos"))
STATEMENT = re.compile(r"^(\w*)\|.*LOG:  (?:statement|execute [^:]*): (.*)$")


def task_cpu(path: str) -> float:
    """CPU seconds a task (thread) ran, from its ``schedstat`` (nanoseconds; ``stat``'s ticks are
    10 ms, coarser than one sale); 0 when it is gone."""
    try:
        with open(f"{path}/schedstat") as stat:
            return int(stat.read().split()[0]) / 1e9
    except OSError:
        return 0.0


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process (every thread) and its living descendants."""
    total = 0.0
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            total += task_cpu(f"/proc/{pid}/task/{task}")
            with open(f"/proc/{pid}/task/{task}/children") as listing:
                total += sum(tree_cpu(int(child)) for child in listing.read().split())
    return total


def group(name: str) -> str:
    """The component a thread of this process belongs to."""
    if name.startswith("waitress"):
        return "till: HTTP API (waitress, Flask, checkout)"
    return {
        "pos-spooler": "till: spooler (render, encode, print)",
        "pos-watcher": "till: watcher",
        "pos-job-wakeup": "till: LISTEN thread",
        "MainThread": "bench: the cashier's and customer's HTTP",
    }.get(name, "till: other threads")


def snapshot(others: dict[str, int]) -> Counter[str]:
    """CPU seconds so far per component: this process's threads by name, the other processes whole."""
    cpu: Counter[str] = Counter()
    for thread in threading.enumerate():
        if thread.native_id is not None:
            cpu[group(thread.name)] += task_cpu(f"/proc/self/task/{thread.native_id}")
    for name, pid in others.items():
        cpu[name] += tree_cpu(pid)
    return cpu


class StatementLog:
    """Statements PostgreSQL logged since the last ``take()``, counted by application_name."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset = path, path.stat().st_size

    def take(self) -> Counter[str]:
        with open(self.path, encoding="utf-8", errors="replace") as log:
            log.seek(self.offset)
            text = log.read()
            self.offset = log.tell()
        counts: Counter[str] = Counter()
        for line in text.splitlines():
            found = STATEMENT.match(line)
            if found:
                counts[found.group(1) or "?"] += 1
        return counts


@contextlib.contextmanager
def started(command: list[str], pattern: str, log: Path) -> Iterator[tuple[subprocess.Popen, str]]:
    """A ``pos`` process whose first stdout line names its URL; stopped on the way out."""
    with open(log, "wb") as err:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err, text=True)
    try:
        assert process.stdout is not None
        found = re.search(pattern, process.stdout.readline())
        if not found:
            raise SystemExit(f"bench: {command[1:3]} did not start (see {log})")
        yield process, found.group(1)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def named(url: str, application: str) -> str:
    """``url`` with an application_name, so the server's log says who ran each statement."""
    parsed = make_url(url)
    return parsed.update_query_dict({"application_name": application}).render_as_string(hide_password=False)


class Printed:
    """Wraps the spooler's device: remembers the kind of every job written, wakes who waits."""

    def __init__(self, device: Any) -> None:
        self.write_job, self.kinds, self.cond = device.write, [], threading.Condition()
        device.write = self

    def __call__(self, job: Any) -> int:
        written = self.write_job(job)
        with self.cond:
            self.kinds.append(job.kind)
            self.cond.notify_all()
        return written

    def wait(self, count: int, timeout: float = 30.0) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: len(self.kinds) >= count, timeout)


def row(name: str, values: list[float]) -> str:
    """One component's line: median, p95 and mean CPU ms per sale."""
    figures = (statistics.median(values), pct(values, 95), statistics.fmean(values))
    return f"  {name:<44} " + " ".join(f"{v:8.2f}" for v in figures)


def count_calls(target: Any, name: str) -> Counter[str]:
    """Counts the calls of ``target.name`` (replaced on the instance) in the Counter returned."""
    calls: Counter[str] = Counter()
    method = getattr(target, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls[name] += 1
        return method(*args, **kwargs)

    setattr(target, name, counted)
    return calls


def pct(values: list[float], p: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def measure(args: argparse.Namespace, tmp: Path) -> None:
    import requests

    from pos import config as pos_config
    from pos.ledger import open_ledger
    from pos.testing import postgres
    from pos.till.testing import running_till, till_config

    cluster = postgres.start_cluster()
    try:
        server = postgres.Server(cluster.url())
        admin = create_engine(cluster.url(), isolation_level="AUTOCOMMIT")  # ALTER SYSTEM: no transaction
        with admin.connect() as conn:  # every statement in the server's log, with who ran it
            conn.execute(text("ALTER SYSTEM SET log_statement = 'all'"))
            conn.execute(text("ALTER SYSTEM SET log_line_prefix = '%a|'"))
            conn.execute(text("SELECT pg_reload_conf()"))
        admin.dispose()
        url = server.url(server.create_database(prefix="pos_salecpu"))
        with open_ledger(url):  # migrate before anyone starts
            pass
        db_pid = int((cluster.data / "postmaster.pid").read_text().split()[0])
        listen_config = tmp / "listen.toml"
        listen_config.write_text(
            f'[database]\nurl = "{named(url, "listener")}"\n\n[merchant]\napi_key = "{IDENTITY["api_key"]}"\n'
            f'appid = "{IDENTITY["appid"]}"\nmch_id = "{IDENTITY["mch_id"]}"\n'
            'api_base = "http://127.0.0.1:9"\n\n[listener]\nhost = "127.0.0.1"\n',
            encoding="utf-8",
        )
        sim_command = [
            POS,
            "sim",
            "--port",
            "0",
            *(f"--{k.replace('_', '-')}={v}" for k, v in IDENTITY.items()),
        ]
        with contextlib.ExitStack() as stack:
            sim, sim_url = stack.enter_context(
                started(sim_command, r"simulator at (http://\S+)", tmp / "sim.log")
            )
            listen = [POS, "--config", str(listen_config), "listen", "--port", "0"]
            listener, listen_url = stack.enter_context(
                started(listen, r"(http://127\.0\.0\.1:\d+)/", tmp / "listen.log")
            )
            base = till_config(tmp, Sim(sim_url))
            config = base.replace(
                merchant=dataclasses.replace(base.merchant, notify_url=listen_url + "/wechatpay/notify"),
                database=pos_config.DatabaseConfig(url=named(url, "till")),
                printer=dataclasses.replace(base.printer, device=f"file:{tmp / 'printer.bin'}"),
            )
            others = {"listener process": listener.pid, "simulator process": sim.pid, "PostgreSQL": db_pid}
            body = {"items": [{"name": "拿铁", "price": "18.00", "qty": 2}]}
            till = stack.enter_context(running_till(config))
            printed = Printed(till.till.spooler.device)
            asked = count_calls(till.till.client, "query_order")  # the watcher's questions to WeChat
            customer = stack.enter_context(requests.Session())
            wakeup = till.till.wakeup
            if wakeup is not None:
                wakeup.wait_listening(10)
            statements = StatementLog(cluster.root / "server.log")

            def one_sale() -> None:
                done = len(printed.kinds) + 2
                sale = till.http.post(till.url("/api/sales"), json=body, timeout=30).json()
                customer.post(
                    sim_url + "/_sim/pay", json={"code_url": sale["code_url"], "notify": True}, timeout=30
                )
                if not printed.wait(done):
                    raise SystemExit(
                        f"bench: sale {sale['id']} printed {printed.kinds[-2:]}, not its two slips"
                    )

            for _ in range(3):  # warm: first pages, fonts, connections
                one_sale()
            time.sleep(0.5)
            statements.take()

            # The baseline: a request that touches nothing but waitress and Flask.
            floor: list[float] = []
            for _ in range(args.sales):
                before = snapshot({})
                till.http.get(till.url("/api/products"), timeout=30)
                floor.append((snapshot({}) - before)[group("waitress")] * 1000)

            per_sale: dict[str, list[float]] = {}
            statements.take()
            began = time.monotonic()
            for _ in range(args.sales):
                before = snapshot(others)
                one_sale()
                spent = snapshot(others)
                spent.subtract(before)
                for name, seconds in spent.items():
                    per_sale.setdefault(name, []).append(seconds * 1000)
            seconds = time.monotonic() - began
            counted = statements.take()

            time.sleep(2.5)  # the watcher's last looks at the sales are over
            tail = statements.take()
            queries = asked["query_order"]
            before, passes = snapshot(others), till.till.watcher.passes
            time.sleep(args.idle)
            idle, passes = snapshot(others), till.till.watcher.passes - passes
            idle.subtract(before)
            idle_statements = statements.take()
    finally:
        if args.keep_log:
            Path(args.keep_log).write_bytes((cluster.root / "server.log").read_bytes())
        cluster.stop()

    print(f"{args.sales} sales one after another in {seconds:.1f} s, each paid at once and printed")
    print("(sale slip + confirmation) to a file: printer; PostgreSQL (fsync off); CPU from /proc")
    print(f"  {'component':<44} {'median':>8} {'p95':>8} {'mean':>8}  CPU ms per sale")
    for name, values in sorted(per_sale.items(), key=lambda item: -statistics.fmean(item[1])):
        print(row(name, values))
    product = [sum(v[i] for n, v in per_sale.items() if not n.startswith("bench")) for i in range(args.sales)]
    print(row("all but the bench client", product))
    print(row("baseline: GET /api/products, waitress only", floor))
    total = sum(counted.values())
    print(
        f"SQL statements per sale (BEGIN/COMMIT included): {total / args.sales:.1f}: "
        + ", ".join(f"{name} {n / args.sales:.1f}" for name, n in counted.most_common())
    )
    print(
        f"  and {sum(tail.values())} in the 2.5 s after the last sale (the watcher's last looks, polls); "
        f"WeChat queries by the watcher: {queries / args.sales:.2f} per sale"
    )
    print(f"idle for {args.idle:g} s (no sales): CPU ms per second")
    for name, value in sorted(idle.items(), key=lambda item: -item[1]):
        print(f"  {name:<44} {value * 1000 / args.idle:8.2f}")
    print(f"  the watcher's passes per second: {passes / args.idle:.2f}")
    print(
        f"  statements per second: {sum(idle_statements.values()) / args.idle:.1f}: "
        + ", ".join(f"{name} {n / args.idle:.1f}" for name, n in idle_statements.most_common())
    )


class Sim:
    """What ``till_config`` reads of a simulator: its address and the sandbox merchant."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.appid, self.mch_id, self.api_key = IDENTITY["appid"], IDENTITY["mch_id"], IDENTITY["api_key"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sales", type=int, default=40, help="sales to measure (default 40)")
    parser.add_argument(
        "--idle", type=float, default=5.0, help="seconds to measure with no sales (default 5)"
    )
    parser.add_argument("--keep-log", metavar="FILE", help="copy PostgreSQL's statement log here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("pos").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    with tempfile.TemporaryDirectory(prefix="pos-salecpu-") as tmp:
        measure(args, Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
