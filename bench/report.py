"""How fast the manager's day view and the day's CSV are for a day of 100,000 sales, against a naive way.

    .venv/bin/python bench/report.py [--sales 100000] [--earlier 25000] [--weeks 4] [--keep DIR]
                                     [--reading 1.0]

A SQLite ledger made by ``open_ledger`` (so it has the real schema and indexes)
is filled quickly with bulk inserts through SQLAlchemy Core on the ledger's own
tables: ``--sales`` sales on the business day measured, 1-3 items each, in
every state (paid ones with their payment row, some partly or fully refunded,
some flagged), spread over four lanes and the shop's hours; and ``--earlier``
sales on each of the ``--weeks`` same weekdays before it, for the chart. The
database size is printed.

Then, in the same run, each measured three times (best shown):

- the day view: ``GET /manager/day?date=...`` over real HTTP on loopback
  (the till's app served by waitress in its own process, as ``pos till`` runs
  it; a logged-in manager session): totals, counts by state, flags,
  the hourly chart beside the earlier weeks, and the first page of sales;
  once the first time (the chart's earlier weeks are computed) and again
  (they are kept a few minutes; the day itself is always computed afresh);
- the CSV: ``GET /manager/day.csv?date=...``, every byte of it read. The
  first time, a second after the day view (``--reading``; asked sooner, the
  download waits for what is being written): the view had the till's helper
  process write the day's rows meanwhile (pos/till/kept_csv.py), kept by
  block of ids; again; after a change to one sale (straight in the database, as
  another program would): its block's rows are written again, the rest sent as
  kept; and after most of the day changed (every sale updated): the CSV is made
  afresh by two processes while it streams (pos/till/csv_helper.py), the
  slowest case, shown but not held to the target (a day rewritten wholesale is
  not a manager's download);
- the naive way, what the till's JSON API does for the cashier's "today" list:
  ``ledger.sales_for_day`` loads every Sale record with its items and Python
  adds them up; and the naivest, ``ledger.get_sale`` per sale, timed on the
  first 2,000 sales and extrapolated to the day (said so in the output).

Then, in process, where the CSV's time goes: ``csv_chunks`` as the till runs it,
with its helper process writing the later half of the day; in one process; that
one's database read (the driver's tuples, nothing formatted); the same query
inside SQLite alone (every column computed, nothing handed to Python); Python's
formatting; and what HTTP adds.

Target: at most 300 ms each for the day view and the CSV.
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import random
import shutil
import sqlite3
import sys
import tempfile
import time
import types
import urllib.parse
from datetime import UTC, date, datetime, timedelta
from http.client import HTTPConnection
from pathlib import Path
from zoneinfo import ZoneInfo

import requests
from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pos import config as pos_config
from pos.ledger import LineItem, SaleState, open_ledger
from pos.ledger.models import items_listing
from pos.ledger.schema import flags, payments, refunds, sale_items, sales
from pos.reports import day as report

TARGET_MS = 300
READING_S = 1.0  # between the day view and the first CSV: the manager reads the page
AFRESH = "CSV after most of the day changed (afresh)"
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


def best_ms(run, repeat: int = 3) -> tuple[float, object]:
    times, value = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        value = run()
        times.append((time.perf_counter() - started) * 1000)
    return min(times), value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sales", type=int, default=100_000, help="sales on the measured day")
    parser.add_argument("--earlier", type=int, default=25_000, help="sales on each earlier same weekday")
    parser.add_argument("--weeks", type=int, default=4, help="earlier weeks shown in the chart")
    parser.add_argument("--keep", help="build the ledger in this folder and keep it")
    parser.add_argument(
        "--reading", type=float, default=READING_S, help="seconds between the day view and the first CSV"
    )
    args = parser.parse_args()

    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="pos-bench-report-"))
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "pos.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    url = f"sqlite:///{db}"
    rng = random.Random(6)
    started = time.perf_counter()
    next_id = 1
    for earlier in reversed(report.same_weekdays(DAY, args.weeks)):
        next_id = fill(url, earlier, args.earlier, rng, next_id)
    fill(url, DAY, args.sales, rng, next_id)
    fill_s = time.perf_counter() - started
    size = sum(Path(f"{db}{s}").stat().st_size for s in ("", "-wal") if Path(f"{db}{s}").exists())
    total = args.sales + args.earlier * args.weeks
    print(
        f"ledger: {total:,} sales ({args.sales:,} on {DAY}), filled in {fill_s:.1f} s; "
        f"database {size / 1e6:.1f} MB ({db})"
    )

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
    till_process = spawn.Process(target=serve_till, args=(config, ready, stop))  # it has a child itself
    till_process.start()
    server = types.SimpleNamespace(base_url=ready.get(timeout=120))
    results = {}
    try:
        http = requests.Session()
        login = http.get(f"{server.base_url}/manager/login")
        token = _csrf(login.text)
        answer = http.post(
            f"{server.base_url}/manager/login", data={"password": password, "csrf_token": token}, timeout=30
        )
        assert answer.status_code == 200 and "login" not in answer.url, answer.status_code

        def day_view() -> int:
            response = http.get(
                f"{server.base_url}/manager/day", params={"date": DAY.isoformat()}, timeout=60
            )
            assert response.status_code == 200, response.status_code
            return len(response.content)

        address = urllib.parse.urlsplit(server.base_url)
        cookies = "; ".join(f"{name}={value}" for name, value in http.cookies.items())

        def csv_export() -> int:  # http.client: one read of the whole body, as a browser's would be
            connection = HTTPConnection(address.hostname, address.port, timeout=60)
            try:
                connection.request(
                    "GET", f"/manager/day.csv?date={DAY.isoformat()}", headers={"Cookie": cookies}
                )
                response = connection.getresponse()
                body = response.read()
                assert response.status == 200, response.status
                return len(body)
            finally:
                connection.close()

        results["day view, first time (HTTP)"] = best_ms(day_view, repeat=1)
        results["day view, again (HTTP)"] = best_ms(day_view)
        # The day view started the till's CSV helper process (a big day). A manager reads the page
        # before asking for its CSV; the bench gives that a second, and shows the first CSV apart.
        time.sleep(args.reading)
        results["CSV, first time (HTTP, every sale)"] = best_ms(csv_export, repeat=1)
        results["CSV, again (HTTP, every sale)"] = best_ms(csv_export)

        def changed(where: str, *values: object) -> None:  # not timed: only the CSV after it is
            with sqlite3.connect(db) as change:
                change.execute(f"UPDATE sales SET cashier = cashier || '' WHERE {where}", values)

        def after_change(where: str, *values: object) -> tuple[float, object]:
            times = []
            for _ in range(3):
                changed(where, *values)
                times.append(best_ms(csv_export, repeat=1))
            return min(times, key=lambda t: t[0])

        results["CSV after a change to one sale"] = after_change("id = ?", next_id + args.sales // 2)
        results[AFRESH] = after_change("business_date = ?", DAY.isoformat())
    finally:
        stop.set()
        till_process.join(timeout=30)

    ledger = open_ledger(url)
    breakdown = csv_breakdown(ledger, config)

    def naive_day() -> int:
        day_sales = ledger.sales_for_day(DAY, store="S01")
        paid = [s for s in day_sales if s.state.is_paid]
        return sum(s.total_fee for s in paid) - sum(s.refunded_fee for s in paid)

    naive_ms, naive_net = best_ms(naive_day, repeat=1)
    figures = report.day_figures(ledger, DAY, store="S01")
    assert naive_net == figures.net_fee, (naive_net, figures.net_fee)
    sample = 2000
    started = time.perf_counter()
    for sale_id in range(next_id, next_id + sample):
        ledger.get_sale(sale_id)
    per_sale_ms = (time.perf_counter() - started) * 1000 / sample
    ledger.close()

    print(
        f"day {DAY}: {figures.count:,} sales, paid {figures.paid_fee / 100:,.2f}, "
        f"refunded {figures.refunded_fee / 100:,.2f}, net {figures.net_fee / 100:,.2f} yuan"
    )
    for name, (ms, size_bytes) in results.items():
        verdict = "ok" if ms <= TARGET_MS else f"OVER the {TARGET_MS} ms target"
        if name == AFRESH:
            verdict = (
                f"({'under' if ms <= TARGET_MS else 'over'} {TARGET_MS} ms; the slowest case, not held to it)"
            )
        print(f"  {name:<40} {ms:8.1f} ms  ({size_bytes / 1e6:.2f} MB)  {verdict}")
    http_ms = results[AFRESH][0]
    print(f"  where the CSV's time goes (in process, best of 3; SQLite {sqlite3.sqlite_version}):")
    for name, ms in breakdown.items():
        print(f"    {name:<52} {ms:8.1f} ms")
    transport_ms = http_ms - breakdown["csv_chunks with the helper: two processes"]
    print(f"    {'the rest: HTTP (waitress, chunked) and the client':<52} {transport_ms:8.1f} ms")
    print(f"  {'naive: sales_for_day + Python sums':<40} {naive_ms:8.1f} ms  (same net: yes)")
    print(
        f"  {'naivest: get_sale per sale':<40} {per_sale_ms * args.sales:8.0f} ms  "
        f"(extrapolated from {sample:,} sales at {per_sale_ms:.2f} ms each)"
    )
    over = [name for name, (ms, _) in results.items() if ms > TARGET_MS and name != AFRESH]
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)
    return 1 if over else 0


def csv_breakdown(ledger, config) -> dict[str, float]:
    """Where the CSV's time goes, in process: with the helper process (as the till writes it); in
    one process; that one's database read alone (the driver's tuples, nothing formatted); and the
    same query inside SQLite alone."""
    from sqlalchemy import func, select

    from pos.till.csv_helper import CsvHelper

    words = report_words(config)
    helper = CsvHelper(str(ledger.engine.url))
    helper.warm()

    def whole(helper=None) -> int:  # with the helper as the till makes it afresh: kept by block too
        blocks = [] if helper is not None else None
        chunks = report.csv_chunks(
            ledger, DAY, store="S01", zone=ZONE, state_words=words, helper=helper, blocks=blocks
        )
        return sum(len(chunk) for chunk in chunks)

    def read(statement) -> int:
        with ledger.engine.connect() as conn:
            cursor = conn.execute(statement(conn)).cursor
            count = 0
            while rows := cursor.fetchmany(report.CSV_BATCH):
                count += len(rows)
            return count

    def with_items(conn):
        return report.csv_statement(conn, DAY, store="S01")

    def sqlite_alone(conn):  # every column computed, one number back: no Python object per value
        day = with_items(conn).subquery()
        return select(*(func.count(column) for column in day.c))

    try:
        whole(helper)  # the helper has started
        two, _ = best_ms(lambda: whole(helper))
    finally:
        helper.close()
    total, _ = best_ms(whole)
    read_ms, _ = best_ms(lambda: read(with_items))
    engine_ms, _ = best_ms(lambda: read(sqlite_alone))
    return {
        "csv_chunks with the helper: two processes": two,
        "csv_chunks in one process": total,
        "  its database read (SQLite + the driver's tuples)": read_ms,
        "    SQLite alone (same query, nothing handed over)": engine_ms,
        "  formatting in Python (one process - the read)": total - read_ms,
    }


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
