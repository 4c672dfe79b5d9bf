"""A running simulator for other packages' tests and for the demo.

    from pos.sandbox.testing import running_simulator

    with running_simulator(time_scale=0.001) as sim:
        client = make_client(api_base=sim.base_url, appid=sim.appid, mch_id=sim.mch_id, api_key=sim.api_key)
        code_url = client.unified_order(...).code_url
        transaction_id = sim.pay(code_url)              # the customer pays; the notice is sent
        sim.wait_for_notifications(1)                   # until one delivery attempt is logged
        sim.advance(2 * 3600)                           # the code_url is now dead
        sim.set_faults(drop_first=1, duplicate=True)    # misbehave on the next notices

    with running_simulator(tls=True) as sim:            # also an HTTPS port, for the refund
        client = make_client(api_base=sim.tls_base_url, cert=sim.pki.client, verify=str(sim.pki.ca_file), ...)

Everything goes over real HTTP on 127.0.0.1 (waitress in a thread, a free port),
so the code under test meets the same bytes it meets in production. Keyword
arguments are :class:`~pos.sandbox.settings.SimSettings` fields.

With ``tls=True`` the same simulator is also served over HTTPS (``tls_base_url``)
with a throwaway CA made for the run (``pki``: :class:`~pos.sandbox.tls.Pki`, the
CA file to verify against and the merchant's client certificate). There, as at
WeChat, ``/secapi/pay/refund`` needs the client certificate; ``base_url`` stays
plain HTTP for everything else a test does.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests

from pos.sandbox.app import SERVER_OPTIONS, create_app
from pos.sandbox.engine import Simulator
from pos.sandbox.errors import SandboxError
from pos.sandbox.settings import SimSettings
from pos.sandbox.state import SimState
from pos.sandbox.tls import ClientCertGate, Pki, make_pki, server_context
from pos.web import BackgroundServer


class SimulatorError(SandboxError, RuntimeError):
    """A ``/_sim`` call was refused; ``error`` is the simulator's code (e.g. ``expired``)."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(f"{status} {error}: {message}")
        self.status = status
        self.error = error
        self.message = message


class RunningSimulator:
    """Handle on a simulator served on loopback. Attributes: base_url, appid, mch_id, api_key,
    sandbox_key, settings, sim (the in-process Simulator, for inspection only); with ``tls=True``
    also tls_base_url and pki (the throwaway CA and certificates, deleted at stop())."""

    def __init__(self, settings: SimSettings, state: SimState | None = None, *, tls: bool = False) -> None:
        self.settings = settings
        self.app = create_app(state, settings)
        self.sim: Simulator = self.app.extensions["pos_sim"]
        self._server = BackgroundServer(self.app, **SERVER_OPTIONS).start()
        self.base_url = self._server.base_url
        self.pki: Pki | None = None
        self.tls_base_url = ""
        self._tls_server: BackgroundServer | None = None
        if tls:
            self.pki = make_pki(tempfile.mkdtemp(prefix="pos-sim-pki-"), mch_id=settings.mch_id)
            gated = ClientCertGate(self.app, settings.mch_id)
            self._tls_server = BackgroundServer(gated, ssl_context=server_context(self.pki)).start()
            self.tls_base_url = self._tls_server.base_url
        self.appid, self.mch_id, self.api_key = settings.appid, settings.mch_id, settings.api_key
        self.sandbox_key = settings.sandbox_key
        # API v3: mchid, appid, apiv3_key, merchant_private_key, merchant_serial_no,
        # wechatpay_public_key(_id), platform_certificate, platform_serial_no (as GET /_sim/ lists).
        self.v3: dict[str, str] = self.sim.v3.identity.public()
        self._http = requests.Session()

    def _call(self, method: str, path: str, json: Any = None) -> Any:
        response = self._http.request(method, self.base_url + path, json=json, timeout=30)
        data = response.json()
        if response.status_code >= 400:
            raise SimulatorError(response.status_code, data.get("error", ""), data.get("message", ""))
        return data

    def pay(self, code_url: str, notify: bool = True, openid: str | None = None) -> str:
        """The customer pays ``code_url``; returns the transaction_id (SimulatorError if it can't)."""
        body: dict[str, Any] = {"code_url": code_url, "notify": notify}
        if openid:
            body["openid"] = openid
        return self._call("POST", "/_sim/pay", body)["transaction_id"]

    def paycode(self, outcome: str = "paid") -> str:
        """A customer's payment code that behaves as ``outcome`` says (paid, password, expired,
        not_enough, unknown) when the till charges it (``POST /_sim/paycode``)."""
        return self._call("POST", "/_sim/paycode", {"outcome": outcome})["auth_code"]

    def scan(self, url: str, notify: bool = True, openid: str | None = None) -> dict[str, Any]:
        """Mode one: scan a bizpayurl; the merchant's callback_url must answer with a prepay_id."""
        body: dict[str, Any] = {"url": url, "notify": notify}
        if openid:
            body["openid"] = openid
        return self._call("POST", "/_sim/scan", body)

    def advance(self, seconds: float) -> float:
        """Move the simulator's clock forward; returns its new now (epoch seconds)."""
        return self._call("POST", "/_sim/clock", {"advance_seconds": seconds})["now"]

    def set_faults(self, **faults: Any) -> dict[str, Any]:
        """drop_first=N, duplicate=bool, concurrent=K, delay_seconds=S, bad_sign_probe=bool."""
        return self._call("POST", "/_sim/faults", faults)

    def rotate_platform_certificate(self, valid_days: int = 5 * 365, keep_old: bool = True) -> dict[str, Any]:
        """WeChat rotates: a new platform certificate signs from now on, the old stays listed
        (``keep_old=False``: it is withdrawn, as if revoked)."""
        return self._call("POST", "/_sim/v3/rotate", {"valid_days": valid_days, "keep_old": keep_old})

    def notifications(self) -> list[dict[str, Any]]:
        """Every delivery attempt so far: kind, out_trade_no, attempt, copy, status, outcome, reply..."""
        return self._call("GET", "/_sim/notifications")["deliveries"]

    def wait_for_notifications(self, count: int, timeout: float = 10.0, **match: Any) -> list[dict[str, Any]]:
        """Wait until ``count`` logged attempts match ``match`` (e.g. outcome="ok"); returns them."""
        deadline = time.monotonic() + timeout
        while True:
            found = [d for d in self.notifications() if all(d.get(k) == v for k, v in match.items())]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.01)

    def orders(self) -> list[dict[str, Any]]:
        return self._call("GET", "/_sim/orders")["orders"]

    def stop(self) -> None:
        self._http.close()
        self.sim.close()
        self._server.stop()
        if self._tls_server is not None:
            self._tls_server.stop()
        if self.pki is not None:
            shutil.rmtree(self.pki.directory, ignore_errors=True)


@contextmanager
def running_simulator(
    state_file: str | None = None, *, tls: bool = False, **settings: Any
) -> Iterator[RunningSimulator]:
    """Serve a simulator on 127.0.0.1 (free port) for the ``with`` block; stops it afterwards.
    ``tls=True`` adds the HTTPS port with client certificates (``tls_base_url``, ``pki``)."""
    sim_settings = SimSettings(state_file=state_file or "", **settings)
    running = RunningSimulator(sim_settings, tls=tls)
    try:
        yield running
    finally:
        running.stop()
