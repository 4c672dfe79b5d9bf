"""``pos demo``: the whole loop on this machine — simulator, listener and till on loopback.

A newcomer runs one command and gets a working shop: the WeChat Pay simulator
(8702) stands in for WeChat, the listener (8701) receives its signed
notifications, and the till (8700) serves the cashier's page with a virtual
``dir:`` printer that writes every job's bytes and a PNG picture of it. The
configuration is written to ``<dir>/pos.toml`` so every other command
(``pos sale``, ``pos printer preview``, ...) works on the demo's data with
``--config <dir>/pos.toml``.

The three share one clock, the simulator's, so ``--auto`` can pass a
15-minute deadline in a moment and the till and "WeChat" still agree on the
time. ``--auto`` runs a short scripted shift without a person and exits 0 when
every sale ended as it should.

This is the one production module besides cli.py that imports pos.sandbox.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pos import config as pos_config
from pos.config import DEMO_API_KEY, DEMO_APPID, DEMO_MCH_ID, Config, write_secret_file
from pos.log import get_logger
from pos.ports import bind_all

if TYPE_CHECKING:  # imported when the demo runs, not for `pos --help` (see pos/cli.py)
    import requests

log = get_logger("pos.demo")

DEMO_PRODUCTS = (
    ("LATTE", "拿铁", "18.00", "6901234567892"),
    ("TEA", "柠檬茶", "12.50", "6920000000017"),
    ("CAKE", "芝士蛋糕", "26.00", ""),
    ("WATER", "矿泉水", "2.00", "6921168509256"),
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the simulator, the listener and the till together on loopback",
        description="The whole loop on this machine: a WeChat Pay simulator, the notification "
        "listener and the till with a virtual printer. Ctrl-C stops it.",
    )
    parser.add_argument("--dir", default="pos-demo", help="where the demo keeps its files (default pos-demo)")
    parser.add_argument(
        "--auto", action="store_true", help="run a short scripted shift, print a summary, exit"
    )
    parser.add_argument("--till-port", type=int, default=8700, help="the till (default 8700)")
    parser.add_argument("--listener-port", type=int, default=8701, help="the listener (default 8701)")
    parser.add_argument("--sim-port", type=int, default=8702, help="the simulator (default 8702)")
    parser.add_argument(
        "--sim-tls-port",
        type=int,
        default=8703,
        help="the simulator over HTTPS with client certificates, as refunds need (default 8703)",
    )
    parser.add_argument("--language", choices=("zh-CN", "en"), default="zh-CN", help="the cashier's language")
    parser.add_argument(
        "--api",
        choices=("v2", "v3"),
        default="v2",
        help="the WeChat Pay API the till speaks (default v2); v3 keys are read from the simulator",
    )
    parser.add_argument(
        "--cashiers",
        action="store_true",
        help="sign in as on a shop's network: a cashier with a printed PIN, and an API token for scripts",
    )
    parser.set_defaults(func=run)


def demo_config_text(
    directory: Path,
    *,
    till_port: int,
    listener_port: int,
    sim_port: int,
    sim_tls_port: int,
    language: str,
) -> str:
    """The demo's pos.toml: the sandbox merchant, loopback URLs, a dir: printer, a few products.

    The till talks to the simulator's HTTPS port, with the throwaway CA and merchant certificate
    in ``<dir>/certs``, as it would talk to WeChat: refunds need the client certificate.
    """
    root = directory.resolve()
    certs = root / "certs"
    products = "\n".join(
        f'[[products]]\nid = "{pid}"\nname = "{name}"\nprice = "{price}"\nbarcode = "{barcode}"\n'
        for pid, name, price, barcode in DEMO_PRODUCTS
    )
    return f"""# Written by `pos demo`. Every pos command works on the demo's data with
# --config {root / "pos.toml"}
[merchant]
appid = "{DEMO_APPID}"
mch_id = "{DEMO_MCH_ID}"
api_key = "{DEMO_API_KEY}"
sign_type = "MD5"
notify_url = "http://127.0.0.1:{listener_port}/wechatpay/notify"
api_base = "https://127.0.0.1:{sim_tls_port}"
ca_file = "{certs / "ca.pem"}"
cert_file = "{certs / "apiclient_cert.pem"}"
key_file = "{certs / "apiclient_key.pem"}"
timeout = 5

[store]
id = "S01"
name = "{"演示小店" if language == "zh-CN" else "Demo Shop"}"
language = "{language}"

[printer]
device = "dir:{root / "printer"}"
profile = "xp80"

[database]
url = "sqlite:///{root / "pos.sqlite3"}"

[till]
host = "127.0.0.1"
port = {till_port}
data_dir = "{root}"
show_code_url = true  # the weixin:// link under the QR, to paste into the customer's phone page

[listener]
host = "127.0.0.1"
port = {listener_port}

{products}"""


@contextmanager
def exclusive(directory: Path) -> Iterator[None]:
    """Hold ``<dir>/.lock`` while the demo runs: two demos on one folder would share the ledger and
    the printer folder and print each other's slips."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w", encoding="utf-8") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DemoBusy(f"another pos demo is running in {directory}") from None
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        yield


class DemoBusy(RuntimeError):
    pass


def write_demo_config(directory: Path, **ports: Any) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "pos.toml"
    write_secret_file(path, demo_config_text(directory, **ports))  # it holds the API key: 0600
    return path


def set_demo_manager_password(path: Path) -> str:
    """A fresh manager password for this run, its hash written into the demo's pos.toml; returns it."""
    import secrets

    from pos.manager.cli import write_password_hash
    from pos.passwords import hash_password

    password = secrets.token_urlsafe(9)
    write_password_hash(path, hash_password(password))
    return password


DEMO_CASHIERS = ("收银员1", "Cashier 1")


def add_demo_cashier(path: Path, language: str) -> tuple[str, str]:
    """``--cashiers``: one cashier with a fresh PIN in the ledger, and an API token in pos.toml (0600)
    for ``pos sale`` and the scripted shift; returns (name, PIN)."""
    import secrets

    from pos.ledger import open_ledger
    from pos.ledger.cashiers import set_cashier
    from pos.till.signin import hash_pin

    token = secrets.token_urlsafe(24)
    text = path.read_text(encoding="utf-8").replace("[till]\n", f'[till]\napi_token = "{token}"\n', 1)
    write_secret_file(path, text)  # the token is a secret
    config = pos_config.load(path)
    name, pin = DEMO_CASHIERS[0 if language == "zh-CN" else 1], f"{secrets.randbelow(10**4):04d}"
    with open_ledger(config.database.url, timezone=config.store.timezone) as ledger:
        set_cashier(ledger, name, hash_pin(pin))
    return name, pin


def remove_demo_cashiers(path: Path) -> None:
    """Without ``--cashiers`` the demo is one kiosk again: the cashiers an earlier ``--cashiers`` run
    added are removed (cashiers someone added with ``pos cashier add`` stay, and sign in)."""
    from pos.ledger import open_ledger
    from pos.ledger.cashiers import remove_cashier

    config = pos_config.load(path)
    with open_ledger(config.database.url, timezone=config.store.timezone) as ledger:
        for name in DEMO_CASHIERS:
            remove_cashier(ledger, name)


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
        from pos.sandbox.app import create_app as sim_app
        from pos.sandbox.settings import SimSettings
        from pos.sandbox.tls import ClientCertGate, PlainPortGate, make_pki, server_context
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
        settings = SimSettings(
            appid=config.merchant.appid,
            mch_id=config.merchant.mch_id,
            api_key=config.merchant.api_key,
            merchant_name=config.store.name,
            callback_url=f"http://127.0.0.1:{listener_port}/wechatpay/native-callback",
            state_file=str(directory / "sim.json"),
        )
        sim_application = sim_app(settings=settings)
        sim = sim_application.extensions["pos_sim"]
        stack.callback(sim.close)
        if api == "v3":  # the simulator's v3 keys (new each run) into 0600 files named by pos.toml
            from pos.sandbox.v3files import use_v3_in_config

            use_v3_in_config(config_path, directory.resolve() / "v3", sim.v3.identity.public())
            config = pos_config.load(config_path)
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
            sim_url=sim_server.base_url,
            manager_password=manager_password,
            cashier=cashier,
        )


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


def log_to_file(directory: Path, *, verbose: bool) -> Path:
    """Send the services' key=value log lines to ``<dir>/pos.log``; keep the console for the banner,
    the summary and warnings (everything with ``pos -v demo``)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "pos.log"
    root = logging.getLogger()
    if not verbose:
        for handler in root.handlers:
            handler.setLevel(logging.WARNING)
    file_handler = logging.FileHandler(path, encoding="utf-8")
    file_handler.setFormatter(
        logging.Formatter("%(asctime)s level=%(levelname)s logger=%(name)s %(message)s")
    )
    root.addHandler(file_handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    return path


def run(args: argparse.Namespace) -> int:
    directory = Path(args.dir)
    for name in ("till_port", "listener_port", "sim_port", "sim_tls_port"):
        port = getattr(args, name)
        if not 0 <= port <= 65535:
            print(f"pos demo: --{name.replace('_', '-')} must be 0..65535, not {port}")
            return 2
    try:
        with running_shop(
            directory,
            till_port=args.till_port,
            listener_port=args.listener_port,
            sim_port=args.sim_port,
            sim_tls_port=args.sim_tls_port,
            language=args.language,
            cashiers=args.cashiers,
            api=args.api,
        ) as shop:
            log_path = log_to_file(directory, verbose=getattr(args, "verbose", False))
            print(banner(shop), flush=True)
            print(f"  log                 {log_path}", flush=True)
            if args.auto:
                return auto_shift(shop)
            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            try:
                while not stop.wait(0.5):
                    pass
            except KeyboardInterrupt:
                pass
            print("pos demo: stopping", flush=True)
            return 0
    except DemoBusy as exc:
        print(f"pos demo: {exc}; stop it or use --dir")
        return 1
    except OSError as exc:
        print(f"pos demo: cannot start: {exc.strerror or exc} (is another demo running on these ports?)")
        return 1


# -- the scripted shift --------------------------------------------------------------------------


@dataclass
class Step:
    title: str
    sale: dict[str, Any]
    expected: str


class ShiftFailed(RuntimeError):
    pass


def auto_shift(shop: DemoShop, *, timeout: float = 30.0) -> int:
    """Five sales, each ending a different way, through the same HTTP API the cashier's page uses."""
    import requests

    http = requests.Session()
    if shop.config.till.api_token:  # --cashiers: the till wants the token from scripts
        http.headers["Authorization"] = f"Bearer {shop.config.till.api_token}"
    api = shop.till_url + "/api"
    simulator = shop.sim_url + "/_sim"

    def ring_up(body: dict[str, Any]) -> dict[str, Any]:
        response = http.post(api + "/sales", json=body, timeout=15)
        if response.status_code != 201:
            raise ShiftFailed(f"ring-up refused: {response.status_code} {response.text}")
        sale = response.json()
        if sale["state"] != "AWAITING_PAYMENT":
            raise ShiftFailed(f"sale {sale['out_trade_no']} did not reach WeChat: {sale}")
        return sale

    def pay(sale: dict[str, Any], notify: bool) -> None:
        response = http.post(
            simulator + "/pay", json={"code_url": sale["code_url"], "notify": notify}, timeout=15
        )
        response.raise_for_status()

    def wait_for(sale: dict[str, Any], state: str) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            current = http.get(f"{api}/sales/{sale['id']}", timeout=15).json()
            if current["state"] == state:
                return current
            if time.monotonic() > deadline:
                raise ShiftFailed(f"sale {sale['out_trade_no']} is {current['state']}, expected {state}")
            time.sleep(0.1)

    already_printed = len(_printed_jobs(shop))
    steps: list[Step] = []
    ttl_seconds = shop.config.till.order_ttl * 60
    try:
        sale = ring_up({"items": [{"product_id": "LATTE", "qty": 1}, {"product_id": "TEA", "qty": 2}]})
        pay(sale, notify=True)
        steps.append(Step("paid, WeChat's notice reached the listener", wait_for(sale, "PAID"), "PAID"))
        _refund(shop, sale["id"], 1250)
        refunded = http.get(f"{api}/sales/{sale['id']}", timeout=15).json()
        steps.append(Step("then 12.50 refunded by the manager", refunded, "PARTLY_REFUNDED"))

        sale = ring_up({"amount": "9.90", "body": "零钱测试"})
        pay(sale, notify=False)
        steps.append(Step("paid, no notice: the till's own query found it", wait_for(sale, "PAID"), "PAID"))

        sale = ring_up({"items": [{"product_id": "CAKE", "qty": 1}]})
        voided = http.post(f"{api}/sales/{sale['id']}/void", json={}, timeout=15).json()
        log.info("demo_void_requested", state=voided.get("state"))
        shop.advance(5 * 60 + 1)  # WeChat lets an order be closed 5 minutes after it was made
        steps.append(Step("voided by the cashier, closed at WeChat", wait_for(sale, "VOIDED"), "VOIDED"))

        sale = ring_up({"items": [{"product_id": "WATER", "qty": 3}]})
        shop.advance(ttl_seconds + 60)  # the customer walked away; the deadline passes
        steps.append(Step("not paid before the deadline, closed", wait_for(sale, "EXPIRED"), "EXPIRED"))

        # Shelf labels (mode one) exist in v2 only; a v3 shift has none.
        label = _scan_label(shop, http, simulator) if shop.config.merchant.api == "v2" else None
        if label is not None:
            steps.append(Step("mode one: a shelf label scanned and paid", wait_for(label, "PAID"), "PAID"))
    except (ShiftFailed, requests.RequestException) as exc:
        print(f"pos demo --auto: FAILED: {exc}", flush=True)
        return 1

    printed = _wait_for_printer(shop, timeout)
    printed["jobs"] = printed["jobs"][already_printed:]
    reconciled = _reconcile_today(shop)
    print(_summary(steps, printed), flush=True)
    print(f"  reconciliation with the simulator's bill: {reconciled.message}", flush=True)
    ok = (
        all(step.sale["state"] == step.expected for step in steps)
        and printed["queued"] == 0
        and reconciled.status == "matched"
    )
    return 0 if ok else 1


def _reconcile_today(shop: DemoShop) -> Any:
    """The manager's morning check, run on the shift just made: the simulator serves today's bill."""
    from pos.ledger import business_date
    from pos.reconcile import reconcile_day

    today = business_date(shop.now(), shop.config.store.zone)
    return reconcile_day(shop.till.ledger, shop.till.client, shop.config, today, now=shop.now())


def _refund(shop: DemoShop, sale_id: int, refund_fee: int) -> None:
    """The manager refunds part of a sale (as the day view's refund form does), over the
    simulator's HTTPS port with the merchant certificate."""
    from pos.orders.refunds import RefundError, RefundService

    try:
        RefundService(shop.till.ledger, shop.till.client, shop.config).refund(
            sale_id, refund_fee, reason="demo", by="demo"
        )
    except RefundError as exc:
        raise ShiftFailed(f"refund refused: {exc}") from None


def _scan_label(shop: DemoShop, http: requests.Session, simulator: str) -> dict[str, Any] | None:
    """The customer scans a shelf label (mode one): WeChat asks the listener, then the customer pays."""
    from pos.wechatpay.modeone import bizpayurl

    merchant = shop.config.merchant
    url = bizpayurl("LATTE", appid=merchant.appid, mch_id=merchant.mch_id, api_key=merchant.api_key)
    response = http.post(simulator + "/scan", json={"url": url, "notify": True}, timeout=15)
    if response.status_code != 200:
        raise ShiftFailed(f"mode-one scan refused: {response.status_code} {response.text}")
    out_trade_no = response.json()["out_trade_no"]
    sale = shop.till.ledger.sale_by_out_trade_no(out_trade_no)
    return {"id": sale.id, "out_trade_no": out_trade_no}


def _wait_for_printer(shop: DemoShop, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status = shop.till.spooler.status()
        if (status.queued == 0 and status.current_job is None) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    return {"queued": status.queued, "jobs": _printed_jobs(shop)}


def _printed_jobs(shop: DemoShop) -> list[dict[str, Any]]:
    """The virtual printer's log: one JSON line per job written."""
    jobs_file = Path(shop.config.printer.device[4:]) / "jobs.jsonl"
    lines = jobs_file.read_text(encoding="utf-8").splitlines() if jobs_file.exists() else []
    return [json.loads(line) for line in lines]


def _summary(steps: list[Step], printed: dict[str, Any]) -> str:
    rows = ["", "shift summary:"]
    for step in steps:
        mark = "ok " if step.sale["state"] == step.expected else "BAD"
        rows.append(f"  {mark} {step.sale['out_trade_no']:<22} {step.sale['state']:<16} {step.title}")
    kinds: dict[str, int] = {}
    for job in printed["jobs"]:
        kinds[job["kind"]] = kinds.get(job["kind"], 0) + 1
    printed_text = ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items())) or "nothing"
    rows.append(f"  printer: {printed_text}; {printed['queued']} still queued")
    return "\n".join(rows)
