"""The configuration's sections as frozen dataclasses, with their defaults (the embedded defaults run
the demo against the local simulator), and the one error every configuration problem raises.

Reading and checking a TOML file into these is :mod:`pos.config.reading`; :mod:`pos.config`
puts the whole file together.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

REAL_GATEWAY = "https://api.mch.weixin.qq.com"
SIMULATOR = "http://127.0.0.1:8702"  # ``pos sim``'s default address: where the embedded defaults point
API_KEY_LENGTH = 32  # WeChat Pay's v2 API key, as set in the merchant platform
SIGN_TYPES = ("MD5", "HMAC-SHA256")

# The sandbox identity the demo and the simulator agree on. The key is the one
# from WeChat's own signature example, so a person can check signatures by hand.
DEMO_APPID = "wx2421b1c4370ec43b"
DEMO_MCH_ID = "10000100"
DEMO_API_KEY = "192006250b4c09247ec02edce69f6a2d"
MIN_API_TOKEN = 16  # the till's bearer token: long enough that guessing it is hopeless
HOST_PATTERN = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$")


class ConfigError(ValueError):
    """The configuration is wrong; the message names the file, the key and the fix."""


@dataclass(frozen=True)
class MerchantConfig:
    """Who we are at WeChat Pay, and where WeChat Pay is."""

    appid: str = DEMO_APPID
    mch_id: str = DEMO_MCH_ID
    api_key: str = DEMO_API_KEY
    # A file holding the API key (one line), mode 0600 or 0400; instead of api_key in this file.
    api_key_file: str = ""
    sign_type: str = "MD5"
    notify_url: str = "http://127.0.0.1:8701/wechatpay/notify"
    # Where WeChat sends refund notices; "" = beside notify_url (.../wechatpay/refund-notify).
    refund_notify_url: str = ""
    # The local simulator: the sandbox identity above must never reach WeChat's real gateway.
    api_base: str = SIMULATOR
    # The merchant API client certificate, needed for refunds only.
    cert_file: str = ""
    key_file: str = ""
    # A CA bundle to trust for api_base instead of the system's (a private gateway, the demo's simulator).
    ca_file: str = ""
    timeout: float = 10.0
    # The address WeChat sees in spbill_create_ip; never looked up by DNS at order time.
    client_ip: str = "127.0.0.1"
    # Which WeChat Pay API the till speaks: "v2" (XML, the API key) or "v3" (JSON, RSA keys; see
    # pos.config.v3 for the keys below, all unused on v2). Mode one (shelf labels) is v2 only.
    api: str = "v2"
    apiv3_key: str = field(default="", repr=False)  # better in POS_APIV3_KEY or the credential apiv3_key
    apiv3_key_file: str = ""
    private_key_file: str = ""  # apiclient_key.pem, or POS_MERCHANT_PRIVATE_KEY, or the credential
    # The PEM itself, filled from the credential, the environment or private_key_file; never in repr().
    private_key: str = field(default="", repr=False)
    merchant_serial_no: str = ""
    wechatpay_public_key_file: str = ""
    wechatpay_public_key_id: str = ""
    wechatpay_public_key: str = ""  # the PEM, filled from wechatpay_public_key_file
    # Certificate mode instead of the public key: where downloaded platform certificates are kept.
    platform_certificates_dir: str = ""


@dataclass(frozen=True)
class StoreConfig:
    """The shop as it appears on paper and in the business day."""

    id: str = "S01"
    name: str = "演示小店"
    address: str = ""
    phone: str = ""
    timezone: str = "Asia/Shanghai"
    language: str = "zh-CN"
    footer: str = "谢谢惠顾"
    # out_trade_no prefixes of other sales channels on the same mch_id (reconciliation).
    other_channels: tuple[str, ...] = ()

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class PrinterConfig:
    """Which printer, how it is reached, and how it behaves."""

    device: str = "dir:pos-demo/printer"
    profile: str = "xp80"
    profiles_dir: str = ""
    # A TrueType/OpenType font with CJK glyphs, to print Chinese as raster on printers without a Chinese
    # font and to draw previews; empty: an installed CJK font, else the bundled one (pos.printing.fonts).
    raster_font: str = ""
    status_timeout: float = 0.5


@dataclass(frozen=True)
class DatabaseConfig:
    """The ledger: a SQLite file by default, a PostgreSQL URL when tills share one."""

    url: str = "sqlite:///pos-demo/pos.sqlite3"
    # PostgreSQL only: connections each process keeps open to the server, and how many more it may
    # open while busy (SQLAlchemy's pool). A chain's server must allow every till and listener's
    # pool_size + max_overflow (+1 for a till's wake-up): lower these, or put PgBouncer (session
    # mode) in front, when many tills share a server. SQLite ignores both.
    pool_size: int = 5
    max_overflow: int = 10

    @property
    def pool(self) -> dict[str, int]:
        """The pool settings as :func:`pos.ledger.open_ledger`'s keyword arguments."""
        return {"pool_size": self.pool_size, "max_overflow": self.max_overflow}


@dataclass(frozen=True)
class TillConfig:
    """The cashier-side daemon."""

    host: str = "127.0.0.1"
    port: int = 8700
    lane: str = "01"
    cashier: str = ""
    order_ttl: int = 15  # minutes a customer has to pay; never under 5
    data_dir: str = "pos-demo"
    # Show the weixin:// link under the on-screen QR as text, to paste into the simulator's phone
    # page (`pos demo` sets it); a real shop's customers scan, so it is off by default.
    show_code_url: bool = False
    # Host names (optionally name:port) the till answers besides the loopback names and the address
    # it is bound to: a browser's Host header must be one of them (DNS rebinding is refused).
    allowed_hosts: tuple[str, ...] = ()
    # The bearer token scripts and `pos sale` send (Authorization: Bearer ...); better kept in
    # POS_TILL_API_TOKEN or the systemd credential till_api_token than in this file.
    api_token: str = ""
    # A signed-in cashier is asked for the PIN again after this many minutes without a tap.
    cashier_idle_minutes: int = 10


@dataclass(frozen=True)
class ListenerConfig:
    """The internet-facing notification endpoint."""

    host: str = "0.0.0.0"
    port: int = 8701
    max_body: int = 65536
    workers: int = 1  # processes serving the port (see pos.listener.workers); 2 uses both cores


@dataclass(frozen=True)
class ManagerConfig:
    """The manager's pages."""

    password_hash: str = ""
    chain_password_hash: str = ""  # signs in for every store of the ledger (pos.manager.scope)
    session_minutes: int = 30
    max_failures: int = 5


@dataclass(frozen=True)
class Product:
    """One catalogue entry: tapped on the cashier's page, scanned by barcode, or a mode-one label."""

    id: str
    name: str
    price: str
    barcode: str = ""


def product_key(product_id: str) -> str:
    """How product ids are compared: without regard to case, so ``pos label latte`` finds ``LATTE``
    (people type ids; a README writes them lowercase). Barcodes are not ids: they match exactly."""
    return product_id.casefold()


@dataclass(frozen=True)
class Config:
    merchant: MerchantConfig = field(default_factory=MerchantConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    printer: PrinterConfig = field(default_factory=PrinterConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    till: TillConfig = field(default_factory=TillConfig)
    listener: ListenerConfig = field(default_factory=ListenerConfig)
    manager: ManagerConfig = field(default_factory=ManagerConfig)
    products: tuple[Product, ...] = ()
    source: str = "<defaults>"

    def find_product(self, product_id: str) -> Product | None:
        """The ``[[products]]`` entry whose id is ``product_id`` in any case, or None."""
        key = product_key(product_id)
        return next((p for p in self.products if product_key(p.id) == key), None)

    def replace(self, **sections: Any) -> Config:
        """A copy with whole sections swapped, e.g. ``cfg.replace(merchant=...)``."""
        return dataclasses.replace(self, **sections)
