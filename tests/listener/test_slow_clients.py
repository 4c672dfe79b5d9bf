"""Slow and idle clients cannot starve the listener (it faces the internet).

Several hundred connections to the listener on loopback, served with ``pos listen``'s own
settings (:func:`pos.listener.build_server`): some send a request's headers a byte at a time,
some connect and say nothing. While they are open, genuine signed notices and ``/healthz`` must
be answered; a client that waits more than a few seconds counts as not answered (WeChat gives
up after about 5 s). Then the slow ones must be cut by the server, though each keeps sending.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from pos.ledger import SaleState
from pos.listener.server import REQUEST_DEADLINE
from pos.wechatpay import notices

TRICKLERS = 300
IDLERS = 100
ANSWER_WITHIN = 4.0  # seconds a genuine client waits before it counts as not answered
TRICKLE = (
    b"POST /wechatpay/notify HTTP/1.1\r\nHost: pay.example.com\r\nContent-Type: text/xml\r\n"
    + b"X: y\r\n" * 500
)
BLANK = b"\r\n"  # blank lines: each pair is an empty "request" to waitress, never a real one


class SlowClients:
    """``trickling`` sockets that send one byte each every ``interval`` seconds (from one thread),
    a header that never ends or blank lines, and ``idle`` sockets that send nothing; counts the
    ones the server has closed."""

    def __init__(self, port: int, trickling: int, idle: int, interval: float = 0.25) -> None:
        self.interval = interval
        self.trickling = [self._connect(port) for _ in range(trickling)]
        self.idle = [self._connect(port) for _ in range(idle)]
        self.sent = [0] * trickling
        self.closed: set[socket.socket] = set()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._trickle, name="slow-clients", daemon=True)
        self._thread.start()

    @staticmethod
    def _connect(port: int) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.setblocking(False)
        return sock

    def _trickle(self) -> None:
        while not self._stop.wait(self.interval):
            for n, sock in enumerate(self.trickling):
                if sock in self.closed:
                    continue
                payload = BLANK if n % 3 == 2 else TRICKLE  # every third one sends blank lines
                try:
                    sock.send(payload[self.sent[n] % len(payload) : self.sent[n] % len(payload) + 1])
                    self.sent[n] += 1
                except OSError:  # reset by the server
                    with self._lock:
                        self.closed.add(sock)
            self.check()

    def check(self) -> None:
        """Note every socket the server has closed (EOF or reset)."""
        for sock in self.trickling + self.idle:
            if sock in self.closed:
                continue
            try:
                if sock.recv(4096) == b"":
                    with self._lock:
                        self.closed.add(sock)
            except BlockingIOError:
                pass
            except OSError:
                with self._lock:
                    self.closed.add(sock)

    def open_count(self) -> int:
        with self._lock:
            return len(self.trickling) + len(self.idle) - len(self.closed)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for sock in self.trickling + self.idle:
            sock.close()


@contextlib.contextmanager
def slow_clients(port: int, trickling: int = TRICKLERS, idle: int = IDLERS) -> Iterator[SlowClients]:
    clients = SlowClients(port, trickling, idle)
    try:
        yield clients
    finally:
        clients.close()


def test_genuine_notices_are_answered_while_hundreds_of_slow_clients_hold_connections(stack):
    sales = [stack.ring_up(1800 + n) for n in range(3)]
    port = int(stack.url.rsplit(":", 1)[1])
    with slow_clients(port) as slow:
        time.sleep(1.0)  # let them all be accepted (or queued) and start trickling
        fresh = requests.Session()  # new connections, as WeChat's servers open them
        try:
            health = fresh.get(stack.url + "/healthz", timeout=ANSWER_WITHIN)
            assert health.status_code == 200 and health.text == "ok\n"
            for sale in sales:
                body = stack.signed(stack.notice_for(sale))
                response = requests.post(
                    stack.notify_url, data=body, headers={"Content-Type": "text/xml"}, timeout=ANSWER_WITHIN
                )
                assert response.content == notices.success_reply()
                assert stack.ledger.get_sale(sale.id).state is SaleState.PAID
        finally:
            fresh.close()
        assert slow.open_count() > (TRICKLERS + IDLERS) // 2  # they were still there while we were served
        # Every slow connection is cut within the request deadline (plus the server's 1 s sweep),
        # however steadily it trickles; the bound below is only how long the test waits for that.
        deadline = time.monotonic() + REQUEST_DEADLINE + 10
        while slow.open_count() and time.monotonic() < deadline:
            time.sleep(0.25)
            slow.check()
        assert slow.open_count() == 0, f"{slow.open_count()} slow connections still open"
        assert min(slow.sent) < len(TRICKLE)  # none of them ever finished its headers


@pytest.mark.parametrize("extra", [200])
def test_past_the_connection_limit_the_longest_waiting_connection_makes_room(stack, extra):
    from pos.listener.server import MAX_CONNECTIONS

    sale = stack.ring_up(1800)
    port = int(stack.url.rsplit(":", 1)[1])
    with slow_clients(port, trickling=MAX_CONNECTIONS + extra, idle=0) as slow:
        time.sleep(1.0)
        response = requests.post(
            stack.notify_url,
            data=stack.signed(stack.notice_for(sale)),
            headers={"Content-Type": "text/xml"},
            timeout=ANSWER_WITHIN,
        )
        assert response.content == notices.success_reply()
        assert requests.get(stack.url + "/healthz", timeout=ANSWER_WITHIN).status_code == 200
        assert slow.open_count() > 0


def test_every_way_pos_listen_serves_has_the_guard():
    """One process (host and port) and the workers' shared socket alike."""
    from pos import config as pos_config
    from pos.listener.server import GuardedServer, build_server
    from pos.listener.workers import listening_socket

    def app(environ, start_response):  # pragma: no cover - never called
        return []

    listener = pos_config.ListenerConfig()
    alone = build_server(app, listener, host="127.0.0.1", port=0)
    sock = listening_socket("127.0.0.1", 0)
    shared = build_server(app, listener, sockets=[sock])
    try:
        for server in (alone, shared):
            assert isinstance(server, GuardedServer)
            assert server.adj.asyncore_use_poll and server.adj.connection_limit > 1000
    finally:
        alone.close()
        shared.close()
        sock.close()
