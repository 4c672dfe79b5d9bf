"""``pos doctor``'s checks of this machine: the config and its secrets, the printer, the font,
the ledger and the listener. Each check is one small function ``(Context) -> Result``.

A check says ``ok``, ``warn`` (works, but a person should know), ``FAIL`` (a sale could not
be taken and paid now, or something the shop configured is broken) or ``skip`` (nothing to
check here, or the check cannot run), with one line of detail and one line of fix.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from pos.config import Config


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "FAIL"
    SKIP = "skip"


@dataclass(frozen=True)
class Result:
    """One check's verdict, printed as one line."""

    name: str
    status: Status
    detail: str
    fix: str = ""

    def line(self) -> str:
        text = f"{self.status:<4}  {self.name:<11} {self.detail}"
        return f"{text}\n{'':17}fix: {self.fix}" if self.fix else text


@dataclass
class Context:
    """What the checks share: the loaded config, the file as written, and what WeChat said."""

    cfg: Config
    raw: Mapping[str, Any] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    now: Callable[[], float] = time.time
    # Filled by the API key check: WeChat's Date header (epoch seconds) and our time when it came.
    gateway_time: float | None = None
    local_time: float | None = None


Check = Callable[[Context], Result]


def is_sandbox_gateway(cfg: Config) -> bool:
    """True when api_base is on this machine (the simulator), where the demo's identity is right."""
    from urllib.parse import urlsplit

    from pos.setup.wechat_checks import is_loopback_host

    return is_loopback_host(urlsplit(cfg.merchant.api_base).hostname or "")


# -- the config and its secrets --------------------------------------------------------------------


def key_source(ctx: Context) -> str:
    """Where the API key came from, in the order pos.config reads it."""
    credentials = ctx.env.get("CREDENTIALS_DIRECTORY")
    if credentials and (Path(credentials) / "api_key").is_file():
        return "the systemd credential api_key"
    if ctx.env.get("POS_API_KEY"):
        return "POS_API_KEY"
    if ctx.cfg.merchant.api_key_file:
        return f"api_key_file {ctx.cfg.merchant.api_key_file}"
    if "api_key" in ctx.raw.get("merchant", {}):
        return "api_key in the config file"
    return ""


def check_secrets(ctx: Context) -> Result:
    """The API key has WeChat's shape and does not sit in a file other users can read."""
    merchant = ctx.cfg.merchant
    source = key_source(ctx)
    sandbox = is_sandbox_gateway(ctx.cfg)
    fix_key = (
        "copy the API key from pay.weixin.qq.com (账户中心 > API安全) into a file only you can read "
        "and name it in [merchant] api_key_file (pos init does this)"
    )
    # The sandbox merchant (or a key not 32 characters) against a gateway that is not the local
    # simulator never gets this far: pos.config refuses to load it, naming the setting.
    v2_key_off = merchant.api == "v3" and not merchant.api_key  # v3 without payment codes: fine
    if not v2_key_off and (len(merchant.api_key) != 32 or not merchant.api_key.isalnum()):
        return Result(
            "secrets",
            Status.FAIL,
            f"the API key from {source or 'the defaults'} is {len(merchant.api_key)} characters; "
            "WeChat's are 32 letters and digits",
            fix_key,
        )
    if source == "api_key in the config file" and not sandbox:
        mode = _mode(ctx.cfg.source)
        if mode is not None and mode & 0o077:
            return Result(
                "secrets",
                Status.FAIL,
                f"the API key sits in {ctx.cfg.source}, which other users may read (mode {mode:04o})",
                f"chmod 600 {ctx.cfg.source}, or better: move the key to [merchant] api_key_file",
            )
    detail = f"API key from {source or 'the sandbox defaults'}"
    if merchant.api == "v3":
        v2 = (
            "no v2 API key (payment codes off)"
            if v2_key_off
            else f"v2 API key from {source or 'the defaults'}"
        )
        detail = f"APIv3 key from {_v3_source(ctx, 'apiv3_key', 'apiv3_key_file')}; private key from "
        detail += f"{_v3_source(ctx, 'merchant_private_key', 'private_key_file')}; {v2}"
    if not ctx.cfg.manager.password_hash:
        return Result(
            "secrets",
            Status.WARN,
            f"{detail}; no manager password, so the manager's pages are locked",
            "pos manager set-password",
        )
    return Result("secrets", Status.OK, f"{detail}; manager password set")


def _v3_source(ctx: Context, secret: str, file_key: str) -> str:
    """Where one of v3's secrets came from, in the order pos.config.v3 reads it."""
    credentials = ctx.env.get("CREDENTIALS_DIRECTORY")
    if credentials and (Path(credentials) / secret).is_file():
        return f"the systemd credential {secret}"
    if ctx.env.get(f"POS_{secret.upper()}"):
        return f"POS_{secret.upper()}"
    file = getattr(ctx.cfg.merchant, file_key)
    return f"{file_key} {file}" if file else f"{secret} in the config file"


def _mode(path: str) -> int | None:
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return None


# -- the printer and the font ----------------------------------------------------------------------


_PRINTER_FIXES = {
    "paper out": "put in a new paper roll",
    "cover open": "close the printer's cover",
    "offline": "switch the printer on and check its cable, or [printer] device",
    "unknown": "check that the printer is on and [printer] device is right; pos printer status says more",
}


def check_printer(ctx: Context) -> Result:
    """The printer answers DLE EOT and has paper; a printer that cannot be asked is a warning."""
    from pos.printing.devices import DeviceSpecError, open_device
    from pos.printing.profiles import ProfileError, load_profile
    from pos.printing.status import PrinterState, check_status

    printer = ctx.cfg.printer
    try:
        profile = load_profile(printer.profile, [printer.profiles_dir] if printer.profiles_dir else [])
    except ProfileError as exc:
        return Result("printer", Status.FAIL, f"[printer] profile: {exc}", "pick one of the shipped profiles")
    try:
        device = open_device(printer.device, width_dots=profile.printable_dots)
    except DeviceSpecError as exc:
        return Result(
            "printer", Status.FAIL, f"[printer] device: {exc}", "pos init lists the printers it sees"
        )
    with device:
        status = check_status(device, timeout=printer.status_timeout, supported=profile.status)
    where = f"{printer.device} ({profile.name})"
    if status.state is PrinterState.PAPER_NEAR_END:
        return Result("printer", Status.WARN, f"{where}: {status}", "have a new paper roll at hand")
    if status.can_print:
        return Result("printer", Status.OK, f"{where}: {status}")
    if (
        status.state is PrinterState.UNKNOWN
        and not status.virtual
        and (not device.can_read or not profile.status)
    ):
        return Result(
            "printer",
            Status.WARN,
            f"{where}: cannot be asked how it is ({status.detail})",
            "run pos printer test and look at the slip",
        )
    return Result("printer", Status.FAIL, f"{where}: {status}", _PRINTER_FIXES.get(status.state, ""))


def check_font(ctx: Context) -> Result:
    """The font the slips are drawn with covers every character a slip needs."""
    try:
        from pos.printing.fonts import font_problem  # type: ignore[import-not-found,unused-ignore]
    except ImportError as exc:
        if exc.name not in (None, "pos.printing.fonts"):
            raise
        return Result("font", Status.SKIP, "skipped: font check not available")
    problem = font_problem(ctx.cfg)
    if problem:
        return Result(
            "font",
            Status.FAIL,
            problem,
            "set [printer] raster_font to a CJK font file, or pick a profile with a Chinese font",
        )
    return Result("font", Status.OK, "the font covers every character a slip needs")


# -- the ledger ------------------------------------------------------------------------------------


def check_ledger(ctx: Context) -> Result:
    """The ledger exists, is at the schema this pos ships, and may be written (rolled back)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    from pos.ledger.database import create_ledger_engine, probe_write, schema_state
    from pos.ledger.errors import LedgerError

    started = "start pos till once: it migrates the ledger when it starts (pos init does it too)"
    try:
        url = make_url(ctx.cfg.database.url)
    except ArgumentError as exc:
        return Result("ledger", Status.FAIL, f"[database] url is not a database URL: {exc}")
    shown = url.render_as_string(hide_password=True)
    sqlite_file = url.get_backend_name() == "sqlite" and not (url.database or "").startswith("file:")
    if sqlite_file and url.database and not Path(url.database).expanduser().is_file():
        return Result("ledger", Status.FAIL, f"no ledger at {url.database} yet", started)
    try:
        engine = create_ledger_engine(url)
    except (LedgerError, SQLAlchemyError, OSError) as exc:
        return Result("ledger", Status.FAIL, f"{shown}: {exc}")
    try:
        current, head, known = schema_state(engine)
        if current is None:
            return Result("ledger", Status.FAIL, f"{shown} has no ledger tables (not migrated)", started)
        if not known:
            return Result(
                "ledger",
                Status.FAIL,
                f"{shown} is at schema {current}, made by a newer pos than this one ({head})",
                "install the pos that migrated it",
            )
        if current != head:
            return Result(
                "ledger", Status.FAIL, f"{shown} is at schema {current}, this pos needs {head}", started
            )
        probe_write(engine)
    except (SQLAlchemyError, OSError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        return Result(
            "ledger",
            Status.FAIL,
            f"{shown} cannot be written: {reason}",
            "let the pos user write the database file and its folder (or the role UPDATE rights)",
        )
    finally:
        engine.dispose()
    return Result("ledger", Status.OK, f"{shown} at schema {head}, writable")


# -- the listener ----------------------------------------------------------------------------------


def check_listener(ctx: Context) -> Result:
    """``GET /healthz`` on the listener, when the config has a [listener] section."""
    import requests

    if "listener" not in ctx.raw:
        return Result(
            "listener",
            Status.SKIP,
            "no [listener] in the config: WeChat's notices are not served here (the till's queries "
            "confirm payments)",
        )
    listener = ctx.cfg.listener
    host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(listener.host, listener.host)
    url = f"http://{f'[{host}]' if ':' in host else host}:{listener.port}/healthz"
    fix = "start it: systemctl start pos-listener (or pos listen)"
    try:
        response = requests.get(url, timeout=3)
    except requests.RequestException as exc:
        return Result("listener", Status.FAIL, f"{url} does not answer ({type(exc).__name__})", fix)
    if response.status_code != 200:
        return Result(
            "listener",
            Status.FAIL,
            f"{url} answered {response.status_code}: {response.text.strip()[:80]}",
            fix,
        )
    return Result("listener", Status.OK, f"{url} answers")


def load_raw(cfg: Config) -> dict[str, Any]:
    """The config file as written (which sections it sets); {} for the embedded defaults."""
    import tomllib

    if cfg.source.startswith("<"):
        return {}
    try:
        return tomllib.loads(Path(cfg.source).read_text(encoding="utf-8"))
    except (OSError, ValueError):  # pos.config already read it once; a race is not ours to report
        return {}


__all__ = [
    "Check",
    "Context",
    "Result",
    "Status",
    "check_font",
    "check_ledger",
    "check_listener",
    "check_printer",
    "check_secrets",
    "load_raw",
]
