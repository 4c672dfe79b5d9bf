"""How fast the manager's day view and streamed CSV are for a day of 100,000 sales, beside a naive way.

    .venv/bin/python bench/report.py [--sales 100000] [--earlier 25000] [--weeks 4] [--runs 7]
                                     [--database postgresql+psycopg://USER@HOST:PORT/DB] [--keep DIR]

A ledger made by ``open_ledger`` (so it has the real schema and indexes) is
filled quickly with bulk inserts through SQLAlchemy Core on the ledger's own
tables: ``--sales`` sales on the business day measured, 1-3 items each, in every
state (paid ones with their payment row, some partly or fully refunded, some
flagged), spread over four lanes and the shop's hours; and ``--earlier`` sales
on each of the ``--weeks`` same weekdays before it, for the chart. Always on a
SQLite file; with ``--database``, also on that PostgreSQL server (in a schema
of its own, dropped afterwards). The same seed fills both, and the two CSVs
must be the same bytes.

Then, on each database, over real HTTP on loopback (the till's app served by
waitress in its own process, as ``pos till`` runs it; a logged-in manager
session), ``--runs`` times each, median and p95 (not best of):

- the day view, ``GET /manager/day?date=...``: totals, counts by state, flags,
  the hourly chart beside the earlier weeks, the first page of sales;
- the CSV, ``GET /manager/day.csv?date=...``: the time to its first byte and to
  its last. The first run is the till's first download since it started
  (cold: its pool, the database's caches of that day as the filling left them),
  shown on its own and counted in the median and p95 too;
- the naive way, in process, in the same run: ``ledger.sales_for_day`` loads
  every Sale record with its items, and the csv module writes the whole file
  in memory before a byte can be sent (its first byte is its last).

Then, in process, the memory each holds at its peak (tracemalloc): the streamed
CSV holds one batch of sales; the naive way holds the whole day.

Targets: the CSV's first byte within 300 ms; the day view within 300 ms (median).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import math
import multiprocessing
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import tracemalloc
import urllib.parse
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from http.client import HTTPConnection
from pathlib import Path
from zoneinfo import ZoneInfo

import requests
from sqlalchemy import create_engine, insert
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pos import config as pos_config
from pos.ledger import LineItem, SaleState, open_ledger
from pos.ledger.models import items_listing
from pos.ledger.schema import flags, payments, refunds, sale_items, sales
from pos.money import format_yuan
from pos.reports import day as report

TARGET_MS = 300
DAY = date(2026, 11, 27)
ZONE = ZoneInfo("Asia/Shanghai")
PRODUCTS = (("拿铁", 1800), ("柠檬茶", 1250), ("芝士蛋糕", 2600), ("矿泉水", 200), ("美式咖啡", 1500))
# Roughly what a day looks like: most sales paid, a few expired, voided, failed or refunded.
STATES = (
    (SaleState.PAID, 0.86),
    (SaleState.EXPIRED, 0.05),
    (SaleState.VOIDED, 0.03),
    (SaleState.FAILED, 0.01),
    (SaleState.PARTLY_REFUNDED, 0.02),
    (SaleState.REFUNDED, 0.02),
    (SaleState.AWAITING_PAYMENT, 0.01),
)


def fill(url: str, day: date, count: int, rng: random.Random, first_id: int) -> int:
    """Insert ``count`` sales of ``day`` (ids from ``first_id``) with items, payments, refunds, flags."""
    ledger = open_ledger(url)
    states = [s for s, _ in STATES]
    weights = [w for _, w in STATES]
    opening = datetime(day.year, day.month, day.day, 8, tzinfo=ZONE).astimezone(UTC)
    span = 14 * 3600
    sale_rows, item_rows, payment_rows, refund_rows, flag_rows = [], [], [], [], []
    lanes = ("01", "02", "03", "04")
    sequence = dict.fromkeys(lanes, 0)
    offsets = sorted(rng.uniform(0, span) for _ in range(count))
    for n, offset in enumerate(offsets):
        sale_id = first_id + n
        lane = lanes[n % 4]
        sequence[lane] += 1
        created = opening + timedelta(seconds=offset)
        state = rng.choices(states, weights)[0]
        lines = [
            LineItem(*PRODUCTS[rng.randrange(len(PRODUCTS))], qty=rng.randint(1, 2))
            for _ in range(rng.randint(1, 3))
        ]
        total = sum(line.amount for line in lines)
        for position, line in enumerate(lines, start=1):
            item_rows.append(
                {
                    "sale_id": sale_id,
                    "position": position,
                    "name": line.name,
                    "qty": line.qty,
                    "unit_price": line.unit_price,
                    "amount": line.amount,
                }
            )
        paid = state in (SaleState.PAID, SaleState.PARTLY_REFUNDED, SaleState.REFUNDED)
        refunded = (
            total if state is SaleState.REFUNDED else total // 2 if state is SaleState.PARTLY_REFUNDED else 0
        )
        paid_at = created + timedelta(seconds=rng.uniform(5, 120)) if paid else None
        transaction_id = f"42000{sale_id:023d}" if paid else None
        out_trade_no = f"S01-{lane}-{day:%Y%m%d}-{sequence[lane]:04d}"
        flagged = paid and n % 5000 == 0
        sale_rows.append(
            {
                "id": sale_id,
                "out_trade_no": out_trade_no,
                "store": "S01",
                "lane": lane,
                "cashier": f"收银员{n % 4 + 1}",
                "business_date": day,
                "body": lines[0].name,
                "items_text": items_listing(lines),  # what Ledger.create_sale stores
                "total_fee": total,
                "state": state.value,
                "sign_type": "MD5",
                "code_url": f"weixin://wxpay/bizpayurl?pr={sale_id:07d}"
                if state is not SaleState.FAILED
                else None,
                "prepay_id": f"wx{sale_id:030d}",
                "created_at": created,
                "ordered_at": created,
                "expires_at": created + timedelta(minutes=15),
                "paid_at": paid_at,
                "closed_at": created + timedelta(minutes=15)
                if state in (SaleState.EXPIRED, SaleState.VOIDED)
                else None,
                "transaction_id": transaction_id,
                "failure": "SYSTEMERROR" if state is SaleState.FAILED else None,
                "refund_reserved_fee": refunded,
                "refunded_fee": refunded,
                "flagged": flagged,
                "updated_at": paid_at or created,
            }
        )
        if paid:
            payment_rows.append(
                {
                    "sale_id": sale_id,
                    "transaction_id": transaction_id,
                    "total_fee": total,
                    "cash_fee": total,
                    "openid": f"o{sale_id:027d}",
                    "time_end": paid_at,
                    "source": "notice",
                    "accepted": True,
                    "recorded_at": paid_at,
                }
            )
        if refunded:
            refund_rows.append(
                {
                    "sale_id": sale_id,
                    "out_refund_no": f"{out_trade_no}-R1",
                    "refund_fee": refunded,
                    "state": "SUCCEEDED",
                    "refund_id": f"50000{sale_id:023d}",
                    "reason": "",
                    "requested_at": paid_at + timedelta(hours=1),
                    "completed_at": paid_at + timedelta(hours=1),
                }
            )
        if flagged:
            flag_rows.append(
                {
                    "sale_id": sale_id,
                    "out_trade_no": out_trade_no,
                    "kind": "paid_after_close",
                    "detail": "{}",
                    "dedupe_key": f"after_close:{sale_id}",
                    "raised_at": paid_at,
                }
            )
    with ledger.engine.begin() as conn:
        for table, rows in (
            (sales, sale_rows),
            (sale_items, item_rows),
            (payments, payment_rows),
            (refunds, refund_rows),
            (flags, flag_rows),
        ):
            for start in range(0, len(rows), 20000):
                conn.execute(insert(table), rows[start : start + 20000])
    ledger.close()
    return first_id + count


def serve_till(config, ready, stop) -> None:
    """The till's app in its own process, as ``pos till`` runs it (its watcher and spooler not
    started: nothing here is for sale), so the bench's HTTP client does not share its interpreter."""
    from pos.till.app import SERVER_OPTIONS, create_app
    from pos.till.service import Till
    from pos.web import BackgroundServer

    till = Till(config)
    server = BackgroundServer(create_app(till), **SERVER_OPTIONS).start()
    try:
        ready.put(server.base_url)
        stop.wait()
    finally:
        server.stop()
        till.stop()


def median_p95(values: list[float]) -> tuple[float, float]:
    """Median and p95 (nearest rank) of ``values``."""
    ordered = sorted(values)
    return statistics.median(ordered), ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def schema_url(base: str) -> tuple[str, Callable[[], None]]:
    """A new schema on the PostgreSQL server at ``base``: its URL, and what drops it."""
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})

    def drop() -> None:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()

    return url.render_as_string(hide_password=False), drop


def filled(url: str, args: argparse.Namespace) -> None:
    rng = random.Random(6)
    next_id = 1
    for earlier in reversed(report.same_weekdays(DAY, args.weeks)):
        next_id = fill(url, earlier, args.earlier, rng, next_id)
    fill(url, DAY, args.sales, rng, next_id)


def over_http(url: str, folder: Path, runs: int) -> dict[str, object]:
    """The day view and the streamed CSV over HTTP from a till process of their own, ``runs`` times."""
    from werkzeug.security import generate_password_hash

    base = pos_config.from_mapping({}, "<bench>", env={})
    password = "bench-password"
    config = base.replace(
        database=pos_config.DatabaseConfig(url=url),
        till=dataclasses.replace(base.till, data_dir=str(folder)),
        printer=dataclasses.replace(base.printer, device=f"dir:{folder / 'printer'}"),
        manager=dataclasses.replace(base.manager, password_hash=generate_password_hash(password)),
    )
    spawn = multiprocessing.get_context("spawn")
    ready, stop = spawn.Queue(), spawn.Event()
    till_process = spawn.Process(target=serve_till, args=(config, ready, stop))
    till_process.start()
    base_url = ready.get(timeout=120)
    try:
        http = requests.Session()
        token = _csrf(http.get(f"{base_url}/manager/login").text)
        answer = http.post(
            f"{base_url}/manager/login", data={"password": password, "csrf_token": token}, timeout=30
        )
        assert answer.status_code == 200 and "login" not in answer.url, answer.status_code
        address = urllib.parse.urlsplit(base_url)
        cookies = "; ".join(f"{name}={value}" for name, value in http.cookies.items())

        def csv_export() -> tuple[float, float, bytes]:
            """Milliseconds to the body's first byte and to its last, and the body."""
            connection = HTTPConnection(address.hostname, address.port, timeout=120)
            try:
                started = time.perf_counter()
                path = f"/manager/day.csv?date={DAY.isoformat()}"
                connection.request("GET", path, headers={"Cookie": cookies})
                response = connection.getresponse()
                first = response.read(1)
                first_ms = (time.perf_counter() - started) * 1000
                body = first + response.read()
                full_ms = (time.perf_counter() - started) * 1000
                assert response.status == 200, response.status
                assert response.getheader("Content-Length") is None  # streamed, chunked
                return first_ms, full_ms, body
            finally:
                connection.close()

        csv_runs = [csv_export() for _ in range(runs)]  # the first is the till's first: cold
        views = []
        for _ in range(runs):
            started = time.perf_counter()
            response = http.get(f"{base_url}/manager/day", params={"date": DAY.isoformat()}, timeout=120)
            views.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.status_code
    finally:
        stop.set()
        till_process.join(timeout=30)
    bodies = {body for _, _, body in csv_runs}
    assert len(bodies) == 1, "the CSV changed between runs"
    return {
        "first_byte": [first for first, _, _ in csv_runs],
        "full": [full for _, full, _ in csv_runs],
        "body": bodies.pop(),
        "day_view": views,
    }


def naive_csv(ledger, words: dict) -> bytes:
    """The naive way: every Sale record with its items, then the whole file made in memory."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for sale in ledger.sales_for_day(DAY, store="S01"):
        writer.writerow(
            [
                sale.created_at.astimezone(ZONE).strftime("%Y-%m-%d %H:%M:%S"),
                sale.out_trade_no,
                sale.transaction_id or "",
                items_listing(sale.items) or sale.body,
                format_yuan(sale.total_fee),
                format_yuan(sale.refunded_fee),
                words.get(sale.state, sale.state.value),
                sale.lane,
                sale.cashier,
                sale.paid_at.astimezone(ZONE).strftime("%Y-%m-%d %H:%M:%S") if sale.paid_at else "",
                *(_fen(fee) for fee in (sale.cash_fee, sale.coupon_fee, sale.settlement_total_fee)),
            ]
        )
    return report.csv_header("zh-CN") + out.getvalue().encode("utf-8")


def _fen(fee: int | None) -> str:
    return "" if fee is None else format_yuan(fee)


def in_process(url: str, runs: int) -> dict[str, object]:
    """The naive way's time, and the peak memory of the streamed CSV and of the naive way."""
    words = report_words(pos_config.from_mapping({}, "<bench>", env={}))
    with open_ledger(url) as ledger:
        naive = []
        for _ in range(runs):
            started = time.perf_counter()
            size = len(naive_csv(ledger, words))
            naive.append((time.perf_counter() - started) * 1000)

        def streamed() -> int:
            chunks = report.csv_chunks(ledger, DAY, store="S01", zone=ZONE, state_words=words)
            return sum(len(chunk) for chunk in chunks)

        peaks = {}
        for name, run in (("streamed", streamed), ("naive", lambda: len(naive_csv(ledger, words)))):
            tracemalloc.start()
            run()
            peaks[name] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
    return {"naive": naive, "naive_size": size, "peaks": peaks}


def measure(label: str, url: str, folder: Path, args: argparse.Namespace) -> dict[str, object]:
    started = time.perf_counter()
    filled(url, args)
    total = args.sales + args.earlier * args.weeks
    fill_s = time.perf_counter() - started
    print(f"{label}: {total:,} sales ({args.sales:,} on {DAY}), filled in {fill_s:.1f} s")
    result = over_http(url, folder, args.runs)
    result.update(in_process(url, max(1, min(3, args.runs))))
    first, full = result["first_byte"], result["full"]
    print(f"  {args.runs} runs each, median / p95 (the CSV's first run is the till's first download):")
    rows = [
        ("day view (HTTP)", result["day_view"]),
        ("streamed CSV: first byte (HTTP)", first),
        ("streamed CSV: whole file (HTTP)", full),
    ]
    for name, values in rows:
        mid, p95 = median_p95(values)
        print(f"    {name:<40} {mid:8.1f} ms  {p95:8.1f} ms")
    print(f"    {'  its first run (cold): first byte, whole':<40} {first[0]:8.1f} ms  {full[0]:8.1f} ms")
    mid, p95 = median_p95(result["naive"])
    print(
        f"    {'naive: sales_for_day + csv, in memory':<40} {mid:8.1f} ms  {p95:8.1f} ms"
        "  (in process; its first byte is its last)"
    )
    peaks = result["peaks"]
    print(
        f"  peak memory (tracemalloc): streamed {peaks['streamed'] / 1e6:.1f} MB, "
        f"naive {peaks['naive'] / 1e6:.1f} MB; file {len(result['body']) / 1e6:.2f} MB "
        f"(naive's {result['naive_size'] / 1e6:.2f} MB)"
    )
    first_mid, _ = median_p95(first)
    view_mid, _ = median_p95(result["day_view"])
    result["over"] = [
        name for name, value in (("CSV first byte", first_mid), ("day view", view_mid)) if value > TARGET_MS
    ]
    for name in result["over"]:
        print(f"  OVER the {TARGET_MS} ms target: {name}")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sales", type=int, default=100_000, help="sales on the measured day")
    parser.add_argument("--earlier", type=int, default=25_000, help="sales on each earlier same weekday")
    parser.add_argument("--weeks", type=int, default=4, help="earlier weeks shown in the chart")
    parser.add_argument("--runs", type=int, default=7, help="runs of each measure (median and p95)")
    parser.add_argument("--database", help="also on this PostgreSQL server (postgresql+psycopg://...)")
    parser.add_argument("--keep", help="build the SQLite ledger in this folder and keep it")
    args = parser.parse_args()

    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="pos-bench-report-"))
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "pos.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    print(f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}")
    results = {"SQLite": measure("SQLite", f"sqlite:///{db}", folder, args)}
    if args.database:
        url, drop = schema_url(args.database)
        try:
            results["PostgreSQL"] = measure("PostgreSQL", url, folder, args)
        finally:
            drop()
        same = results["SQLite"]["body"] == results["PostgreSQL"]["body"]
        print(f"the two CSVs are the same bytes: {'yes' if same else 'NO'}")
        if not same:
            return 1
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)
    return 1 if any(result["over"] for result in results.values()) else 0


def report_words(config) -> dict:
    from pos.manager.words import Words

    return Words(config.store.language).states()


def _csrf(html: str) -> str:
    import re

    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    if not match:
        raise SystemExit("bench: no CSRF token on the login page")
    return match.group(1)


if __name__ == "__main__":
    sys.exit(main())
