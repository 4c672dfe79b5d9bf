"""``pos init``: set a real kiosk up in one sitting, and check the result.

Asks which WeChat Pay API the merchant uses (v2, the default, or v3: see :mod:`.init_v3` for
v3's keys), the merchant's appid, mch_id and API key (not echoed), the notify URL, the store's
name and time zone, the printer (offering the USB printers and serial ports it can see) and
its profile; or takes every one as a flag, for scripted installs (with all of them given it
asks nothing). Writes ``pos.toml`` (refusing to replace one unless ``--force``) with each key
(the API key, v3's APIv3 key) in a 0600 file of its own, loads the result with :mod:`pos.config`
to prove it reads back, creates the ledger, and offers to print the calibration slip
(``--print-test`` in scripts).

Exit codes: 0 written (and printed, when asked), 1 written but the calibration slip did not
print, 2 nothing written (a bad flag, no answer, a file already there).

Only the standard library and :mod:`pos.config` at the top: see :mod:`pos.setup`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from pos import config as pos_config
from pos.setup import init_v3
from pos.setup.errors import Refused as _Refused

EXIT_OK, EXIT_NOT_PRINTED, EXIT_REFUSED = 0, 1, 2

# (flag dest, setting as the config names it, question)
QUESTIONS = (
    ("appid", "[merchant] appid", "WeChat appid (公众账号ID, wx...)"),
    ("mch_id", "[merchant] mch_id", "Merchant number (商户号)"),
    ("api_key", "[merchant] api_key", "API key (API密钥, 32 characters; not shown)"),
    ("notify_url", "[merchant] notify_url", "Notify URL WeChat calls (https://.../wechatpay/notify)"),
    ("store_name", "[store] name", "Store name, printed on every slip"),
    ("timezone", "[store] timezone", "Time zone"),
    ("printer", "[printer] device", "Printer"),
    ("profile", "[printer] profile", "Printer profile"),
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "init",
        help="set up this kiosk: merchant, store, printer; writes pos.toml and the key file",
        description="Ask for (or take as flags) the WeChat Pay API (v2 or v3), the merchant's identity "
        "and keys, the notify URL, the store, the printer and its profile; write pos.toml (to --config, "
        "$POS_CONFIG or ~/.config/pos/pos.toml) with each secret key in a file of its own (mode 0600); "
        "create the ledger; offer to print the calibration slip. With every flag given, nothing is asked.",
        epilog="exit codes: 0 done, 1 written but the calibration slip did not print, 2 nothing written",
    )
    parser.add_argument(
        "--api",
        choices=("v2", "v3"),
        help="the WeChat Pay API the merchant's keys are for (asked when not given; v2 the default)",
    )
    merchant = parser.add_argument_group("merchant (pay.weixin.qq.com)")
    merchant.add_argument("--appid", help="the appid bound to the merchant account (wx...)")
    merchant.add_argument("--mch-id", dest="mch_id", help="the merchant number (商户号)")
    key = merchant.add_mutually_exclusive_group()
    key.add_argument(
        "--api-key", dest="api_key", help="the 32-character API key (visible in ps: prefer the next)"
    )
    key.add_argument(
        "--api-key-from", dest="api_key_from", metavar="FILE", help="read the API key from FILE ('-': stdin)"
    )
    merchant.add_argument("--notify-url", dest="notify_url", help="https URL of pos listen behind TLS")
    merchant.add_argument("--sign-type", dest="sign_type", choices=("MD5", "HMAC-SHA256"), default="MD5")
    merchant.add_argument(
        "--api-base",
        dest="api_base",
        default=pos_config.REAL_GATEWAY,
        help="WeChat's gateway (or a simulator)",
    )
    merchant.add_argument("--ca-file", dest="ca_file", default="", help="a CA bundle to trust for --api-base")
    merchant.add_argument(
        "--cert-file", dest="cert_file", help="apiclient_cert.pem (v2: refunds; v3: checked against its key)"
    )
    merchant.add_argument("--cert-key-file", dest="key_file", help="apiclient_key.pem (refunds)")
    store = parser.add_argument_group("store")
    store.add_argument("--store-name", dest="store_name")
    store.add_argument("--timezone", help="e.g. Asia/Shanghai")
    store.add_argument("--language", choices=("zh-CN", "en"), default="zh-CN", help="the cashier's language")
    printer = parser.add_argument_group("printer")
    printer.add_argument(
        "--printer", help="usb:VID:PID, serial:/dev/ttyUSB0, tcp:HOST:9100, file:..., dir:..."
    )
    printer.add_argument("--profile", help="a printer profile, e.g. xp80 or tm-t20ii")
    printer.add_argument(
        "--print-test", dest="print_test", action="store_true", help="print the calibration slip at the end"
    )
    files = parser.add_argument_group("files")
    files.add_argument(
        "--key-file",
        dest="key_path",
        metavar="FILE",
        help="where the API key goes (default: beside pos.toml)",
    )
    files.add_argument("--data-dir", dest="data_dir", help="the ledger's folder (default ~/.local/share/pos)")
    files.add_argument("--force", action="store_true", help="replace an existing pos.toml and key file")
    init_v3.add_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pos.setup.prompts import NoAnswer, Prompter

    prompter = Prompter()
    try:
        return _run(args, prompter)
    except (_Refused, NoAnswer) as exc:
        print(f"pos init: {exc}; nothing written", file=sys.stderr)
        return EXIT_REFUSED


def _targets(args: argparse.Namespace) -> tuple[Path, Path, Path]:
    if args.config:
        config_path = Path(args.config)
    elif os.environ.get("POS_CONFIG"):
        config_path = Path(os.environ["POS_CONFIG"])
    else:
        config_path = pos_config.default_paths()[0]
    from pos.setup.kiosk import default_data_dir

    config_path = config_path.expanduser().absolute()
    key_path = (
        Path(args.key_path).expanduser().absolute() if args.key_path else config_path.with_name("api_key")
    )
    data_dir = Path(args.data_dir).expanduser().absolute() if args.data_dir else default_data_dir(os.environ)
    return config_path, key_path, data_dir


def _refuse_existing(args: argparse.Namespace, *paths: Path | None) -> None:
    if args.force:
        return
    for path in paths:
        if path is not None and path.exists():
            raise _Refused(f"{path} exists; use --force to replace it")


def _api_key_flag(args: argparse.Namespace) -> str | None:
    if args.api_key is not None:
        return args.api_key
    if args.api_key_from is None:
        return None
    try:
        if args.api_key_from == "-":
            return sys.stdin.readline().strip()
        return Path(args.api_key_from).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise _Refused(f"--api-key-from: cannot read {args.api_key_from}: {exc.strerror}") from None


_V3_FLAGS = ("apiv3_key", "apiv3_key_from", "private_key_file", "merchant_serial_no")
_V3_FLAGS += ("wechatpay_public_key_file", "wechatpay_public_key_id", "platform_certificates_dir")


def _choose_api(args: argparse.Namespace, prompter, *, interactive: bool) -> str:
    """--api (v3 when a v3 flag says so), else asked when anything is to be asked, else v2."""
    if args.api:
        return args.api
    if not interactive:
        return "v2"
    return prompter.ask(
        "WeChat Pay API: v2 (API密钥) or v3 (APIv3密钥 and API证书)",
        _check_api,
        setting="[merchant] api",
        default="v2",
    )


def _check_api(raw: str) -> tuple[str, str | None]:
    value = raw.strip().lower()
    return value, None if value in ("v2", "v3") else f"must be v2 or v3, not {raw.strip()!r}"


def _run(args: argparse.Namespace, prompter) -> int:
    from pos.setup import kiosk

    config_path, key_path, data_dir = _targets(args)
    apiv3_path = config_path.with_name("apiv3_key")
    if args.api is None and any(getattr(args, name) is not None for name in _V3_FLAGS):
        args.api = "v3"
    v2_key_flag = args.api_key is not None or args.api_key_from is not None
    _refuse_existing(
        args,
        config_path,
        apiv3_path if args.api == "v3" else None,
        key_path if args.api != "v3" or v2_key_flag else None,
    )
    given = {name: getattr(args, name) for name, _, _ in QUESTIONS}
    given["api_key"] = _api_key_flag(args)
    checks = {
        "appid": kiosk.check_appid,
        "mch_id": kiosk.check_mch_id,
        "api_key": kiosk.check_api_key,
        "notify_url": kiosk.check_notify_url,
        "store_name": kiosk.check_store_name,
        "timezone": kiosk.check_timezone,
        "printer": kiosk.check_printer,
        "profile": kiosk.check_profile,
    }
    # Flags first: a bad flag is refused before anything is asked.
    values: dict[str, str] = {}
    for name, setting, _ in QUESTIONS:
        if given[name] is not None:
            value, problem = checks[name](given[name])
            if problem:
                flag = "--" + name.replace("_", "-")
                raise _Refused(f"{flag} ({setting}) {problem}")
            values[name] = value
    for name, value in (
        ("api_base", args.api_base),
        ("cert_file", args.cert_file),
        ("key_file", args.key_file),
    ):
        if value is None:
            continue
        checker = kiosk.check_api_base if name == "api_base" else kiosk.check_readable_file
        checked, problem = checker(value)
        if problem:
            raise _Refused(f"--{name.replace('_', '-')} ([merchant] {name}) {problem}")
        setattr(args, name, checked)
    v3_values = init_v3.checked_flags(args) if args.api == "v3" else {}
    common = [name for name, _, _ in QUESTIONS if name != "api_key"]
    interactive = any(given[name] is None for name in common) or (
        not init_v3.complete(v3_values) if args.api == "v3" else given["api_key"] is None
    )
    api = _choose_api(args, prompter, interactive=interactive)
    if api == "v3" and args.api != "v3":  # chosen at the question: the flags given are v3's now
        args.api = "v3"
        _refuse_existing(args, config_path, apiv3_path, None)
        v3_values = init_v3.checked_flags(args)
    if interactive:
        keys = f"{apiv3_path} and {key_path}" if api == "v3" else str(key_path)
        prompter.say(f"Setting up this kiosk: {config_path} (keys go to {keys}, mode 0600)")
    v3 = None
    for name, setting, question in QUESTIONS:
        if name == "api_key" and api == "v3":  # v3's keys here; then v2's, optional (payment codes)
            v3 = init_v3.ask(v3_values, prompter, data_dir=data_dir, interactive=interactive)
            if interactive and name not in values:
                values[name] = prompter.ask(
                    init_v3.V2_KEY_QUESTION, init_v3.optional_api_key, setting=setting, secret=True
                )
            continue
        if name in values:
            continue
        if name == "printer":
            question = _printer_menu(prompter)
        default = {"timezone": "Asia/Shanghai", "profile": "xp80"}.get(name, "")
        check = checks[name]
        if name == "printer":
            check = _menu_checker(prompter.menu, checks["printer"])
        values[name] = prompter.ask(
            question, check, setting=setting, default=default, secret=name == "api_key"
        )
    cert_file, key_file = args.cert_file, args.key_file
    if v3 is not None:  # the certificate was checked against its key; the reverse of a code needs both
        cert_file, key_file = v3.certificate_file, v3.private_key_file if v3.certificate_file else ""
    elif interactive and cert_file is None:
        cert_file = prompter.ask(
            "Refund certificate apiclient_cert.pem (empty: none for now)",
            kiosk.check_readable_file,
            setting="[merchant] cert_file",
        )
        if cert_file and key_file is None:
            key_file = prompter.ask(
                "Its key apiclient_key.pem",
                _required(kiosk.check_readable_file),
                setting="[merchant] key_file",
            )
    answers = kiosk.Answers(
        **{"api_key": "", **values},
        api_base=args.api_base,
        sign_type=args.sign_type,
        cert_file=cert_file or "",
        key_file=key_file or "",
        ca_file=str(Path(args.ca_file).absolute()) if args.ca_file else "",
        language=args.language,
    )
    text = kiosk.render(
        answers,
        key_file=key_path if answers.api_key else None,
        data_dir=data_dir,
        v3=v3,
        apiv3_key_file=apiv3_path,
    )
    files = [(apiv3_path, v3.apiv3_key + "\n")] if v3 is not None else []
    if answers.api_key:
        files.append((key_path, answers.api_key + "\n"))
    written = _write_all([*files, (config_path, text)], force=args.force)
    cfg = _read_back(config_path, written, answers.api_key, v3.apiv3_key if v3 else None)
    prompter.say(f"wrote {' and '.join(str(path) for path in written)} (mode 0600)")
    _create_ledger(cfg, prompter)
    printed = True
    if args.print_test or (interactive and prompter.confirm("Print the calibration slip now?")):
        printed = _print_test(config_path, prompter)
    prompter.say(f"next: pos --config {config_path} doctor")
    return EXIT_OK if printed else EXIT_NOT_PRINTED


def _required(check):
    def required(raw: str):
        value, problem = check(raw)
        return value, problem or (None if value else "must be given with cert_file")

    return required


def _printer_menu(prompter) -> str:
    from pos.setup.hardware import printers

    found, notes = printers()
    prompter.menu = {str(i): item.spec for i, item in enumerate(found, start=1)}
    if found:
        prompter.say("Printers this machine can see:")
        for number, item in enumerate(found, start=1):
            prompter.say(f"  {number}) {item.spec:<28} {item.description}")
    else:
        prompter.say("No USB printer or serial port found here.")
    for note in notes:
        prompter.say(f"  ({note})")
    prompter.say(
        "Or type a device: tcp:HOST:9100, serial:/dev/ttyUSB0?baud=19200, usb:VID:PID, file:/dev/usb/lp0"
    )
    return "Printer (a number or a device)" if found else "Printer (a device)"


def _menu_checker(menu: dict[str, str], check):
    def pick(raw: str):
        return check(menu.get(raw.strip(), raw))

    return pick


def _write_all(files: list[tuple[Path, str]], *, force: bool) -> list[Path]:
    """Each file 0600, whole; the key files first, pos.toml last. Any failure takes back what
    this run wrote, so a refusal leaves nothing behind. The paths written, pos.toml first."""
    from pos.setup import kiosk

    written: list[Path] = []
    try:
        for path, text in files:
            kiosk.write_private(path, text, force=force)
            written.append(path)
    except BaseException as exc:
        for path in written:
            path.unlink(missing_ok=True)
        if isinstance(exc, kiosk.Exists):
            raise _Refused(str(exc)) from None
        if isinstance(exc, OSError):
            raise _Refused(f"cannot write {exc.filename}: {exc.strerror}") from None
        raise
    return [written[-1], *written[:-1]]


def _read_back(config_path: Path, written: list[Path], api_key: str, apiv3_key: str | None):
    """Load what was written exactly as the till will (no environment secrets in the way)."""
    try:
        cfg = pos_config.load(config_path, env={})
    except pos_config.ConfigError as exc:
        for path in written:
            path.unlink(missing_ok=True)
        raise _Refused(f"the written config does not load: {exc}") from None
    wrong = (api_key and cfg.merchant.api_key != api_key) or (
        apiv3_key and cfg.merchant.apiv3_key != apiv3_key
    )
    if wrong:  # pragma: no cover - would be a bug in render()
        raise _Refused("the written config does not read the keys back")
    return cfg


def _create_ledger(cfg, prompter) -> None:
    from pos.ledger import LedgerError, open_ledger

    try:
        open_ledger(cfg.database.url, timezone=cfg.store.timezone).close()
    except (LedgerError, OSError) as exc:
        prompter.say(f"the ledger could not be created ({exc}); pos doctor will say more")
        return
    prompter.say(f"ledger ready: {cfg.database.url}")


def _print_test(config_path: Path, prompter) -> bool:
    """``pos printer test`` on the new config, as its own process: the same command a person runs."""
    command = [sys.executable, "-m", "pos.cli", "--config", str(config_path), "printer", "test"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    for line in (result.stdout + result.stderr).splitlines():
        prompter.say(f"  {line}")
    if result.returncode != 0:
        prompter.say("the calibration slip did not print; fix the printer and run pos printer test")
        return False
    return True
