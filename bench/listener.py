"""How many verified payment notices per second the listener takes, against a naive handler.

    .venv/bin/python bench/listener.py [--sales 1500] [--copies 1] [--repeats 3] [--clients 2]
                                       [--connections 4] [--renew 20] [--rounds 3]

The listener is ``pos listen`` itself, started as a command on a fresh SQLite
ledger made by ``open_ledger`` with the same AWAITING_PAYMENT sales, twice: as
installed (one process) and with ``--workers 2`` (two processes on one socket,
see pos/listener/workers.py). The naive handler runs in its own process under
the same waitress settings (:func:`pos.listener.build_server`). Everything is on
127.0.0.1 only, pinned to at most 2 CPU cores together with the load generator.
The load is a fixed list of signed notices: every sale's notice ``--copies``
times (default 1: unique notices, the headline figure; WeChat sends a notice again only when
our reply failed, so repeats are rare in a shop), shuffled, sent by ``--clients``
processes of ``--connections`` keep-alive connections each, every connection
replaced by a new one after ``--renew`` requests (WeChat's notices come from
many servers, not down a few connections held for ever; with 8 fixed
connections the kernel's hand-out to two listener processes is a coin toss
that leaves one with 7 and the other with 1). Every reply must be WeChat's
SUCCESS XML. With ``--repeats N`` (default 3; 0 skips it) every handler then runs
once more with each notice sent N times byte for byte, reported apart and never
in the checks: the listener answers a repeat from memory while the naive handler
does the whole work again, so repeats flatter the listener.

The naive handler is what many shops run: Flask + xmltodict, an MD5 check,
``UPDATE sales SET state='PAID' WHERE out_trade_no=?`` and a confirmation job
per notice, no conditional update. At the end the script counts transitions:
PAID sales, confirmation jobs and accepted payments must each equal the number
of sales (zero lost, zero doubled). The naive handler's doubled slips are
printed to show why it is naive. Target: >= 1,500 notices/s on the two cores,
which is the listener with ``--workers 2`` (one CPython process uses one core's
worth at a time: its figure is printed, not checked), and not slower than the
naive handler, which both listener set-ups are checked against. A
fourth server, ``waitress``, reads each body and answers SUCCESS without
checking or storing anything: what the server and the load generator alone cost
on these cores, the floor under every handler.

The two cores are often shared with other work, so one run of each says little:
the handlers run ``--rounds`` times, alternating, each round on fresh files, and
the checks use each handler's median round (never the best). Besides notices
per second, each round reports every request's round trip (median and p95, as the
load generator saw it) and the server's CPU time per notice (user + system, all its threads
and worker processes, from /proc), which other load on the machine disturbs much
less.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import multiprocessing as mp
import os
import random
import re
import selectors
import socket
import sqlite3
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from pos.processes import PosProcess, start_pos

TARGET_PER_SECOND = 1500
LISTENERS = {"listener": 1, "listener2": 2}  # `pos listen --workers N`


# -- the two servers ----------------------------------------------------------------------------


def naive_app(db_path: str, api_key: str):
    """Flask + xmltodict + a plain UPDATE and a slip per notice: no lock, no state check."""
    import xmltodict
    from flask import Flask, request

    app = Flask("naive")
    local = threading.local()
    ok = b"<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>"

    def db() -> sqlite3.Connection:
        if not hasattr(local, "conn"):
            local.conn = sqlite3.connect(db_path, timeout=5, isolation_level=None)
            local.conn.execute("PRAGMA synchronous = NORMAL")
        return local.conn

    @app.post("/wechatpay/notify")
    def notify():
        data = dict(xmltodict.parse(request.get_data())["xml"])
        sign = data.pop("sign", "")
        text = "&".join(f"{k}={data[k]}" for k in sorted(data) if data[k]) + f"&key={api_key}"
        if hashlib.md5(text.encode()).hexdigest().upper() != sign:
            return "<xml><return_code>FAIL</return_code></xml>", 200, {"Content-Type": "text/xml"}
        conn = db()
        conn.execute("BEGIN IMMEDIATE")
        row = conn.execute("SELECT id FROM sales WHERE out_trade_no = ?", (data["out_trade_no"],)).fetchone()
        conn.execute(
            "UPDATE sales SET state = 'PAID', transaction_id = ? WHERE out_trade_no = ?",
            (data["transaction_id"], data["out_trade_no"]),
        )
        conn.execute(
            "INSERT INTO print_jobs (sale_id, kind, state, attempts, created_at) "
            "VALUES (?, 'confirmation', 'queued', 0, ?)",
            (row[0], datetime.now(UTC).isoformat()),
        )
        conn.execute("COMMIT")
        return ok, 200, {"Content-Type": "text/xml"}

    return app


def floor_app():
    """What the server alone costs: read the body, answer SUCCESS, check and store nothing."""
    ok = b"<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>"

    def app(environ, start_response):
        environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        start_response("200 OK", [("Content-Type", "text/xml"), ("Content-Length", str(len(ok)))])
        return [ok]

    return app


def serve(kind: str, db_url: str, db_path: str, log_file: str, ports: mp.Queue) -> None:
    from pos import config as pos_config
    from pos.listener import build_server

    config = pos_config.from_mapping({}, "<bench>", env={})
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "Task queue depth" is expected here
    app = floor_app() if kind == "waitress" else naive_app(db_path, config.merchant.api_key)
    server = build_server(app, config.listener, host="127.0.0.1", port=0)
    ports.put(server.effective_port)
    server.run()


# -- the load -----------------------------------------------------------------------------------


def prepare(db_url: str, sales: int) -> list[bytes]:
    """``sales`` AWAITING_PAYMENT sales and one signed notice body for each."""
    from pos import config as pos_config
    from pos.ledger import LineItem, open_ledger
    from pos.wechatpay import sign as signing
    from pos.wechatpay import xmlcodec
    from pos.wechatpay.times import to_compact

    merchant = pos_config.from_mapping({}, "<bench>", env={}).merchant
    now = datetime.now(UTC)
    bodies = []
    with open_ledger(db_url) as ledger:
        for i in range(sales):
            fee = 100 + i % 5000
            sale = ledger.create_sale(store="S01", lane="01", items=[LineItem("拿铁", fee)])
            ledger.record_order(
                sale.id,
                code_url=f"weixin://wxpay/bizpayurl?pr=bench{i}",
                prepay_id=f"wx{i:030d}",
                expires_at=now + timedelta(minutes=15),
            )
            fields = {
                "appid": merchant.appid,
                "mch_id": merchant.mch_id,
                "nonce_str": signing.new_nonce(),
                "result_code": "SUCCESS",
                "return_code": "SUCCESS",
                "openid": "oBench",
                "is_subscribe": "N",
                "trade_type": "NATIVE",
                "bank_type": "CMC",
                "total_fee": str(fee),
                "fee_type": "CNY",
                "cash_fee": str(fee),
                "transaction_id": f"42000000002026{i:014d}",
                "out_trade_no": sale.out_trade_no,
                "time_end": to_compact(now),
            }
            signed = signing.signed(fields, merchant.api_key)
            bodies.append(xmlcodec.encode_as_wechat(dict(sorted(signed.items())), bare={"total_fee"}))
    return bodies


def client(
    port: int, bodies: list[bytes], connections: int, renew: int, start: mp.Event, results: mp.Queue
) -> None:
    """Send ``bodies`` over ``connections`` keep-alive connections, one request at a time on each,
    every connection replaced by a new one after ``renew`` requests; report (ok, failed, cpu seconds).

    One thread drives all the connections with :mod:`selectors`, the requests are whole HTTP/1.1
    messages built before the clock starts, and a reply is read by its Content-Length: the load
    generator shares the two cores with the server, and ``http.client`` in threads cost about
    0.17 ms of CPU per request (a quarter of a core at 1,500/s) where this costs a fraction of it.
    """
    head = f"POST /wechatpay/notify HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: text/xml\r\n"
    requests = [head.encode() + b"Content-Length: %d\r\n\r\n" % len(body) + body for body in bodies]
    queue = iter(requests)
    selector = selectors.DefaultSelector()
    ok = failed = 0
    latencies: list[float] = []

    def connect() -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def send_next(sock: socket.socket, sent: int) -> bool:
        """Send the next request on ``sock`` (a new connection every ``renew``); False when done."""
        request = next(queue, None)
        if request is None:
            sock.close()
            return False
        if sent and sent % renew == 0:
            sock.close()
            sock = connect()
        sock.sendall(request)
        selector.register(sock, selectors.EVENT_READ, [sent + 1, b"", time.perf_counter()])
        return True

    start.wait()
    cpu = time.process_time()
    active = sum(send_next(connect(), 0) for _ in range(connections))
    while active:
        for key, _ in selector.select(timeout=30) or [(None, None)]:
            if key is None:
                raise SystemExit("bench: no reply in 30 s")
            sock, state = key.fileobj, key.data
            chunk = sock.recv(65536)
            if not chunk:
                raise SystemExit("bench: the server closed a connection mid-request")
            state[1] += chunk
            reply = state[1]
            end = reply.find(b"\r\n\r\n")
            if end < 0:
                continue
            length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", reply[:end])
            if length is None or len(reply) < end + 4 + int(length.group(1)):
                continue
            latencies.append(time.perf_counter() - state[2])
            if reply.startswith(b"HTTP/1.1 200 ") and b"SUCCESS" in reply[end + 4 :]:
                ok += 1
            else:
                failed += 1
            selector.unregister(sock)
            active -= not send_next(sock, state[0])
    results.put((ok, failed, time.process_time() - cpu, latencies))


def run(kind: str, workdir: Path, args: argparse.Namespace, copies: int) -> dict:
    db_path = workdir / f"{kind}.sqlite3"
    db_url = f"sqlite:///{db_path}"
    notices = prepare(db_url, args.sales)
    load = [body for body in notices for _ in range(copies)]
    random.Random(7).shuffle(load)

    log_file = workdir / f"{kind}.log"
    if kind in LISTENERS:
        server = pos_listen(db_url, workdir, LISTENERS[kind], log_file)
        port = urlsplit(server.url).port
    else:
        ports: mp.Queue = mp.Queue()
        arguments = (kind, db_url, str(db_path), str(log_file), ports)
        server = mp.Process(target=serve, args=arguments, daemon=True)
        server.start()
        port = ports.get(timeout=30)
    cpu_before = process_cpu(server.pid)
    start = mp.Event()
    results: mp.Queue = mp.Queue()
    clients = [
        mp.Process(
            target=client, args=(port, load[i :: args.clients], args.connections, args.renew, start, results)
        )
        for i in range(args.clients)
    ]
    for c in clients:
        c.start()
    time.sleep(0.5)  # let the clients import and connect before the clock starts
    began = time.perf_counter()
    start.set()
    totals = [results.get(timeout=600) for _ in clients]
    elapsed = time.perf_counter() - began
    cpu = process_cpu(server.pid) - cpu_before
    for c in clients:
        c.join()
    if isinstance(server, PosProcess):
        server.stop()
    else:
        server.terminate()
        server.join()

    with sqlite3.connect(db_path) as db:
        paid = db.execute("SELECT count(*) FROM sales WHERE state = 'PAID'").fetchone()[0]
        jobs = db.execute("SELECT count(*) FROM print_jobs WHERE kind = 'confirmation'").fetchone()[0]
        accepted = db.execute("SELECT count(*) FROM payments WHERE accepted").fetchone()[0]
        flags = db.execute("SELECT count(*) FROM flags").fetchone()[0]
    ok = sum(t[0] for t in totals)
    load_cpu = sum(t[2] for t in totals)
    failed = sum(t[1] for t in totals)
    latencies_ms = sorted(latency * 1000 for t in totals for latency in t[3])
    return {
        "kind": kind,
        "requests": len(load),
        "ok": ok,
        "failed": failed,
        "seconds": elapsed,
        "per_second": len(load) / elapsed,
        "p50_ms": percentile(latencies_ms, 50),
        "p95_ms": percentile(latencies_ms, 95),
        "cpu_ms": cpu * 1000 / len(load) if cpu >= 0 else float("nan"),
        "load_cpu_ms": load_cpu * 1000 / len(load),
        "paid": paid,
        "confirmation_jobs": jobs,
        "accepted_payments": accepted,
        "flags": flags,
    }


def process_cpu(pid: int) -> float:
    """Seconds of CPU (user + system, every thread) the process and its children (the listener's
    workers) have used; -inf where /proc is missing."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        with open(f"/proc/{pid}/task/{pid}/children") as listing:
            children = [int(child) for child in listing.read().split()]
    except OSError:
        return float("-inf")
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(max(0.0, process_cpu(child)) for child in children)


def pos_listen(db_url: str, workdir: Path, workers: int, log_file: Path) -> PosProcess:
    """``pos listen --workers N`` itself, on a free port, with the bench's database; its log lines
    (one INFO line per notice, as journald would take them) go to ``log_file``."""
    config = workdir / "listen.toml"
    config.write_text(f'[database]\nurl = "{db_url}"\n\n[listener]\nhost = "127.0.0.1"\n', encoding="utf-8")
    process = start_pos(config, "listen", "--workers", str(workers), name="pos listen", log=log_file)
    time.sleep(0.5 if workers > 1 else 0)  # the workers open their ledgers
    return process


def percentile(ordered: list[float], p: int) -> float:
    """The ``p``-th percentile of sorted values (nearest rank); nan for none."""
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, -(-p * len(ordered) // 100) - 1))]


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sales", type=int, default=1500)
    parser.add_argument(
        "--copies", type=int, default=1, help="deliveries per notice: 1 = unique (the headline)"
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="then deliveries per notice in a run shown apart (0: none)"
    )
    parser.add_argument("--clients", type=int, default=2, help="load generator processes")
    parser.add_argument("--connections", type=int, default=4, help="keep-alive connections per client")
    parser.add_argument("--renew", type=int, default=20, help="requests per connection before a new one")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each handler, alternating")
    args = parser.parse_args()
    if not (1 <= args.sales <= 100_000 and 1 <= args.copies <= 20 and 1 <= args.rounds <= 20):
        parser.error("--sales 1..100000, --copies 1..20, --rounds 1..20")
    if not 0 <= args.repeats <= 20:
        parser.error("--repeats 0..20")
    if args.renew < 1:
        parser.error("--renew 1 or more")
    if hasattr(os, "sched_setaffinity"):
        cores = sorted(os.sched_getaffinity(0))[:2]
        os.sched_setaffinity(0, cores)  # children inherit it: servers and clients share 2 cores
    mp.set_start_method("fork")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    kinds = ("naive", "listener", "listener2", "waitress")
    rounds: list[dict[str, dict]] = []
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="pos-bench-listener-") as tmp:
            rounds.append({kind: run(kind, Path(tmp), args, args.copies) for kind in kinds})
    repeated: dict[str, dict] = {}
    if args.repeats:
        with tempfile.TemporaryDirectory(prefix="pos-bench-listener-") as tmp:
            repeated = {kind: run(kind, Path(tmp), args, args.repeats) for kind in kinds}
    load_end = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    cores = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else "?"
    print(f"{args.sales} sales x {args.copies} deliveries, {args.clients}x{args.connections} connections "
          f"(each renewed after {args.renew} requests), "
          f"cores {cores}, load average {load:.2f} at start and {load_end:.2f} at the end, "
          f"{args.rounds} rounds")  # fmt: skip
    print("listener: `pos listen` (one process, the default); listener2: `pos listen --workers 2`")
    print("machine shared with other work: see the load average; figures vary from run to run")
    header = f"{'round':<6} {'handler':<9} {'notices/s':>10} {'p50 ms':>7} {'p95 ms':>7} "
    header += f"{'cpu ms/notice':>14} {'load ms':>8} "
    print(header + f"{'requests':>9} {'SUCCESS':>8} {'PAID':>6} {'slips':>6} {'payments':>9} {'flags':>6}")
    for number, results in enumerate(rounds, start=1):
        for r in results.values():
            print(
                f"{number:<6} {r['kind']:<9} {r['per_second']:>10.0f} "
                f"{r['p50_ms']:>7.2f} {r['p95_ms']:>7.2f} "
                f"{r['cpu_ms']:>14.3f} "
                f"{r['load_cpu_ms']:>8.3f} "
                f"{r['requests']:>9} {r['ok']:>8} {r['paid']:>6} {r['confirmation_jobs']:>6} "
                f"{r['accepted_payments']:>9} {r['flags']:>6}"
            )
    rate = {kind: median([results[kind]["per_second"] for results in rounds]) for kind in kinds}
    cpu = {kind: median([results[kind]["cpu_ms"] for results in rounds]) for kind in kinds}
    unique = "unique notices" if args.copies == 1 else f"each notice x{args.copies}"
    for kind in kinds:
        rates = sorted(results[kind]["per_second"] for results in rounds)
        p50 = median([results[kind]["p50_ms"] for results in rounds])
        p95 = median([results[kind]["p95_ms"] for results in rounds])
        print(f"median    {kind:<9} {rate[kind]:>6.0f}/s {unique}, "
              f"round trip p50 {p50:.2f} ms p95 {p95:.2f} ms "
              f"({cpu[kind]:.3f} ms CPU/notice); rounds {rates[0]:.0f}..{rates[-1]:.0f}/s")  # fmt: skip
    if repeated:
        print(f"apart, not in the checks: each notice sent {args.repeats} times byte for byte "
              f"(the listener answers repeats from memory; the naive handler redoes the work)")  # fmt: skip
        for r in repeated.values():
            print(f"repeats   {r['kind']:<9} {r['per_second']:>6.0f} requests/s, "
                  f"round trip p50 {r['p50_ms']:.2f} ms "
                  f"p95 {r['p95_ms']:.2f} ms ({r['cpu_ms']:.3f} ms CPU/request)")  # fmt: skip
    print("(load ms: the load generator's CPU per request, on the same two cores;")
    print(" waitress: an app that reads the body and answers SUCCESS, checking nothing: the server's cost;")
    print(" CPU per notice counts every process of a server, the listener's workers included)")
    lost_or_doubled = {
        kind: sum(
            abs(results[kind]["paid"] - args.sales)
            + abs(results[kind]["confirmation_jobs"] - args.sales)
            + abs(results[kind]["accepted_payments"] - args.sales)
            + results[kind]["failed"]
            + results[kind]["flags"]
            for results in (*rounds, repeated)
            if results
        )
        for kind in ("listener", "listener2")
    }
    runs = [*rounds, repeated] if repeated else rounds
    doubled = [results["naive"]["confirmation_jobs"] - args.sales for results in runs]
    print(f"naive: {', '.join(map(str, doubled))} doubled confirmation slips")
    checks = {
        f"listener2 (--workers 2) >= {TARGET_PER_SECOND}/s, {unique} (median)": (
            rate["listener2"] >= TARGET_PER_SECOND
        ),
        f"listener2 >= naive, {unique} (medians)": rate["listener2"] >= rate["naive"],
        f"listener >= naive, {unique} (medians)": rate["listener"] >= rate["naive"],
        "zero lost or doubled transitions (every run, both)": not any(lost_or_doubled.values()),
    }
    for name, passed in checks.items():
        print(f"{'PASS' if passed else 'MISS'} {name}")
    share = rate["listener"] / TARGET_PER_SECOND
    print(f"info listener (one process, one core at a time): {rate['listener']:.0f}/s, "
          f"{share:.0%} of the target")  # fmt: skip
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
