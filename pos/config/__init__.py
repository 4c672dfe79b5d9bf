"""The one TOML configuration file, checked key by key.

Where the file comes from, in order: ``--config PATH``, the ``POS_CONFIG``
environment variable, then ``$XDG_CONFIG_HOME/pos/pos.toml`` (``~/.config/pos``)
and ``/etc/pos/pos.toml``. With none of them, the embedded defaults run the
demo against the local simulator (``http://127.0.0.1:8702``): the sandbox merchant's identity
is refused with any ``api_base`` that is not loopback, and so is an API key that is not
32 characters.

Secrets never have to sit in the file: the API key and the manager's password
hash may come from the environment (``POS_API_KEY``,
``POS_MANAGER_PASSWORD_HASH``, ``POS_TILL_API_TOKEN``) or from systemd credentials
(``$CREDENTIALS_DIRECTORY/api_key``, ``.../manager_password_hash``, ``.../till_api_token``). The API key
may also sit in a file of its own, named by ``[merchant] api_key_file`` (what
``pos init`` writes): that file must be readable by its owner only (0600 or
0400), so a key is never left where another user of the machine can read it.
Order, first found wins: the credential, the environment, ``api_key_file``,
``api_key``.

A wrong file is refused with the file, the key and what is wrong, e.g.
``pos.toml: [merchant] sign_type must be one of MD5, HMAC-SHA256, not 'HMAC_SHA256'``.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import tempfile
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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
_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$")


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
    ("merchant", "api"): lambda v: None if v in ("v2", "v3") else f'must be "v2" or "v3", not {v!r}',
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
    seen: dict[str, int] = {}  # product_key(id) -> the number of the entry that has it
    for index, entry in enumerate(raw, start=1):
        label = f"[[products]] #{index}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{source}: {label} must be a table")
        product = _build(Product, f"products #{index}", entry, source)
        try:
            parse_yuan(product.price)
        except MoneyError as exc:
            raise ConfigError(f"{source}: {label} price: {exc}") from None
        key = product_key(product.id)
        if key in seen:
            first = products[seen[key] - 1].id
            if first == product.id:
                raise ConfigError(f"{source}: {label} id {product.id!r} is used twice")
            raise ConfigError(
                f"{source}: {label} id {product.id!r} differs from [[products]] #{seen[key]} id {first!r} "
                "only in case; product ids match without regard to case, so give one of them another id"
            )
        seen[key] = index
        products.append(product)
    return tuple(products)


def read_secret(name: str, env: Mapping[str, str]) -> str | None:
    credentials = env.get("CREDENTIALS_DIRECTORY")
    if credentials:
        path = Path(credentials) / name
        if path.is_file():
            return path.read_text(encoding="utf-8").strip()
    return env.get(f"POS_{name.upper()}")


def read_key_file(path: str, where: str) -> str:
    """The key in ``path``, refused (naming ``where``) unless only its owner may read it.

    Why the mode is checked, not only the content: a key in a world-readable file is a key
    every account on the kiosk (a web browser's sandbox escape, a guest login) can use to
    refund the shop's takings; ssh refuses private keys for the same reason.
    """
    file = Path(path).expanduser()
    try:
        mode = file.stat().st_mode
        text = file.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise ConfigError(f"{where}: no such file {str(file)!r}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{where}: {str(file)!r} is not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read {str(file)!r} ({exc.strerror})") from None
    if mode & 0o077:
        raise ConfigError(
            f"{where}: {str(file)!r} may be read by other users (mode {mode & 0o777:04o}); "
            f"run: chmod 600 {file}"
        )
    if not text:
        raise ConfigError(f"{where}: {str(file)!r} is empty")
    return text


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
    merchant_raw = data.get("merchant", {})
    if "api_key" in merchant_raw and "api_key_file" in merchant_raw:
        raise ConfigError(f"{source}: [merchant] has both api_key and api_key_file; keep one (the file)")
    api_key = read_secret("api_key", env)
    if not api_key and sections["merchant"].api_key_file:
        api_key = read_key_file(sections["merchant"].api_key_file, f"{source}: [merchant] api_key_file")
    if api_key:
        sections["merchant"] = dataclasses.replace(sections["merchant"], api_key=api_key)
    password_hash = read_secret("manager_password_hash", env)
    if password_hash:
        sections["manager"] = dataclasses.replace(sections["manager"], password_hash=password_hash)
    if chain_hash := read_secret("manager_chain_password_hash", env):
        sections["manager"] = dataclasses.replace(sections["manager"], chain_password_hash=chain_hash)
    api_token = read_secret("till_api_token", env)
    if api_token:
        if len(api_token) < MIN_API_TOKEN:
            raise ConfigError(f"till_api_token must have at least {MIN_API_TOKEN} characters")
        sections["till"] = dataclasses.replace(sections["till"], api_token=api_token)
    if sections["merchant"].api == "v3":
        from pos.config.v3 import resolve_v3

        sections["merchant"] = resolve_v3(sections["merchant"], merchant_raw, source, env)
    _check_gateway_identity(sections["merchant"], source)
    products = _build_products(data.get("products", []), source)
    return Config(**sections, products=products, source=source)


def is_loopback_url(url: str) -> bool:
    """True when ``url`` names this machine (127.0.0.0/8, ::1, localhost): the simulator's place."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_gateway_identity(merchant: MerchantConfig, source: str) -> None:
    """Refuse the sandbox merchant, or a key WeChat cannot have issued, anywhere but on loopback.

    The sandbox identity is public (it is in this file and in WeChat's own signature example):
    sent to the real gateway it would fail at the first sale, or, worse, sign for someone else.
    The message names the setting and never repeats a key.
    """
    if is_loopback_url(merchant.api_base):
        return
    where = f"{source}: [merchant]"
    fix = (
        f"set your own appid, mch_id and api_key from WeChat Pay's merchant platform, "
        f"or point api_base at the simulator ({SIMULATOR})"
    )
    sandboxes = [("appid", DEMO_APPID), ("mch_id", DEMO_MCH_ID)]
    if merchant.api == "v2":  # v3's calls never use the v2 key (mode one still does: labels stay v2)
        sandboxes.append(("api_key", DEMO_API_KEY))
    for key, sandbox in sandboxes:
        if getattr(merchant, key) == sandbox:
            raise ConfigError(
                f"{where} {key} is the sandbox merchant's, but api_base {merchant.api_base!r} is not "
                f"the local simulator: {fix}"
            )
    if merchant.api == "v3":
        return  # the v2 API key is not used for v3's calls; pos.config.v3 checked v3's own keys
    if len(merchant.api_key) != API_KEY_LENGTH:
        raise ConfigError(
            f"{where} api_key (or POS_API_KEY, or the systemd credential api_key) must be the "
            f"{API_KEY_LENGTH}-character key set in WeChat Pay's merchant platform, "
            f"not {len(merchant.api_key)} characters"
        )


def write_secret_file(path: Path, text: str, mode: int = 0o600) -> None:
    """Write a file that holds a secret (an API key, a password hash) with ``mode``, atomically.

    The file is created with ``mode`` from the start (never world-readable, even for a moment,
    whatever the umask), fsynced, then renamed over ``path``: a crash leaves the old file or the
    new one, never half of either.
    """
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)  # mkstemp makes it 0600; a group-readable config keeps its group bit
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


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
