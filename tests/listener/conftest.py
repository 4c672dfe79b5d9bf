"""The listener under test: served by waitress (its production settings) on loopback, a real ledger
(SQLite and PostgreSQL: the ``database`` fixture), and the WeChat simulator paying sales and sending
notices over real HTTP."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from pos import config as pos_config
from pos.ledger import Ledger, LineItem, Sale, open_ledger
from pos.listener import build_server, create_app
from pos.sandbox.testing import RunningSimulator, running_simulator
from pos.wechatpay import WeChatPayClient, xmlcodec
from pos.wechatpay import sign as signing

PRODUCTS = (
    pos_config.Product(id="latte", name="拿铁", price="18.00"),
    pos_config.Product(id="bagel", name="贝果", price="9.50"),
)


class Served:
    """A WSGI app behind the listener's waitress settings, in a thread; ``app`` may be set after start
    (the listener's config needs its own URL)."""

    def __init__(self, listener: pos_config.ListenerConfig, app: Any = None) -> None:
        self.app = app
        self._server = build_server(self._dispatch, listener, host="127.0.0.1", port=0)
        self.port = self._server.effective_port
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._run, name=f"listener-{self.port}", daemon=True)
        self._thread.start()

    def _dispatch(self, environ: Any, start_response: Any) -> Any:
        return self.app(environ, start_response)

    def _run(self) -> None:
        with contextlib.suppress(OSError):
            self._server.run()

    def stop(self) -> None:
        # waitress has no public shutdown: close every channel from inside its loop, then the pool.
        logging.getLogger("waitress").setLevel(logging.ERROR)
        server = self._server

        def close_all() -> None:
            for channel in list(server._map.values()):
                channel.handle_close()

        try:
            server.trigger.pull_trigger(close_all)
        except OSError:  # the loop's wake-up pipe is gone (seen rarely at teardown): no loop to ask
            close_all()
        self._thread.join(timeout=5)
        server.task_dispatcher.shutdown()


@dataclass
class Stack:
    """Simulator + ledger + listener, wired together the way a shop runs them."""

    sim: RunningSimulator
    ledger: Ledger
    config: pos_config.Config
    url: str
    client: WeChatPayClient
    http: requests.Session = field(default_factory=requests.Session)

    @property
    def notify_url(self) -> str:
        return self.url + "/wechatpay/notify"

    def ring_up(self, total_fee: int = 1800, *, name: str = "拿铁", sign_type: str = "MD5") -> Sale:
        """A sale ordered at the simulator (NEW -> AWAITING_PAYMENT), notify_url pointing at us."""
        client = self.client
        if sign_type != client.sign_type:
            client = WeChatPayClient.from_config(
                self.config.merchant, sign_type=sign_type, retries=0, session=self.http
            )
        sale = self.ledger.create_sale(
            store="S01", lane="01", items=[LineItem(name, total_fee)], sign_type=sign_type
        )
        expires = datetime.now(UTC) + timedelta(minutes=15)
        order = client.unified_order(
            out_trade_no=sale.out_trade_no,
            total_fee=total_fee,
            body=sale.body,
            notify_url=self.notify_url,
            product_id="manual",
            spbill_create_ip="127.0.0.1",
            time_expire=expires,
        )
        return self.ledger.record_order(
            sale.id, code_url=order.code_url, prepay_id=order.prepay_id, expires_at=expires
        )

    @staticmethod
    def wait_for(predicate: Any, timeout: float = 10.0, interval: float = 0.01) -> Any:
        """Poll ``predicate`` until it returns something truthy; returns the last value."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value or time.monotonic() > deadline:
                return value
            time.sleep(interval)

    def post(self, body: bytes, path: str = "/wechatpay/notify", **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 10)
        return self.http.post(self.url + path, data=body, headers={"Content-Type": "text/xml"}, **kwargs)

    def notice_for(self, sale: Sale, **changes: str) -> dict[str, str]:
        """A notice as WeChat would sign it for ``sale`` (unsigned: call :meth:`signed`)."""
        fields = {
            "appid": self.config.merchant.appid,
            "mch_id": self.config.merchant.mch_id,
            "nonce_str": signing.new_nonce(),
            "result_code": "SUCCESS",
            "return_code": "SUCCESS",
            "openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
            "is_subscribe": "N",
            "trade_type": "NATIVE",
            "bank_type": "CMC",
            "total_fee": str(sale.total_fee),
            "fee_type": "CNY",
            "cash_fee": str(sale.total_fee),
            "transaction_id": "4200000000" + datetime.now(UTC).strftime("%Y%m%d") + f"{sale.id:010d}",
            "out_trade_no": sale.out_trade_no,
            "time_end": datetime.now(UTC).astimezone(signing_zone()).strftime("%Y%m%d%H%M%S"),
        }
        fields.update(changes)
        return fields

    def signed(self, fields: dict[str, str], sign_type: str = "MD5", key: str | None = None) -> bytes:
        body = signing.signed(fields, key or self.config.merchant.api_key, sign_type)
        return xmlcodec.encode_as_wechat(dict(sorted(body.items())), bare={"total_fee"})


def signing_zone():
    from pos.wechatpay.times import BEIJING

    return BEIJING


def make_config(
    tmp_path, sim: RunningSimulator, database_url: str | None = None, **listener: Any
) -> pos_config.Config:
    base = pos_config.from_mapping({}, "<test>", env={})
    return base.replace(
        merchant=pos_config.MerchantConfig(
            appid=sim.appid, mch_id=sim.mch_id, api_key=sim.api_key, api_base=sim.base_url, timeout=5.0
        ),
        database=pos_config.DatabaseConfig(url=database_url or f"sqlite:///{tmp_path / 'pos.sqlite3'}"),
        listener=pos_config.ListenerConfig(**listener),
        products=PRODUCTS,
    )


@contextlib.contextmanager
def listener_stack(
    tmp_path, database_url: str | None = None, busy_timeout_ms: int = 5000, **sim_settings: Any
) -> Iterator[Stack]:
    sim_settings.setdefault("time_scale", 0.001)
    with running_simulator(**sim_settings) as sim:
        served = Served(pos_config.ListenerConfig())
        try:
            base = make_config(tmp_path, sim, database_url)
            config = base.replace(
                merchant=pos_config.MerchantConfig(
                    **{**base.merchant.__dict__, "notify_url": served.base_url + "/wechatpay/notify"}
                )
            )
            ledger = open_ledger(config.database.url, busy_timeout_ms=busy_timeout_ms)
            served.app = create_app(config, ledger)
            sim.settings.callback_url = served.base_url + "/wechatpay/native-callback"
            client = WeChatPayClient.from_config(config.merchant, retries=0)
            stack = Stack(sim, ledger, config, served.base_url, client)
            try:
                yield stack
            finally:
                stack.http.close()
                client.close()
                ledger.close()
        finally:
            served.stop()


@pytest.fixture
def stack(tmp_path, database_url) -> Iterator[Stack]:
    with listener_stack(tmp_path, database_url) as s:
        yield s


@pytest.fixture
def stack_factory(tmp_path, database_url) -> Iterator[Any]:
    """``stack_factory(busy_timeout_ms=..., **sim_settings)``: a stack with other settings (stopped after)."""
    with contextlib.ExitStack() as stacks:
        yield lambda **settings: stacks.enter_context(listener_stack(tmp_path, database_url, **settings))


@pytest.fixture
def serve() -> Iterator[Any]:
    """``serve(app, listener_config=None)``: the app behind the listener's waitress settings."""
    running: list[Served] = []

    def start(app: Any, listener: pos_config.ListenerConfig | None = None) -> Served:
        served = Served(listener or pos_config.ListenerConfig(), app)
        running.append(served)
        return served

    yield start
    for served in running:
        served.stop()
