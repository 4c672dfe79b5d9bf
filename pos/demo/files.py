"""The demo's files: its pos.toml (the sandbox merchant, loopback URLs, a ``dir:`` printer, a few
products), the lock that keeps two demos off one folder, the manager's password for this run, and
the ``--cashiers`` cashier."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pos import config as pos_config
from pos.config import DEMO_API_KEY, DEMO_APPID, DEMO_MCH_ID, write_secret_file

DEMO_PRODUCTS = (
    ("LATTE", "拿铁", "18.00", "6901234567892"),
    ("TEA", "柠檬茶", "12.50", "6920000000017"),
    ("CAKE", "芝士蛋糕", "26.00", ""),
    ("WATER", "矿泉水", "2.00", "6921168509256"),
)


def demo_config_text(
    directory: Path,
    *,
    till_port: int,
    listener_port: int,
    sim_port: int,
    sim_tls_port: int,
    language: str,
    store: str = "S01",
    store_name: str = "",
    lane: str = "01",
    database_url: str = "",
    printer: Path | None = None,
) -> str:
    """The demo's pos.toml: the sandbox merchant, loopback URLs, a dir: printer, a few products.

    The till talks to the simulator's HTTPS port, with the throwaway CA and merchant certificate
    in ``<dir>/certs``, as it would talk to WeChat: refunds need the client certificate. The chain
    demo (:mod:`pos.demo.chain`) writes one per till: its store, lane, ledger and printer.
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
id = "{store}"
name = "{store_name or ("演示小店" if language == "zh-CN" else "Demo Shop")}"
language = "{language}"

[printer]
device = "dir:{printer or root / "printer"}"
profile = "xp80"

[database]
url = "{database_url or f"sqlite:///{root / 'pos.sqlite3'}"}"

[till]
host = "127.0.0.1"
port = {till_port}
lane = "{lane}"
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


def set_demo_manager_password(*paths: Path) -> str:
    """A fresh manager password for this run, its hash written into the demo's pos.toml (the chain
    demo: into every till's); returns it."""
    import secrets

    from pos.manager.cli import write_password_hash
    from pos.passwords import hash_password

    password = secrets.token_urlsafe(9)
    digest = hash_password(password)
    for path in paths:
        write_password_hash(path, digest)
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
