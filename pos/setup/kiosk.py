"""What ``pos init`` asks, how each answer is checked, and the files it writes.

Each setting has one checker ``(raw) -> (value, problem)``; the same checker judges a flag
(``--appid``) and an answer typed at the prompt, so a script and a person are held to the
same rules and told the same thing.

Files: ``pos.toml`` (mode 0600: ``pos manager set-password`` later writes a hash into it) and
the API key in a file of its own (mode 0600, named by ``[merchant] api_key_file``), never in
pos.toml; on v3, the APIv3 key likewise (``apiv3_key_file``). Each is written whole or not at
all (a temporary file, then a link that fails if the name exists, or a rename with ``--force``).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pos.config import REAL_GATEWAY
from pos.setup.errors import SetupError
from pos.setup.init_v3 import V3Answers

_APPID = re.compile(r"^wx[0-9a-f]{16}$")
_MCH_ID = re.compile(r"^[0-9]{8,10}$")
_API_KEY = re.compile(r"^[A-Za-z0-9]{32}$")

Checked = tuple[str, str | None]


def check_appid(raw: str) -> Checked:
    raw = raw.strip()
    if _APPID.match(raw):
        return raw, None
    return raw, f"must be 'wx' and 16 hex digits (e.g. wx2421b1c4370ec43b), not {raw!r}"


def check_mch_id(raw: str) -> Checked:
    raw = raw.strip()
    return raw, None if _MCH_ID.match(
        raw
    ) else f"must be the 8 to 10 digits of your merchant number, not {raw!r}"


def check_api_key(raw: str) -> Checked:
    raw = raw.strip()
    if _API_KEY.match(raw):
        return raw, None
    return raw, f"must be 32 letters and digits (it is {len(raw)} characters)"  # never echo the key


def _is_loopback(host: str) -> bool:
    from pos.setup.wechat_checks import is_loopback_host

    return is_loopback_host(host)


def check_notify_url(raw: str) -> Checked:
    raw = raw.strip()
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        return (
            raw,
            "must be an absolute https URL without a query, "
            f"e.g. https://pay.example.com/wechatpay/notify, not {raw!r}",
        )
    if parts.scheme != "https" and not _is_loopback(parts.hostname):
        return raw, f"must be https (WeChat calls only https URLs), not {raw!r}"
    return raw, None


def check_api_base(raw: str) -> Checked:
    raw = raw.strip().rstrip("/")
    parts = urlsplit(raw)
    if parts.scheme in ("http", "https") and parts.hostname and not parts.query:
        return raw, None
    return raw, f"must be an http(s) URL such as {REAL_GATEWAY}, not {raw!r}"


def check_store_name(raw: str) -> Checked:
    raw = raw.strip()
    if not raw:
        return raw, "must not be empty (it is printed on every slip)"
    if any(ord(c) < 32 for c in raw) or len(raw) > 40:
        return raw, "must be one line of at most 40 characters"
    return raw, None


def check_timezone(raw: str) -> Checked:
    raw = raw.strip()
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        return raw, f"is not a known time zone: {raw!r} (e.g. Asia/Shanghai)"
    return raw, None


def check_printer(raw: str) -> Checked:
    from pos.printing.devices import DeviceSpecError, open_device

    raw = raw.strip()
    try:
        open_device(raw)  # checks the string only: nothing is opened yet
    except DeviceSpecError as exc:
        return raw, f"is not usable: {exc}"
    return raw, None


def check_profile(raw: str, profiles_dir: str = "") -> Checked:
    from pos.printing.profiles import available_profiles

    raw = raw.strip()
    known = available_profiles([profiles_dir] if profiles_dir else [])
    return raw, None if raw in known else f"must be one of {', '.join(known)}, not {raw!r}"


def check_readable_file(raw: str) -> Checked:
    raw = raw.strip()
    if not raw:
        return raw, None  # none: refunds stay off until it is set
    path = Path(raw).expanduser()
    if not path.is_file() or not os.access(path, os.R_OK):
        return raw, f"is not a readable file: {raw!r}"
    return str(path.resolve()), None


@dataclass(frozen=True)
class Answers:
    appid: str
    mch_id: str
    api_key: str
    notify_url: str
    store_name: str
    timezone: str
    printer: str
    profile: str
    api_base: str = REAL_GATEWAY
    sign_type: str = "MD5"
    cert_file: str = ""
    key_file: str = ""
    ca_file: str = ""
    language: str = "zh-CN"
    store_id: str = "S01"


def _q(value: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's)."""
    return json.dumps(value, ensure_ascii=False)


def render(
    answers: Answers,
    *,
    key_file: Path | None,
    data_dir: Path,
    v3: V3Answers | None = None,
    apiv3_key_file: Path | None = None,
) -> str:
    """The pos.toml ``pos init`` writes: every value it was given, the keys only by their files.
    ``key_file`` None: no v2 API key (a v3 merchant without one: no payment codes)."""
    database = f"sqlite:///{data_dir / 'pos.sqlite3'}"
    lines = [
        f"# Written by `pos init` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Check it with `pos doctor`.",
        "# No key is in this file: each is in a file of its own (mode 0600) named below.",
        "[merchant]",
    ]
    if v3 is not None:
        lines.append('api = "v3"')
    lines += [f"appid = {_q(answers.appid)}", f"mch_id = {_q(answers.mch_id)}"]
    if v3 is not None:
        lines += _v3_lines(v3, apiv3_key_file)
    if v3 is not None:
        lines.append("# Payment codes (付款码) are v2 micropay even on v3: they need the v2 API key.")
    if key_file is not None:
        lines.append(f"api_key_file = {_q(str(key_file))}")
    else:
        lines.append('api_key = ""    # none given: payment codes are off, printed QRs only')
    lines += [
        f"sign_type = {_q(answers.sign_type)}",
        f"notify_url = {_q(answers.notify_url)}",
        f"api_base = {_q(answers.api_base)}",
    ]
    if v3 is None:
        lines.append(f"cert_file = {_q(answers.cert_file)}    # refunds need WeChat's API client certificate")
    else:
        lines.append(
            f"cert_file = {_q(answers.cert_file)}    # v3 refunds need none; a payment code's reverse does"
        )
    lines.append(f"key_file = {_q(answers.key_file)}")
    if answers.ca_file:
        lines.append(f"ca_file = {_q(answers.ca_file)}")
    lines += [
        "",
        "[store]",
        f"id = {_q(answers.store_id)}",
        f"name = {_q(answers.store_name)}",
        f"timezone = {_q(answers.timezone)}",
        f"language = {_q(answers.language)}",
        "",
        "[printer]",
        f"device = {_q(answers.printer)}",
        f"profile = {_q(answers.profile)}",
        "",
        "[database]",
        f"url = {_q(database)}",
        "",
        "[till]",
        f"data_dir = {_q(str(data_dir))}",
        "",
    ]
    return "\n".join(lines)


def _v3_lines(v3: V3Answers, apiv3_key_file: Path | None) -> list[str]:
    lines = [
        f"apiv3_key_file = {_q(str(apiv3_key_file))}",
        f"private_key_file = {_q(v3.private_key_file)}",
        f"merchant_serial_no = {_q(v3.merchant_serial_no)}",
    ]
    if v3.platform_certificates_dir:
        return [
            *lines,
            f"platform_certificates_dir = {_q(v3.platform_certificates_dir)}    # certificate mode",
        ]
    return [
        *lines,
        f"wechatpay_public_key_file = {_q(v3.wechatpay_public_key_file)}    # public key mode",
        f"wechatpay_public_key_id = {_q(v3.wechatpay_public_key_id)}",
    ]


class Exists(SetupError):
    """A file ``pos init`` would write is already there (and --force was not given)."""


def write_private(path: Path, text: str, *, force: bool) -> None:
    """Write ``text`` to ``path`` with mode 0600 from the first byte, whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), 0o600)  # whatever the umask says
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if force:
            os.replace(temporary, path)
        else:
            try:
                os.link(temporary, path)
            except FileExistsError:
                raise Exists(f"{path} exists; use --force to replace it") from None
    finally:
        temporary.unlink(missing_ok=True)


def default_data_dir(env: dict[str, str] | os._Environ[str]) -> Path:
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "pos"
