"""Reading one section of the TOML file into its dataclass, key by key: every value checked for its
type and its own rule, each refusal naming the file, the section, the key and what is wrong; and
the secrets read from systemd credentials, the environment or a file of their own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, get_type_hints
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pos.config.sections import (
    HOST_PATTERN,
    MIN_API_TOKEN,
    SIGN_TYPES,
    ConfigError,
    DatabaseConfig,
    ListenerConfig,
    ManagerConfig,
    MerchantConfig,
    PrinterConfig,
    Product,
    StoreConfig,
    TillConfig,
    product_key,
)

SECTIONS: dict[str, type] = {
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
        (f"has {h!r}, which is not a host name or host:port" for h in v if not HOST_PATTERN.match(h)), None
    ),
    ("database", "pool_size"): lambda v: None if 1 <= v <= 100 else f"must be 1..100 connections, not {v}",
    ("database", "max_overflow"): lambda v: None if 0 <= v <= 100 else f"must be 0..100 connections, not {v}",
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


def build_section(cls: type, section: str, data: Mapping[str, Any], source: str) -> Any:
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


def build_products(raw: Any, source: str) -> tuple[Product, ...]:
    from pos.money import MoneyError, parse_yuan

    if not isinstance(raw, list):
        raise ConfigError(f"{source}: products must be written as [[products]] tables")
    products = []
    seen: dict[str, int] = {}  # product_key(id) -> the number of the entry that has it
    for index, entry in enumerate(raw, start=1):
        label = f"[[products]] #{index}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{source}: {label} must be a table")
        product = build_section(Product, f"products #{index}", entry, source)
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
