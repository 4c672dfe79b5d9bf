"""How many verified payment notices per second the listener takes, against a naive handler.

    .venv/bin/python bench/listener.py [--sales 1500] [--copies 3] [--clients 2] [--threads 4] [--rounds 3]

Both servers run in their own process with the listener's waitress settings
(:func:`pos.listener.build_server`), each on a fresh SQLite ledger made by
``open_ledger`` with the same AWAITING_PAYMENT sales, on 127.0.0.1 only, pinned
to at most 2 CPU cores together with the load generator. The load is a fixed
list of signed notices: every sale's notice ``--copies`` times (one first
delivery, the rest duplicates), shuffled, sent by ``--clients`` processes of
``--threads`` keep-alive connections each. Every reply must be WeChat's
SUCCESS XML.

The naive handler is what many shops run: Flask + xmltodict, an MD5 check,
``UPDATE sales SET state='PAID' WHERE out_trade_no=?`` and a confirmation job
per notice, no conditional update. At the end the script counts transitions:
PAID sales, confirmation jobs and accepted payments must each equal the number
of sales (zero lost, zero doubled). The naive handler's doubled slips are
printed to show why it is naive. Target: >= 1,500 notices/s, and not slower
than the naive handler. A third server, ``waitress``, reads each body and
answers SUCCESS without checking or storing anything: what the server and the
load generator alone cost on these cores, the floor under both handlers.

The two cores are often shared with other work, so one run of each says little:
the handlers run ``--rounds`` times, alternating, each round on fresh files, and
the checks use each handler's median round. Besides notices per second, each
round reports the server process's CPU time per notice (user + system, all its
threads, from /proc), which other load on the machine disturbs much less.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import logging
import multiprocessing as mp
import os
import random
import sqlite3
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

TARGET_PER_SECOND = 1500


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
    from pos.listener import build_server, create_app

    config = pos_config.from_mapping({}, "<bench>", env={})
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "Task queue depth" is expected here
    if kind == "listener":
        from pos.ledger import open_ledger

        # Production logging: one INFO line per notice, to a file (as journald would take it).
        logging.basicConfig(
            filename=log_file,
            level=logging.INFO,
            format="%(asctime)s level=%(levelname)s logger=%(name)s %(message)s",
        )
        from pos.listener.reply import lean_log_records, quiet_duplicate_lines

        quiet_duplicate_lines()  # as `pos listen` does
        lean_log_records()
        ledger = open_ledger(db_url, busy_timeout_ms=3000)
        app = create_app(config, ledger)
    elif kind == "waitress":
        app = floor_app()
    else:
        app = naive_app(db_path, config.merchant.api_key)
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
            bodies.append(xmlcodec.encode(dict(sorted(signed.items())), bare={"total_fee"}))
    return bodies


def client(port: int, bodies: list[bytes], threads: int, start: mp.Event, results: mp.Queue) -> None:
    """Send ``bodies`` over ``threads`` keep-alive connections; report (ok, failed)."""
    share = [bodies[i::threads] for i in range(threads)]
    counts = [[0, 0] for _ in range(threads)]

    def run(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"Content-Type": "text/xml"}
        for body in share[i]:
            conn.request("POST", "/wechatpay/notify", body, headers)
            response = conn.getresponse()
            reply = response.read()
            if response.status == 200 and b"SUCCESS" in reply:
                counts[i][0] += 1
            else:
                counts[i][1] += 1
        conn.close()

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    start.wait()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    results.put((sum(c[0] for c in counts), sum(c[1] for c in counts)))


def run(kind: str, workdir: Path, args: argparse.Namespace) -> dict:
    db_path = workdir / f"{kind}.sqlite3"
    db_url = f"sqlite:///{db_path}"
    notices = prepare(db_url, args.sales)
    load = [body for body in notices for _ in range(args.copies)]
    random.Random(7).shuffle(load)

    ports: mp.Queue = mp.Queue()
    server = mp.Process(
        target=serve, args=(kind, db_url, str(db_path), str(workdir / f"{kind}.log"), ports), daemon=True
    )
    server.start()
    port = ports.get(timeout=30)
    cpu_before = process_cpu(server.pid)
    start = mp.Event()
    results: mp.Queue = mp.Queue()
    clients = [
        mp.Process(target=client, args=(port, load[i :: args.clients], args.threads, start, results))
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
    server.terminate()
    server.join()

    with sqlite3.connect(db_path) as db:
        paid = db.execute("SELECT count(*) FROM sales WHERE state = 'PAID'").fetchone()[0]
        jobs = db.execute("SELECT count(*) FROM print_jobs WHERE kind = 'confirmation'").fetchone()[0]
        accepted = db.execute("SELECT count(*) FROM payments WHERE accepted").fetchone()[0]
        flags = db.execute("SELECT count(*) FROM flags").fetchone()[0]
    ok = sum(t[0] for t in totals)
    failed = sum(t[1] for t in totals)
    return {
        "kind": kind,
        "requests": len(load),
        "ok": ok,
        "failed": failed,
        "seconds": elapsed,
        "per_second": len(load) / elapsed,
        "cpu_ms": cpu * 1000 / len(load) if cpu >= 0 else float("nan"),
        "paid": paid,
        "confirmation_jobs": jobs,
        "accepted_payments": accepted,
        "flags": flags,
    }


def process_cpu(pid: int) -> float:
    """Seconds of CPU (user + system, every thread) the process has used; -inf where /proc is missing."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return float("-inf")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sales", type=int, default=1500)
    parser.add_argument("--copies", type=int, default=3, help="deliveries per notice (1 first + duplicates)")
    parser.add_argument("--clients", type=int, default=2, help="load generator processes")
    parser.add_argument("--threads", type=int, default=4, help="keep-alive connections per client")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each handler, alternating")
    args = parser.parse_args()
    if not (1 <= args.sales <= 100_000 and 1 <= args.copies <= 20 and 1 <= args.rounds <= 20):
        parser.error("--sales 1..100000, --copies 1..20, --rounds 1..20")
    if hasattr(os, "sched_setaffinity"):
        cores = sorted(os.sched_getaffinity(0))[:2]
        os.sched_setaffinity(0, cores)  # children inherit it: servers and clients share 2 cores
    mp.set_start_method("fork")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    rounds: list[tuple[dict, dict, dict]] = []
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="pos-bench-listener-") as tmp:
            workdir = Path(tmp)
            rounds.append(
                (run("naive", workdir, args), run("listener", workdir, args), run("waitress", workdir, args))
            )
    load_end = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    cores = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else "?"
    print(f"{args.sales} sales x {args.copies} deliveries, {args.clients}x{args.threads} connections, "
          f"cores {cores}, load average {load:.2f} at start and {load_end:.2f} at the end, "
          f"{args.rounds} rounds")  # fmt: skip
    header = f"{'round':<6} {'handler':<9} {'notices/s':>10} {'cpu ms/notice':>14} {'requests':>9} "
    print(header + f"{'SUCCESS':>8} {'PAID':>6} {'slips':>6} {'payments':>9} {'flags':>6}")
    for number, pair in enumerate(rounds, start=1):
        for r in pair:
            print(
                f"{number:<6} {r['kind']:<9} {r['per_second']:>10.0f} {r['cpu_ms']:>14.3f} "
                f"{r['requests']:>9} {r['ok']:>8} {r['paid']:>6} {r['confirmation_jobs']:>6} "
                f"{r['accepted_payments']:>9} {r['flags']:>6}"
            )
    naive_rate = median([pair[0]["per_second"] for pair in rounds])
    ours_rate = median([pair[1]["per_second"] for pair in rounds])
    naive_cpu = median([pair[0]["cpu_ms"] for pair in rounds])
    ours_cpu = median([pair[1]["cpu_ms"] for pair in rounds])
    print(f"median    naive {naive_rate:.0f}/s ({naive_cpu:.3f} ms CPU/notice), "
          f"listener {ours_rate:.0f}/s ({ours_cpu:.3f} ms CPU/notice)")  # fmt: skip
    for index, kind in enumerate(("naive", "listener", "waitress")):
        rates = [pair[index]["per_second"] for pair in rounds]
        cpus = [pair[index]["cpu_ms"] for pair in rounds]
        print(f"spread    {kind:<9} {min(rates):.0f}..{max(rates):.0f}/s, "
              f"{min(cpus):.3f}..{max(cpus):.3f} ms CPU/notice")  # fmt: skip
    print("(waitress: an app that reads the body and answers SUCCESS, checking nothing: the server's cost)")
    lost_or_doubled = sum(
        abs(ours["paid"] - args.sales)
        + abs(ours["confirmation_jobs"] - args.sales)
        + abs(ours["accepted_payments"] - args.sales)
        + ours["failed"]
        + ours["flags"]
        for _, ours, _ in rounds
    )
    doubled = [naive["confirmation_jobs"] - args.sales for naive, _, _ in rounds]
    print(f"naive: {', '.join(map(str, doubled))} doubled confirmation slips")
    checks = {
        f"listener >= {TARGET_PER_SECOND}/s (median)": ours_rate >= TARGET_PER_SECOND,
        "listener >= naive (medians)": ours_rate >= naive_rate,
        "zero lost or doubled transitions (every round)": lost_or_doubled == 0,
    }
    for name, passed in checks.items():
        print(f"{'PASS' if passed else 'MISS'} {name}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
