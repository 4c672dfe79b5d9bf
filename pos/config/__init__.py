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

The package: :mod:`.sections` (the dataclasses and their defaults), :mod:`.reading` (one
section's keys checked, secrets read), :mod:`.v3` (API v3's keys); this module puts a whole file
together and keeps the checks that span sections.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import tempfile
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pos.config.reading import SECTIONS, build_products, build_section, read_key_file, read_secret
from pos.config.sections import (
    API_KEY_LENGTH,
    DEMO_API_KEY,
    DEMO_APPID,
    DEMO_MCH_ID,
    MIN_API_TOKEN,
    REAL_GATEWAY,
    SIGN_TYPES,
    SIMULATOR,
    Config,
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

__all__ = [
    "API_KEY_LENGTH",
    "DEMO_API_KEY",
    "DEMO_APPID",
    "DEMO_MCH_ID",
    "MIN_API_TOKEN",
    "REAL_GATEWAY",
    "SIGN_TYPES",
    "SIMULATOR",
    "Config",
    "ConfigError",
    "DatabaseConfig",
    "ListenerConfig",
    "ManagerConfig",
    "MerchantConfig",
    "PrinterConfig",
    "Product",
    "StoreConfig",
    "TillConfig",
    "default_paths",
    "from_mapping",
    "is_loopback_url",
    "load",
    "product_key",
    "read_key_file",
    "read_secret",
    "write_secret_file",
]


def from_mapping(
    data: Mapping[str, Any], source: str = "<config>", env: Mapping[str, str] | None = None
) -> Config:
    """Build a checked Config from parsed TOML; secrets from ``env`` override the file."""
    env = os.environ if env is None else env
    unknown = sorted(set(data) - set(SECTIONS) - {"products"})
    if unknown:
        raise ConfigError(
            f"{source}: unknown section [{unknown[0]}]; known sections: "
            f"{', '.join([*sorted(SECTIONS), 'products'])}"
        )
    sections: dict[str, Any] = {}
    for name, cls in SECTIONS.items():
        raw = data.get(name, {})
        if not isinstance(raw, dict):
            raise ConfigError(f"{source}: {name} must be a [{name}] table")
        sections[name] = build_section(cls, name, raw, source)
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
    merchant = sections["merchant"]
    if merchant.api == "v3" and merchant.api_key == DEMO_API_KEY and not is_loopback_url(merchant.api_base):
        # A v3 merchant that set no v2 key has none (payment codes and labels off), never the
        # sandbox's: the till would sign payment codes with it and fail at the counter.
        sections["merchant"] = dataclasses.replace(merchant, api_key="")
    _check_gateway_identity(sections["merchant"], source)
    products = build_products(data.get("products", []), source)
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
    if merchant.api == "v3" and not merchant.api_key:
        return  # no v2 key: v3's calls do not use one; pos.config.v3 checked v3's own keys
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
