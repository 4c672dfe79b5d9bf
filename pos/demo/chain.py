"""``pos demo --database URL``: a small chain on one ledger — three stores, two lanes each, two
listener processes — with the simulator standing in for WeChat.

Each till is a store and a lane with a config file of its own (``<dir>/chain/S01-01.toml`` ...),
its own virtual printer (``<dir>/printer/S01-01``) and its own port; all six share the ledger
the user gave (a PostgreSQL URL is what a chain runs; a ``sqlite:///`` file works too, for one
machine). The listeners are real ``pos listen`` processes (``<dir>/chain/listen.toml``): even
lanes' notices go to the first, odd lanes' to the second, as a load balancer in front of a
listener fleet would spread them. The tills run in this process on the simulator's clock; the
listeners keep the machine's, which is the same time (the chain demo never moves the clock).

``--api v3`` runs the same chain on WeChat Pay API v3: the simulator starts first and its v3 keys
(new each run) go into every config, the listeners' included, before any process reads one.
The listeners start through :mod:`pos.processes`, as the tests and the bench start theirs.

``--auto`` rings a sale on every till, has half of them paid with WeChat's notice and half
without (the till's own query finds those), and exits 0 when every sale is PAID once, every
confirmation slip came out of the printer of the till that rang the sale, and nothing is left
queued.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pos import config as pos_config
from pos.demo.files import demo_config_text, exclusive, set_demo_manager_password
from pos.demo.shift import printed_jobs
from pos.demo.shop import start_simulator
from pos.log import get_logger
from pos.ports import bind_all
from pos.processes import Launch, ProcessGroup, pos_command

log = get_logger("pos.demo")

STORES = (
    ("S01", "东门店", "East Gate"),
    ("S02", "西街店", "West Street"),
    ("S03", "南站店", "South Station"),
)
LANES = ("01", "02")
LISTENERS = 2


@dataclass
class ChainTill:
    """One lane of one store: its config, its service and where its page is."""

    store: str
    lane: str
    config_path: Path
    till: Any  # pos.till.service.Till
    url: str

    @property
    def printer(self) -> Path:
        return Path(self.till.config.printer.device[4:])


@dataclass
class ChainShop:
    """The running chain: simulator, listener processes and tills."""

    directory: Path
    database: str
    sim: Any  # pos.sandbox.engine.Simulator
    sim_url: str
    listener_urls: list[str]
    tills: list[ChainTill]
    manager_password: str
    api: str = "v2"

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.sim.clock.now(), UTC)


def till_configs(
    directory: Path, *, database: str, ports: dict[str, int], listener_ports: list[int], language: str
) -> list[tuple[str, str, Path]]:
    """Write one pos.toml per till (0600: the API key is in it); returns (store, lane, path)."""
    from pos.config import write_secret_file

    folder = directory / "chain"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for number, ((store, zh_name, en_name), lane) in enumerate((s, lane) for s in STORES for lane in LANES):
        path = folder / f"{store}-{lane}.toml"
        text = demo_config_text(
            directory,
            till_port=ports[f"{store}-{lane}"],
            listener_port=listener_ports[number % LISTENERS],
            sim_port=ports["sim"],
            sim_tls_port=ports["sim_tls"],
            language=language,
            store=store,
            store_name=zh_name if language == "zh-CN" else en_name,
            lane=lane,
            database_url=database,
            printer=directory.resolve() / "printer" / f"{store}-{lane}",
        )
        write_secret_file(
            path, text.replace(f"# --config {directory.resolve() / 'pos.toml'}", f"# --config {path}")
        )
        written.append((store, lane, path))
    return written


@contextmanager
def running_chain(
    directory: Path, *, database: str, sim_port: int, sim_tls_port: int, language: str, api: str = "v2"
) -> Iterator[ChainShop]:
    """Start the simulator, the listener processes and the six tills; stop them in reverse.

    ``api="v3"``: every config (the listeners' and each till's) is switched to the simulator's v3
    merchant, as ``pos demo --api v3`` switches the one shop's, so tills order and listeners
    verify notices on v3 (mode one, the shelf labels, stays v2 as everywhere)."""
    from pos.ledger import open_ledger
    from pos.sandbox.v3files import use_v3_in_config
    from pos.till.app import SERVER_OPTIONS as TILL_SERVER_OPTIONS
    from pos.till.app import create_app as till_app
    from pos.till.service import Till
    from pos.web import BackgroundServer

    with ExitStack() as stack:
        places = [f"{store}-{lane}" for store, _, _ in STORES for lane in LANES]
        sockets = bind_all(
            "127.0.0.1",
            {
                "sim": (sim_port, "use --sim-port"),
                "sim_tls": (sim_tls_port, "use --sim-tls-port"),
                **{place: (0, "") for place in places},
            },
        )
        for sock in sockets.values():
            stack.callback(sock.close)
        ports = {name: sock.getsockname()[1] for name, sock in sockets.items()}
        stack.enter_context(exclusive(directory))
        with open_ledger(database):  # migrated once, before any till or listener opens it
            pass
        listen_path = directory / "chain" / "listen.toml"
        listen_path.parent.mkdir(parents=True, exist_ok=True)
        pos_config.write_secret_file(
            listen_path,
            demo_config_text(
                directory,
                till_port=0,
                listener_port=0,
                sim_port=ports["sim"],
                sim_tls_port=ports["sim_tls"],
                language=language,
                store_name=STORES[0][1] if language == "zh-CN" else STORES[0][2],
                database_url=database,
            ),
        )
        # The simulator first: on v3 its keys (new each run) go into every config before any
        # process reads one. Its mode-one callback names the first listener once that serves.
        sim, sim_url = start_simulator(
            stack, pos_config.load(listen_path), directory, sockets, callback_url=""
        )
        identity = sim.v3.identity.public() if api == "v3" else None
        if identity:
            use_v3_in_config(listen_path, directory.resolve() / "v3", identity)
        listeners = stack.enter_context(ProcessGroup()).start_all(
            [
                Launch(
                    pos_command(listen_path, "listen"), f"listener {n + 1}", directory / f"listen-{n + 1}.log"
                )
                for n in range(LISTENERS)
            ],
            batch=LISTENERS,
        )
        listener_urls = [listener.url for listener in listeners]
        sim.settings.callback_url = f"{listener_urls[0]}/wechatpay/native-callback"
        listener_ports = [int(url.rsplit(":", 1)[1]) for url in listener_urls]
        written = till_configs(
            directory, database=database, ports=ports, listener_ports=listener_ports, language=language
        )
        if identity:
            for _, _, path in written:
                use_v3_in_config(path, directory.resolve() / "v3", identity)
        password = set_demo_manager_password(*(path for _, _, path in written))
        configs = [(store, lane, path, pos_config.load(path)) for store, lane, path in written]
        clock: Callable[[], datetime] = lambda: datetime.fromtimestamp(sim.clock.now(), UTC)  # noqa: E731
        tills = []
        for store, lane, path, config in configs:
            till = Till(config, clock=clock)
            stack.callback(till.stop)
            till.start()
            server = BackgroundServer(
                till_app(till), sock=sockets[f"{store}-{lane}"], **TILL_SERVER_OPTIONS
            ).start()
            stack.callback(server.stop)
            tills.append(ChainTill(store, lane, path, till, server.base_url))
        yield ChainShop(directory, database, sim, sim_url, listener_urls, tills, password, api)


def chain_banner(shop: ChainShop) -> str:
    rows = [
        f"pos demo (a chain, WeChat Pay API {shop.api}) is running (Ctrl-C stops it)",
        f"  ledger              {_without_password(shop.database)}",
        *(f"  till {t.store} lane {t.lane}   {t.url}/   printer {t.printer}" for t in shop.tills),
        f"  manager's pages     {shop.tills[0].url}/manager/   password: {shop.manager_password}",
        *(f"  listener {n + 1}          {url}/wechatpay/notify" for n, url in enumerate(shop.listener_urls)),
        f"  customer's phone    {shop.sim_url}/_sim/phone",
        f"  configs             {shop.directory / 'chain'}   (one per till; use with --config)",
    ]
    return "\n".join(rows)


def _without_password(url: str) -> str:
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


# -- the scripted chain shift ------------------------------------------------------------------------


def chain_shift(shop: ChainShop, *, timeout: float = 60.0) -> int:
    """A sale on every till, half paid with a notice, half found by the till's own query."""
    import requests

    http = requests.Session()
    sales = []
    try:
        for number, till in enumerate(shop.tills):
            body = {"items": [{"product_id": "LATTE", "qty": 1}, {"product_id": "WATER", "qty": number + 1}]}
            answer = http.post(f"{till.url}/api/sales", json=body, timeout=15)
            if answer.status_code != 201:
                print(f"pos demo --auto: FAILED: ring-up on {till.store}-{till.lane}: {answer.text}")
                return 1
            sale = answer.json()
            notify = number % 2 == 0
            paid = http.post(
                f"{shop.sim_url}/_sim/pay", json={"code_url": sale["code_url"], "notify": notify}, timeout=15
            )
            paid.raise_for_status()
            sales.append((till, sale, notify))
        finished = _wait_paid(http, sales, timeout)
    except requests.RequestException as exc:
        print(f"pos demo --auto: FAILED: {exc}", flush=True)
        return 1
    _wait_printers(shop, timeout)
    ok = True
    print("\nchain shift summary:")
    for till, sale, notify in sales:
        state = finished.get(sale["id"], "?")
        slips = printed_jobs(till.printer)
        own = all(job.get("out_trade_no", "").startswith(f"{till.store}-{till.lane}-") for job in slips)
        confirmations = [
            j for j in slips if j["kind"] == "confirmation" and j["out_trade_no"] == sale["out_trade_no"]
        ]
        good = state == "PAID" and own and len(confirmations) == 1
        ok = ok and good
        how = "notice" if notify else "the till's query"
        print(
            f"  {'ok ' if good else 'BAD'} {sale['out_trade_no']:<22} {state:<8} paid via {how:<16} "
            f"confirmation slips on its own printer: {len(confirmations)}; "
            f"{'only its own slips' if own else 'ANOTHER TILL PRINTED HERE'}"
        )
    queued = sum(t.till.spooler.status().queued for t in shop.tills)
    print(f"  printers: {queued} still queued")
    return 0 if ok and queued == 0 else 1


def _wait_paid(http: Any, sales: list, timeout: float) -> dict[int, str]:
    deadline = time.monotonic() + timeout
    states: dict[int, str] = {}
    while True:
        for till, sale, _ in sales:
            states[sale["id"]] = http.get(f"{till.url}/api/sales/{sale['id']}", timeout=15).json()["state"]
        if all(state == "PAID" for state in states.values()) or time.monotonic() > deadline:
            return states
        for till, _, _ in sales:
            till.till.watcher.nudge()
        time.sleep(0.2)


def _wait_printers(shop: ChainShop, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(
            t.till.spooler.status().queued == 0 and t.till.spooler.status().current_job is None
            for t in shop.tills
        ):
            return
        time.sleep(0.1)
