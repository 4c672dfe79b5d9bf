"""A listener fleet: several real ``pos listen`` processes on one ledger (PostgreSQL, and SQLite in WAL
mode), a storm of notices spread over them, one killed mid-storm; each sale paid exactly once.

:func:`listener_fleet` starts ``pos listen`` processes (each its own interpreter, a free port, the
ledger at the config's ``[database] url``) through :mod:`pos.processes`. :class:`Front` stands for
the TLS front a chain puts before its listeners: each request goes to the next listener in turn;
a listener that cannot be reached (or drops the connection) answers that request 502 and is
taken out of the rotation, as a front with passive health checks does. The front does NOT retry
a failed request on another listener: WeChat's own retry (the simulator's schedule) must bring
the notice back, which is what a fleet relies on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

from pos.ledger import JobKind, SaleState
from pos.processes import Launch, PosProcess, ProcessGroup, pos_command
from pos.wechatpay.modeone import bizpayurl


def write_listener_config(path: Path, config, *, notify_url: str) -> Path:
    """A ``pos.toml`` for ``pos listen`` with the test stack's merchant, ledger and products."""
    merchant = config.merchant
    products = "".join(
        f'\n[[products]]\nid = "{p.id}"\nname = "{p.name}"\nprice = "{p.price}"\n' for p in config.products
    )
    path.write_text(
        f"""
[merchant]
appid = "{merchant.appid}"
mch_id = "{merchant.mch_id}"
api_key = "{merchant.api_key}"
api_base = "{merchant.api_base}"
notify_url = "{notify_url}"

[database]
url = "{config.database.url}"

[listener]
host = "127.0.0.1"
{products}""",
        encoding="utf-8",
    )
    return path


@contextlib.contextmanager
def listener_fleet(config: Path, count: int) -> Iterator[list[PosProcess]]:
    """``count`` listeners on one config, started together (they migrate the ledger at once: safe)."""
    with ProcessGroup() as group:
        launches = [
            Launch(pos_command(config, "listen"), f"listener {n}", config.parent / f"listen-{n}.log")
            for n in range(count)
        ]
        yield group.start_all(launches, batch=count)


class Front:
    """Round-robin HTTP front over ``upstreams`` (base URLs); see the module docstring.

    ``served[(upstream, path)]`` counts answered requests; ``failed[upstream]`` the requests that
    found the upstream gone (answered 502)."""

    def __init__(self, upstreams: list[str]) -> None:
        self.upstreams = list(upstreams)
        self.down: set[str] = set()
        self.served: Counter[tuple[str, str]] = Counter()
        self.failed: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._turn = 0
        front = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                front._forward(self)

            do_GET = do_POST

            def log_message(self, *args: object) -> None:  # quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="fleet-front", daemon=True)
        self._thread.start()

    def _pick(self) -> str | None:
        with self._lock:
            alive = [u for u in self.upstreams if u not in self.down]
            if not alive:
                return None
            self._turn += 1
            return alive[self._turn % len(alive)]

    def _forward(self, handler: BaseHTTPRequestHandler) -> None:
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        upstream = self._pick()
        status, content, content_type = 502, b"bad gateway\n", "text/plain"
        if upstream is not None:
            headers = {
                k: v for k, v in handler.headers.items() if k.lower() not in ("host", "content-length")
            }
            try:
                # A new connection per request: a kept-alive one the listener had closed would look
                # like a dead listener.
                answer = requests.request(
                    handler.command, upstream + handler.path, data=body, headers=headers, timeout=30
                )
            except requests.RequestException:
                with self._lock:
                    self.down.add(upstream)
                    self.failed[upstream] += 1
            else:
                status, content = answer.status_code, answer.content
                content_type = answer.headers.get("Content-Type", "text/plain")
                with self._lock:
                    self.served[(upstream, handler.path)] += 1
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(content)))
        handler.end_headers()
        handler.wfile.write(content)

    def count(self, upstream: str, path: str = "/wechatpay/notify") -> int:
        with self._lock:
            return self.served[(upstream, path)]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


# -- the tests -----------------------------------------------------------------------------------

STORM = 150  # sales paid at once: enough to keep three listeners busy, small enough for CI
KILL_AFTER = 20  # notices the doomed listener answers before it is killed


@contextlib.contextmanager
def fleet(stack, tmp_path: Path, count: int) -> Iterator[tuple[Front, list[PosProcess]]]:
    """``count`` listeners on the stack's ledger behind one front; WeChat (the simulator) sends
    notices and mode-one callbacks to the front, never to a listener directly."""
    front = Front([])
    try:
        config = write_listener_config(
            tmp_path / "listen.toml", stack.config, notify_url=front.base_url + "/wechatpay/notify"
        )
        with listener_fleet(config, count) as listeners:
            front.upstreams = [listener.url for listener in listeners]
            stack.sim.settings.callback_url = front.base_url + "/wechatpay/native-callback"
            yield front, listeners
    finally:
        front.stop()


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
    return value


def assert_paid_exactly_once(ledger, sale_id: int, transaction_id: str) -> None:
    """From the ledger: PAID by this transaction, one accepted payment, one slip, one paid event."""
    sale = ledger.get_sale(sale_id)
    assert (sale.state, sale.transaction_id) == (SaleState.PAID, transaction_id)
    assert [(p.transaction_id, p.accepted) for p in ledger.payments_for_sale(sale_id)] == [
        (transaction_id, True)
    ]
    confirmations = [j for j in ledger.jobs_for_sale(sale_id) if j.kind is JobKind.CONFIRMATION]
    assert len(confirmations) == 1
    assert [e.event for e in ledger.events_for_sale(sale_id)].count("paid") == 1


def test_a_notice_storm_over_three_listeners_one_killed_pays_every_sale_once(stack, tmp_path):
    with fleet(stack, tmp_path, 3) as (front, listeners):
        till = dataclasses.replace(stack, url=front.base_url)  # ring_up names the front as notify_url
        sales = [till.ring_up(100 + n) for n in range(STORM)]
        doomed, *survivors = listeners

        def pay_all(start: int) -> None:
            for sale in sales[start::4]:
                paid[sale.id] = stack.sim.pay(sale.code_url)

        paid: dict[int, str] = {}
        payers = [threading.Thread(target=pay_all, args=(i,)) for i in range(4)]
        for payer in payers:
            payer.start()
        # Mid-storm: once the doomed listener has answered a few notices, it dies with others in flight.
        wait_until(lambda: front.count(doomed.url) >= KILL_AFTER, 60, "the storm to reach every listener")
        doomed.kill()
        for payer in payers:
            payer.join(60)
        assert len(paid) == STORM

        def all_delivered() -> bool:
            ok = {d["out_trade_no"] for d in stack.sim.notifications() if d["outcome"] == "ok"}
            return ok >= {s.out_trade_no for s in sales}

        wait_until(all_delivered, 120, "every notice to be answered SUCCESS")
        deliveries = stack.sim.notifications()

    # Every sale paid exactly once, from the ledger: no payment lost, none doubled, no slip twice.
    for sale in sales:
        assert_paid_exactly_once(stack.ledger, sale.id, paid[sale.id])
    assert stack.ledger.open_flags() == []
    # The kill cut notices off (the front answered 502 for the dead listener) and WeChat's retry of
    # each reached a survivor: a later attempt of the same notice answered SUCCESS.
    assert front.failed[doomed.url] >= 1 and doomed.url in front.down
    cut = {d["out_trade_no"] for d in deliveries if d["outcome"] != "ok"}
    assert cut, "no notice was cut off by the kill"
    for out_trade_no in cut:
        attempts = [d for d in deliveries if d["out_trade_no"] == out_trade_no]
        first_fail = min(d["attempt"] for d in attempts if d["outcome"] != "ok")
        assert any(d["outcome"] == "ok" and d["attempt"] > first_fail for d in attempts), attempts
    # No listener ever answered 5xx itself (a race lost on the database is "already paid", not a 500):
    # every failure is the front's 502 for the dead one.
    assert {d["status"] for d in deliveries} <= {200, 502}
    assert all(front.count(listener.url) > 0 for listener in survivors)
    for listener in survivors:
        listener.stop()
        assert "Traceback" not in listener.log()


RACED = 60  # sales whose notice reaches three listeners at the same moment


def test_copies_of_each_notice_at_once_race_across_listeners_and_pay_once(stack, tmp_path):
    """WeChat sends each notice as three copies at the same moment (fault: concurrent); the front
    hands them to the three listeners, which race on the same sale (on PostgreSQL, on its row lock;
    on SQLite, on the file's write lock): one pays, the others find it paid, all answer SUCCESS."""
    stack.sim.set_faults(concurrent=3)
    with fleet(stack, tmp_path, 3) as (front, listeners):
        till = dataclasses.replace(stack, url=front.base_url)
        sales = [till.ring_up(100 + n) for n in range(RACED)]
        paid = {sale.id: stack.sim.pay(sale.code_url) for sale in sales}
        copies = 3 * RACED
        wait_until(lambda: len(stack.sim.notifications()) >= copies, 120, "every copy to be answered")
        deliveries = stack.sim.notifications()
        for listener in listeners:
            listener.stop()
        assert "Traceback" not in listener.log()
    assert len(deliveries) == copies  # delivered at the first attempt: nothing to retry
    assert [(d["status"], d["outcome"]) for d in deliveries] == [(200, "ok")] * copies
    assert all(front.count(listener.url) == RACED for listener in listeners)  # one copy each
    for sale in sales:
        assert_paid_exactly_once(stack.ledger, sale.id, paid[sale.id])
        # Copies that reached the ledger after the winner are kept as repeats (a copy that came once
        # the sale was committed PAID is answered from a read and not stored again).
        verdicts = [m.verdict for m in stack.ledger.messages_for(sale.out_trade_no)]
        assert verdicts.count("paid") == 1 and set(verdicts) <= {"paid", "already_paid"}, verdicts
    assert stack.ledger.open_flags() == []


# Label scans at the same moment, through the front. The simulator serves 8 requests at a time and
# each scan holds one while the listener's callback orders from it: more would starve the orders.
SCANS_AT_ONCE = 4


def test_mode_one_callbacks_work_from_either_listener(stack, tmp_path):
    """Each listener takes label scans (the callback rings the sale up and orders it from WeChat);
    the payment notices come back through the front to whichever listener is next. Scans at the
    same moment on both listeners draw distinct order numbers from the lane's one sequence."""
    m = stack.config.merchant
    products = ("latte", "bagel") * (2 + SCANS_AT_ONCE // 2)
    labels = [bizpayurl(p, appid=m.appid, mch_id=m.mch_id, api_key=m.api_key) for p in products]
    with fleet(stack, tmp_path, 2) as (front, listeners):
        orders = []
        for n, label in enumerate(labels[:4]):
            # The platform's callback URL names one listener per scan: A, B, A, B.
            stack.sim.settings.callback_url = listeners[n % 2].url + "/wechatpay/native-callback"
            orders.append(stack.sim.scan(label))
            found = stack.sim.wait_for_notifications(
                1, timeout=30, outcome="ok", out_trade_no=orders[-1]["out_trade_no"]
            )
            assert found, orders[-1]
        assert all(front.count(listener.url) >= 1 for listener in listeners)  # notices reached both

        stack.sim.settings.callback_url = front.base_url + "/wechatpay/native-callback"
        with ThreadPoolExecutor(SCANS_AT_ONCE) as pool:
            orders += list(pool.map(stack.sim.scan, labels[4:]))
        for order in orders[4:]:
            found = stack.sim.wait_for_notifications(
                1, timeout=30, outcome="ok", out_trade_no=order["out_trade_no"]
            )
            assert found, order
        callbacks = [front.count(listener.url, "/wechatpay/native-callback") for listener in listeners]
        assert sum(callbacks) == SCANS_AT_ONCE  # spread by the front (the A, B scans above chose)
        for listener in listeners:
            listener.stop()
        assert "Traceback" not in listener.log()
    assert len({order["out_trade_no"] for order in orders}) == len(labels)
    for order, product in zip(orders, products, strict=True):
        sale = stack.ledger.sale_by_out_trade_no(order["out_trade_no"])
        assert sale.total_fee == {"latte": 1800, "bagel": 950}[product]
        assert_paid_exactly_once(stack.ledger, sale.id, sale.transaction_id)
        assert [msg.verdict for msg in stack.ledger.messages_for(sale.out_trade_no)] == ["ordered", "paid"]
