"""The one TOML configuration file, checked key by key.

Where the file comes from, in order: ``--config PATH``, the ``POS_CONFIG``
environment variable, then ``$XDG_CONFIG_HOME/pos/pos.toml`` (``~/.config/pos``)
and ``/etc/pos/pos.toml``. With none of them, the embedded defaults run the
demo against the local simulator.

Secrets never have to sit in the file: the API key and the manager's password
hash may come from the environment (``POS_API_KEY``,
``POS_MANAGER_PASSWORD_HASH``, ``POS_TILL_API_TOKEN``) or from systemd credentials
(``$CREDENTIALS_DIRECTORY/api_key``, ``.../manager_password_hash``, ``.../till_api_token``).

A wrong file is refused with the file, the key and what is wrong, e.g.
``pos.toml: [merchant] sign_type must be one of MD5, HMAC-SHA256, not 'HMAC_SHA256'``.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

REAL_GATEWAY = "https://api.mch.weixin.qq.com"
SIGN_TYPES = ("MD5", "HMAC-SHA256")

# The sandbox identity the demo and the simulator agree on. The key is the one
# from WeChat's own signature example, so a person can check signatures by hand.
DEMO_APPID = "wx2421b1c4370ec43b"
DEMO_MCH_ID = "10000100"
DEMO_API_KEY = "192006250b4c09247ec02edce69f6a2d"
MIN_API_TOKEN = 16  # the till's bearer token: long enough that guessing it is hopeless
_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$")


class ConfigError(ValueError):
    """The configuration is wrong; the message names the file, the key and the fix."""


@dataclass(frozen=True)
class MerchantConfig:
    """Who we are at WeChat Pay, and where WeChat Pay is."""

    appid: str = DEMO_APPID
    mch_id: str = DEMO_MCH_ID
    api_key: str = DEMO_API_KEY
    sign_type: str = "MD5"
    notify_url: str = "http://127.0.0.1:8701/wechatpay/notify"
    # Where WeChat sends refund notices; "" = beside notify_url (.../wechatpay/refund-notify).
    refund_notify_url: str = ""
    api_base: str = REAL_GATEWAY
    # The merchant API client certificate, needed for refunds only.
    cert_file: str = ""
    key_file: str = ""
    # A CA bundle to trust for api_base instead of the system's (a private gateway, the demo's simulator).
    ca_file: str = ""
    timeout: float = 10.0
    # The address WeChat sees in spbill_create_ip; never looked up by DNS at order time.
    client_ip: str = "127.0.0.1"


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
    # A TrueType/OpenType font with CJK glyphs, to print Chinese as raster on printers without a Chinese font.
    raster_font: str = ""
    status_timeout: float = 0.5


@dataclass(frozen=True)
class DatabaseConfig:
    """The ledger: a SQLite file by default, a PostgreSQL URL when tills share one."""

    url: str = "sqlite:///pos-demo/pos.sqlite3"


@dataclass(frozen=True)
class TillConfig:
    """The cashier-side daemon."""

    host: str = "127.0.0.1"
    port: int = 8700
    lane: str = "01"
    cashier: str = ""
    order_ttl: int = 15  # minutes a customer has to pay; never under 5
    data_dir: str = "pos-demo"
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
    session_minutes: int = 30
    max_failures: int = 5


@dataclass(frozen=True)
class Product:
    """One catalogue entry: tapped on the cashier's page, scanned by barcode, or a mode-one label."""

    id: str
    name: str
    price: str
    barcode: str = ""


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

    def replace(self, **sections: Any) -> Config:
        """A copy with whole sections swapped, e.g. ``cfg.replace(merchant=...)``."""
        return dataclasses.replace(self, **sections)


_SECTIONS: dict[str, type] = {
    "merchant": MerchantConfig,
    "store": StoreConfig,
    "printer": PrinterConfig,
    "database": DatabaseConfig,
    "till": TillConfig,
    "listener": ListenerConfig,
    "manager": ManagerConfig,
}

# Extra checks per key: return an error message, or None when the value is fine.
_CHECKS: dict[tuple[str, str], Callable[[Any], str | None]] = {
    ("merchant", "sign_type"): lambda v: (
        None if v in SIGN_TYPES else f"must be one of {', '.join(SIGN_TYPES)}, not {v!r}"
    ),
    ("merchant", "api_base"): lambda v: (
        None if v.startswith(("http://", "https://")) else f"must be an http(s) URL, not {v!r}"
    ),
    ("merchant", "notify_url"): lambda v: (
        None
        if v.startswith(("http://", "https://")) and "?" not in v
        else f"must be an absolute http(s) URL without a query string, not {v!r}"
    ),
    ("merchant", "refund_notify_url"): lambda v: (
        None
        if v == "" or (v.startswith(("http://", "https://")) and "?" not in v)
        else f"must be empty or an absolute http(s) URL without a query string, not {v!r}"
    ),
    ("merchant", "timeout"): lambda v: None if v > 0 else "must be more than 0 seconds",
    ("store", "timezone"): lambda v: _check_zone(v),
    ("store", "language"): lambda v: None if v in ("zh-CN", "en") else f"must be zh-CN or en, not {v!r}",
    ("till", "order_ttl"): lambda v: (
        None
        if 5 <= v <= 120
        else f"must be between 5 and 120 minutes (WeChat closes orders only after 5), not {v}"
    ),
    ("till", "port"): lambda v: _check_port(v),
    ("till", "api_token"): lambda v: (
        None if v == "" or len(v) >= MIN_API_TOKEN else f"must have at least {MIN_API_TOKEN} characters"
    ),
    ("till", "cashier_idle_minutes"): lambda v: None if 1 <= v <= 720 else f"must be 1..720 minutes, not {v}",
    ("till", "allowed_hosts"): lambda v: next(
        (f"has {h!r}, which is not a host name or host:port" for h in v if not _HOST.match(h)), None
    ),
    ("listener", "port"): lambda v: _check_port(v),
    ("listener", "max_body"): lambda v: None if 1024 <= v <= 1 << 20 else "must be 1024..1048576",
    ("listener", "workers"): lambda v: None if 1 <= v <= 16 else f"must be 1..16 processes, not {v}",
}


def _check_zone(name: str) -> str | None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return f"is not a known time zone: {name!r} (e.g. Asia/Shanghai)"
    return None


def _check_port(port: int) -> str | None:
    return None if 0 <= port <= 65535 else f"must be a TCP port 0..65535, not {port}"


def _coerce(where: str, expected: Any, value: Any) -> Any:
    """Check one TOML value against a dataclass field type; ints are accepted for floats."""
    if expected is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, not {type(value).__name__}")
        return value
    if expected is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false")
        return value
    if expected is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be a whole number")
        return value
    if expected is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where} must be a number")
        return float(value)
    if expected == tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where} must be a list of strings")
        return tuple(value)
    raise ConfigError(f"{where} has an unsupported type")  # pragma: no cover


def _build(cls: type, section: str, data: Mapping[str, Any], source: str) -> Any:
    hints = get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(
            f"{source}: [{section}] has no key {unknown[0]!r}; known keys: {', '.join(sorted(names))}"
        )
    values = {}
    for key, raw in data.items():
        where = f"{source}: [{section}] {key}"
        value = _coerce(where, hints[key], raw)
        check = _CHECKS.get((section, key))
        problem = check(value) if check else None
        if problem:
            raise ConfigError(f"{where} {problem}")
        values[key] = value
    try:
        return cls(**values)
    except TypeError as exc:
        missing = [
            f.name
            for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING
            and f.name not in values
        ]
        raise ConfigError(f"{source}: [{section}] needs {', '.join(missing)}") from exc


def _build_products(raw: Any, source: str) -> tuple[Product, ...]:
    from pos.money import MoneyError, parse_yuan

    if not isinstance(raw, list):
        raise ConfigError(f"{source}: products must be written as [[products]] tables")
    products = []
    seen: set[str] = set()
    for index, entry in enumerate(raw, start=1):
        label = f"[[products]] #{index}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{source}: {label} must be a table")
        product = _build(Product, f"products #{index}", entry, source)
        try:
            parse_yuan(product.price)
        except MoneyError as exc:
            raise ConfigError(f"{source}: {label} price: {exc}") from None
        if product.id in seen:
            raise ConfigError(f"{source}: {label} id {product.id!r} is used twice")
        seen.add(product.id)
        products.append(product)
    return tuple(products)


def _read_secret(name: str, env: Mapping[str, str]) -> str | None:
    credentials = env.get("CREDENTIALS_DIRECTORY")
    if credentials:
        path = Path(credentials) / name
        if path.is_file():
            return path.read_text(encoding="utf-8").strip()
    return env.get(f"POS_{name.upper()}")


def from_mapping(
    data: Mapping[str, Any], source: str = "<config>", env: Mapping[str, str] | None = None
) -> Config:
    """Build a checked Config from parsed TOML; secrets from ``env`` override the file."""
    env = os.environ if env is None else env
    unknown = sorted(set(data) - set(_SECTIONS) - {"products"})
    if unknown:
        raise ConfigError(
            f"{source}: unknown section [{unknown[0]}]; known sections: "
            f"{', '.join([*sorted(_SECTIONS), 'products'])}"
        )
    sections: dict[str, Any] = {}
    for name, cls in _SECTIONS.items():
        raw = data.get(name, {})
        if not isinstance(raw, dict):
            raise ConfigError(f"{source}: {name} must be a [{name}] table")
        sections[name] = _build(cls, name, raw, source)
    api_key = _read_secret("api_key", env)
    if api_key:
        sections["merchant"] = dataclasses.replace(sections["merchant"], api_key=api_key)
    password_hash = _read_secret("manager_password_hash", env)
    if password_hash:
        sections["manager"] = dataclasses.replace(sections["manager"], password_hash=password_hash)
    api_token = _read_secret("till_api_token", env)
    if api_token:
        if len(api_token) < MIN_API_TOKEN:
            raise ConfigError(f"till_api_token must have at least {MIN_API_TOKEN} characters")
        sections["till"] = dataclasses.replace(sections["till"], api_token=api_token)
    products = _build_products(data.get("products", []), source)
    return Config(**sections, products=products, source=source)


def default_paths(env: Mapping[str, str] | None = None) -> list[Path]:
    """Where a config file is looked for when none is named."""
    env = os.environ if env is None else env
    config_home = Path(env.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return [config_home / "pos" / "pos.toml", Path("/etc/pos/pos.toml")]


def load(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Load the config from ``path``, ``POS_CONFIG``, or the platform places, else defaults."""
    env = os.environ if env is None else env
    chosen = Path(path) if path else Path(env["POS_CONFIG"]) if env.get("POS_CONFIG") else None
    if chosen is None:
        chosen = next((p for p in default_paths(env) if p.is_file()), None)
        if chosen is None:
            return from_mapping({}, "<defaults>", env)
    try:
        text = chosen.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{chosen}: no such config file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{chosen}: not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"{chosen}: cannot read ({exc.strerror})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{chosen}: not valid TOML: {exc}") from None
    return from_mapping(data, str(chosen), env)
