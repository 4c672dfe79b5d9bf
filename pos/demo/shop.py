"""The demo's running shop: simulator, listener and till started on loopback in that order, on
one clock (the simulator's), and stopped in reverse; and the banner that tells a newcomer where
everything is."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pos import config as pos_config
from pos.config import Config
from pos.demo.files import (
    add_demo_cashier,
    exclusive,
    remove_demo_cashiers,
    set_demo_manager_password,
    write_demo_config,
)
from pos.ports import bind_all


@dataclass
class DemoShop:
    """The three running services and what a script needs to drive them."""

    config: Config
    config_path: Path
    sim: Any  # pos.sandbox.engine.Simulator
    till: Any  # pos.till.service.Till
    till_url: str
    listener_url: str
    sim_url: str
    manager_password: str = ""  # printed in the banner; its hash is in pos.toml
    cashier: tuple[str, str] | None = None  # --cashiers: (name, PIN), printed in the banner

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.sim.clock.now(), UTC)

    def advance(self, seconds: float) -> None:
        """Move the shared clock (till and simulator) forward, and let the watcher look at once."""
        self.sim.clock.advance(seconds)
        self.till.watcher.nudge()


@contextmanager
def running_shop(
    directory: Path,
    *,
    till_port: int,
    listener_port: int,
    sim_port: int,
    language: str,
    sim_tls_port: int = 0,
    cashiers: bool = False,
    api: str = "v2",
) -> Iterator[DemoShop]:
    """Start simulator, listener and till (in that order) and stop them in reverse."""
    with ExitStack() as stack:
        # Every port first (0 picks a free one), so that a port in use is one line (pos.cli) and
        # leaves no file behind, and the URLs written into pos.toml name the ports held.
        sockets = bind_all(
            "127.0.0.1",
            {
                "till": (till_port, "use --till-port"),
                "listener": (listener_port, "use --listener-port"),
                "sim": (sim_port, "use --sim-port"),
                "sim_tls": (sim_tls_port, "use --sim-tls-port"),
            },
        )
        for sock in sockets.values():
            stack.callback(sock.close)
        till_port, listener_port, sim_port, sim_tls_port = (
            sockets[name].getsockname()[1] for name in ("till", "listener", "sim", "sim_tls")
        )
        from pos.ledger import open_ledger
        from pos.listener.app import create_app as listener_app
        from pos.listener.server import create_guarded_server, waitress_limits
        from pos.till.app import SERVER_OPTIONS as TILL_SERVER_OPTIONS
        from pos.till.app import create_app as till_app
        from pos.till.service import Till
        from pos.web import BackgroundServer

        stack.enter_context(exclusive(directory))
        config_path = write_demo_config(
            directory,
            till_port=till_port,
            listener_port=listener_port,
            sim_port=sim_port,
            sim_tls_port=sim_tls_port,
            language=language,
        )
        manager_password = set_demo_manager_password(config_path)
        cashier = add_demo_cashier(config_path, language) if cashiers else remove_demo_cashiers(config_path)
        config = pos_config.load(config_path)
        callback = f"http://127.0.0.1:{listener_port}/wechatpay/native-callback"
        sim, sim_url = start_simulator(stack, config, directory, sockets, callback_url=callback)
        if api == "v3":  # the simulator's v3 keys (new each run) into 0600 files named by pos.toml
            from pos.sandbox.v3files import use_v3_in_config

            use_v3_in_config(config_path, directory.resolve() / "v3", sim.v3.identity.public())
            config = pos_config.load(config_path)

        clock: Callable[[], datetime] = lambda: datetime.fromtimestamp(sim.clock.now(), UTC)  # noqa: E731

        till = Till(config, clock=clock)
        stack.callback(till.stop)
        listener_ledger = open_ledger(config.database.url, timezone=config.store.timezone, clock=clock)
        stack.callback(listener_ledger.close)
        listener_server = BackgroundServer(
            # Mode one is v2 only: on v3 the listener orders for shelf labels with a v2 client of its own.
            listener_app(config, listener_ledger, checkout=till.checkout if api == "v2" else None),
            sock=sockets["listener"],
            make_server=create_guarded_server,  # served as `pos listen` serves it: deadline and all
            **waitress_limits(config.listener),
        ).start()
        stack.callback(listener_server.stop)

        till.start()
        till_server = BackgroundServer(till_app(till), sock=sockets["till"], **TILL_SERVER_OPTIONS).start()
        stack.callback(till_server.stop)
        yield DemoShop(
            config=config,
            config_path=config_path,
            sim=sim,
            till=till,
            till_url=till_server.base_url,
            listener_url=listener_server.base_url,
            sim_url=sim_url,
            manager_password=manager_password,
            cashier=cashier,
        )


def start_simulator(
    stack: ExitStack, config: Config, directory: Path, sockets: dict[str, Any], *, callback_url: str
) -> tuple[Any, str]:
    """The simulator as the sandbox merchant's WeChat, on ``sockets["sim"]`` (plain HTTP) and
    ``sockets["sim_tls"]`` (HTTPS with client certificates, as refunds need; the throwaway CA and
    merchant certificate in ``<dir>/certs``); stopped by ``stack``. Returns it and its URL."""
    from pos.sandbox.app import create_app as sim_app
    from pos.sandbox.settings import SimSettings
    from pos.sandbox.tls import ClientCertGate, PlainPortGate, make_pki, server_context
    from pos.web import BackgroundServer

    settings = SimSettings(
        appid=config.merchant.appid,
        mch_id=config.merchant.mch_id,
        api_key=config.merchant.api_key,
        merchant_name=config.store.name,
        callback_url=callback_url,
        state_file=str(directory / "sim.json"),
    )
    sim_application = sim_app(settings=settings)
    sim = sim_application.extensions["pos_sim"]
    stack.callback(sim.close)
    # As `pos sim`: the plain port refuses /secapi/ (refund, reverse); the till uses the TLS port.
    sim_server = BackgroundServer(PlainPortGate(sim_application), sock=sockets["sim"]).start()
    stack.callback(sim_server.stop)
    pki = make_pki(directory.resolve() / "certs", mch_id=config.merchant.mch_id)
    sim_tls_server = BackgroundServer(
        ClientCertGate(sim_application, config.merchant.mch_id),
        sock=sockets["sim_tls"],
        ssl_context=server_context(pki),
    ).start()
    stack.callback(sim_tls_server.stop)
    return sim, sim_server.base_url


def banner(shop: DemoShop) -> str:
    merchant = shop.config.merchant
    return "\n".join(
        [
            "pos demo is running (Ctrl-C stops it)",
            f"  cashier's page      {shop.till_url}/",
            f"  manager's pages     {shop.till_url}/manager/   password: {shop.manager_password}",
            f"  customer's phone    {shop.sim_url}/_sim/phone   (paste a receipt's weixin:// link)",
            f"  listener            {shop.listener_url}/wechatpay/notify",
            f"  WeChat simulator    {shop.sim_url}/",
            f"  printer (dir:)      {shop.config.printer.device[4:]}   (<job>.bin bytes, <job>.png pictures)",
            f"  config              {shop.config_path}   (use with --config for every pos command)",
            *(
                [f"  cashier             {shop.cashier[0]}   PIN: {shop.cashier[1]}   (scripts: api_token)"]
                if shop.cashier
                else []
            ),
            "sandbox merchant (sign a notice by hand with these):",
            f"  appid={merchant.appid} mch_id={merchant.mch_id} api_key={merchant.api_key} "
            f"sign_type={merchant.sign_type}",
            *(
                [
                    f"  api=v3 mchid={merchant.mch_id} merchant_serial_no={merchant.merchant_serial_no} "
                    f"wechatpay_public_key_id={merchant.wechatpay_public_key_id}"
                ]
                if merchant.api == "v3"
                else []
            ),
        ]
    )
