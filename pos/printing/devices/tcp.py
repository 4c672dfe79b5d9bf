"""Network printers on a raw TCP port (9100, "JetDirect").

One connection per job and per status question, closed straight after: a printer that was
restarted between jobs then costs nothing (a kept-open socket would swallow the next job),
and status questions never hold the port that the next job needs. Connecting and sending
both have short timeouts, so an unplugged printer is an error within seconds.
"""

from __future__ import annotations

import socket

from pos.printing.devices.base import PrinterDevice, PrinterUnavailable, PrintJob
from pos.printing.devices.spec import DeviceSpec

OPTIONS = {
    "connect_timeout": "seconds to wait for the connection, default 3",
    "timeout": "seconds a write may stall, default 10",
}


class TcpPrinter(PrinterDevice):
    kind = "tcp"
    can_read = True

    def __init__(self, spec: DeviceSpec):
        super().__init__(spec.text)
        spec.check_options(OPTIONS)
        self.host, self.port = _host_port(spec)
        self.connect_timeout = spec.number("connect_timeout", 3.0, low=0.05, high=120)
        self.write_timeout = spec.number("timeout", 10.0, low=0.05, high=600)

    def _connect(self) -> socket.socket:
        try:
            return socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        except TimeoutError:
            raise PrinterUnavailable(
                f"{self.spec}: no connection within {self.connect_timeout:g} s "
                "(printer off or wrong address?)"
            ) from None
        except OSError as exc:
            raise PrinterUnavailable(f"{self.spec}: cannot connect: {exc.strerror or exc}") from None

    def _write_job(self, job: PrintJob) -> int:
        sock = self._connect()
        sent = 0
        try:
            sock.settimeout(self.write_timeout)
            view = memoryview(job.data)
            while sent < len(view):
                sent += sock.send(view[sent : sent + 65536])
            sock.shutdown(socket.SHUT_WR)
        except OSError as exc:
            raise PrinterUnavailable(
                f"{self.spec}: sending failed after {sent} of {len(job.data)} bytes: {exc.strerror or exc}",
                written=sent,
            ) from None
        finally:
            sock.close()
        return sent

    def query(self, request: bytes, *, timeout: float) -> bytes:
        sock = self._connect()
        try:
            sock.settimeout(max(timeout, 0.001))
            sock.sendall(request)
            return sock.recv(1)
        except TimeoutError:
            return b""
        except OSError as exc:
            raise PrinterUnavailable(f"{self.spec}: {exc.strerror or exc}") from None
        finally:
            sock.close()


def _host_port(spec: DeviceSpec) -> tuple[str, int]:
    target = spec.target
    if target.startswith("["):  # [IPv6]:port
        host, _, rest = target[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
        if rest and not rest.startswith(":"):
            raise spec.fail(f"tcp: expected [ADDRESS]:PORT, not {target!r}")
    else:
        host, _, port_text = target.partition(":")
    if not host:
        raise spec.fail("tcp: needs a host name or address, e.g. tcp:192.168.1.50:9100")
    if not port_text:
        return host, 9100
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise spec.fail(f"tcp: port {port_text!r} must be a number 1..65535")
    return host, int(port_text)
