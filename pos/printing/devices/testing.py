"""Fake printers for tests and rehearsals: a TCP one on loopback and a serial one on a pty.

Both answer ``DLE EOT n`` the way an Epson-style printer in a chosen condition would (or not
at all, for ``silent``), and keep every byte they receive, so a test can check that a job
arrived whole and that status reads the right condition -- through the real socket and tty
code paths, with nothing mocked.

>>> with FakeNetworkPrinter(mode="paper-out") as printer:
...     device = open_device(printer.spec)
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import threading
from typing import Self

DLE_EOT = b"\x10\x04"

# Replies to DLE EOT 1, 2, 4 per condition. Fixed bits 0x12 (bits 1 and 4) are always set.
REPLIES: dict[str, dict[int, int]] = {
    "online": {1: 0x12, 2: 0x12, 4: 0x12},
    "paper-near-end": {1: 0x12, 2: 0x12, 4: 0x12 | 0x0C},
    "paper-out": {1: 0x12 | 0x08, 2: 0x12 | 0x20, 4: 0x12 | 0x60},
    "cover-open": {1: 0x12 | 0x08, 2: 0x12 | 0x04, 4: 0x12},
    "offline": {1: 0x12 | 0x08, 2: 0x12 | 0x40, 4: 0x12},
    "garbage": {1: 0xFF, 2: 0xFF, 4: 0xFF},
    "silent": {},
}


class _Responder:
    """Finds DLE EOT n in a byte stream (split across reads, too) and says what to answer."""

    def __init__(self, printer: _FakePrinter):
        self.printer = printer
        self.tail = b""

    def feed(self, chunk: bytes) -> bytes:
        data = self.tail + chunk
        answer = bytearray()
        i = data.find(DLE_EOT)
        while i != -1 and i + 2 < len(data):
            byte = REPLIES[self.printer.mode].get(data[i + 2])
            if byte is not None:
                answer.append(byte)
            self.printer.status_requests.append(data[i + 2])
            i = data.find(DLE_EOT, i + 3)
        self.tail = data[-2:] if i != -1 else data[-1:]
        return bytes(answer)


class _FakePrinter:
    def __init__(self, mode: str = "online"):
        if mode not in REPLIES:
            raise ValueError(f"mode must be one of {', '.join(REPLIES)}")
        self.mode = mode
        self.status_requests: list[int] = []
        self.chunks: list[bytes] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    @property
    def received(self) -> bytes:
        """Every byte received, in order."""
        with self._lock:
            return b"".join(self.chunks)

    def _keep(self, chunk: bytes) -> None:
        with self._lock:
            self.chunks.append(chunk)

    def _start(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self._threads.append(thread)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=2)


class FakeNetworkPrinter(_FakePrinter):
    """A raw-TCP printer on loopback (a free port): ``spec`` is its device string.

    ``jobs`` lists what each connection delivered, leaving out connections that only asked
    for status. ``host="::1"`` listens on IPv6 loopback instead of 127.0.0.1.
    """

    def __init__(self, mode: str = "online", *, host: str = "127.0.0.1"):
        super().__init__(mode)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._server = socket.create_server((host, 0), family=family)
        self._server.settimeout(0.05)
        self.port = self._server.getsockname()[1]
        address = f"[{host}]" if family == socket.AF_INET6 else host
        self.spec = f"tcp:{address}:{self.port}?connect_timeout=1&timeout=2"
        self.connections: list[bytes] = []
        self._start(self._accept)

    def wait_for_jobs(self, count: int, timeout: float = 5.0) -> list[bytes]:
        """Wait until ``count`` job connections have been closed by the sender; return the jobs."""
        _wait_until(lambda: len(self.jobs) >= count, timeout)
        return self.jobs

    @property
    def jobs(self) -> list[bytes]:
        with self._lock:
            return [c for c in self.connections if c.replace(DLE_EOT, b"").strip(b"\x01\x02\x04")]

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._start(self._serve, conn)

    def _serve(self, conn: socket.socket) -> None:
        responder = _Responder(self)
        got = bytearray()
        conn.settimeout(0.05)
        with conn:
            while not self._stop.is_set():
                try:
                    chunk = conn.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    break
                if not chunk:
                    break
                got += chunk
                self._keep(chunk)
                answer = responder.feed(chunk)
                if answer:
                    with contextlib.suppress(OSError):
                        conn.sendall(answer)
        with self._lock:
            self.connections.append(bytes(got))

    def close(self) -> None:
        super().close()
        self._server.close()


class FakeSerialPrinter(_FakePrinter):
    """A serial printer on the master side of a pty; ``path`` is the tty pyserial opens."""

    def __init__(self, mode: str = "online"):
        super().__init__(mode)
        self._master, self._slave = os.openpty()
        self.path = os.ttyname(self._slave)
        self.spec = f"serial:{self.path}?baud=115200"
        self._start(self._serve)

    def _serve(self) -> None:
        responder = _Responder(self)
        while not self._stop.is_set():
            ready, _, _ = select.select([self._master], [], [], 0.05)
            if not ready:
                continue
            try:
                chunk = os.read(self._master, 65536)
            except OSError:
                return
            if not chunk:
                return
            self._keep(chunk)
            answer = responder.feed(chunk)
            if answer:
                os.write(self._master, answer)

    def wait_for(self, size: int, timeout: float = 5.0) -> bytes:
        """Wait until ``size`` bytes have arrived (a tty delivers in pieces); return them all."""
        _wait_until(lambda: len(self.received) >= size, timeout)
        return self.received

    def close(self) -> None:
        super().close()
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)


def _wait_until(predicate, timeout: float) -> None:
    pause = threading.Event()
    for _ in range(max(1, int(timeout / 0.01))):
        if predicate():
            return
        pause.wait(0.01)
