"""``pos init --api v3``: the flags and questions of a merchant onboarded with WeChat Pay API v3 keys.

What v3 needs (README, "WeChat Pay API v2 or v3"): the APIv3 key (written to a 0600 file of its
own, like v2's API key), the merchant's private key file ``apiclient_key.pem`` and its
certificate's serial number, and WeChat's side: WeChat Pay's public key and its ``PUB_KEY_ID_...``
id (public key mode) or a folder for the platform certificates (certificate mode).

Each answer is judged as it is given, by the rules :mod:`pos.config.v3` applies when the config
loads (one set of rules, not a second copy that could drift): the APIv3 key is 32 bytes, the
private key is an RSA PEM of 2048 bits or more in a file only its owner reads, the certificate
(optional, ``apiclient_cert.pem``) is that key's and names the serial (which then needs no typing),
the public key parses, the id starts ``PUB_KEY_ID_``. A refusal names the setting and never a key.

Payment codes (付款码) are v2 micropay whatever ``api`` says, so a v3 merchant who has the v2 API
key too may give it (``--api-key``/``--api-key-from``, or at the question); without it the till
takes printed QRs only. With the certificate given, ``cert_file``/``key_file`` are written too:
the reverse of a payment code needs them.

Only the standard library at the top (``pos --help`` stays fast): the checks import
:mod:`pos.config.v3` (cryptography) when they run.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pos.setup.errors import Refused

Checked = tuple[str, str | None]


@dataclass(frozen=True)
class V3Answers:
    """The v3 half of ``[merchant]``: file names and ids (the APIv3 key itself goes to its file)."""

    apiv3_key: str
    private_key_file: str
    merchant_serial_no: str
    certificate_file: str = ""  # apiclient_cert.pem, optional
    wechatpay_public_key_file: str = ""
    wechatpay_public_key_id: str = ""
    platform_certificates_dir: str = ""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "API v3 (with --api v3)",
        "--cert-file is the merchant API certificate (apiclient_cert.pem, optional): checked against "
        "--private-key-file and its serial; --api-key/--api-key-from give the v2 key that payment "
        "codes (付款码, v2 micropay) still need (optional)",
    )
    key = group.add_mutually_exclusive_group()
    key.add_argument(
        "--apiv3-key", dest="apiv3_key", help="the 32-byte APIv3 key (visible in ps: prefer the next)"
    )
    key.add_argument(
        "--apiv3-key-from",
        dest="apiv3_key_from",
        metavar="FILE",
        help="read the APIv3 key from FILE ('-': stdin)",
    )
    group.add_argument(
        "--private-key-file", dest="private_key_file", metavar="FILE", help="apiclient_key.pem (mode 0600)"
    )
    group.add_argument(
        "--merchant-serial-no",
        dest="merchant_serial_no",
        help="its certificate's serial (default: from --cert-file)",
    )
    group.add_argument(
        "--wechatpay-public-key-file", dest="wechatpay_public_key_file", metavar="FILE", help="pub_key.pem"
    )
    group.add_argument("--wechatpay-public-key-id", dest="wechatpay_public_key_id", help="PUB_KEY_ID_...")
    group.add_argument(
        "--platform-certificates-dir",
        dest="platform_certificates_dir",
        metavar="DIR",
        help="certificate mode instead of the public key: where platform certificates are kept",
    )


# -- one checker per setting: (raw) -> (value, problem), as kiosk's ----------------------------------


def _rule(rule: Callable[[str], object], value: str) -> str | None:
    """``rule``'s refusal (pos.config.v3's words), or None."""
    from pos.config import ConfigError

    try:
        rule(value)
    except ConfigError as exc:
        return str(exc)
    return None


def check_apiv3_key(raw: str) -> Checked:
    from pos.config.v3 import check_apiv3_key as rule

    raw = raw.strip()
    return raw, _rule(rule, raw)


def _private_key(path: str):
    """The key in ``path`` (read as the config will: its owner only), or a ConfigError."""
    from pos.config import read_key_file
    from pos.config.v3 import parse_private_key

    return parse_private_key(read_key_file(path, "is unusable"))


def check_private_key_file(raw: str) -> Checked:
    raw = raw.strip()
    if not raw:
        return raw, "must name apiclient_key.pem (from 商户平台 > API安全 > API证书)"
    path = str(Path(raw).expanduser().absolute())
    return path, _rule(_private_key, path)


def certificate_checker(private_key_file: str) -> Callable[[str], Checked]:
    """apiclient_cert.pem, optional: if given, the certificate of the key in ``private_key_file``."""

    def check(raw: str) -> Checked:
        from pos.config.v3 import certificate_serial, read_public_file

        raw = raw.strip()
        if not raw:
            return raw, None
        path = str(Path(raw).expanduser().absolute())
        problem = _rule(
            lambda p: certificate_serial(read_public_file(p), _private_key(private_key_file)), path
        )
        return path, problem

    return check


def certificate_serial_of(certificate_file: str, private_key_file: str) -> str:
    from pos.config.v3 import certificate_serial, read_public_file

    return certificate_serial(read_public_file(certificate_file), _private_key(private_key_file))


def serial_checker(certificate_serial: str) -> Callable[[str], Checked]:
    """The serial as WeChat writes it (upper-case hex); the certificate's own when one was given."""

    def check(raw: str) -> Checked:
        value = raw.strip().upper()
        if not value or len(value) > 40 or any(c not in "0123456789ABCDEF" for c in value):
            return value, f"must be the certificate's serial number, up to 40 hex digits, not {raw.strip()!r}"
        if certificate_serial and value != certificate_serial:
            return value, f"is not the serial of the certificate given ({certificate_serial})"
        return value, None

    return check


def check_public_key_file(raw: str) -> Checked:
    from pos.config.v3 import parse_public_key, read_public_file

    raw = raw.strip()
    if not raw:
        return raw, None  # none: certificate mode (asked next)
    path = str(Path(raw).expanduser().absolute())
    return path, _rule(lambda p: parse_public_key(read_public_file(p)), path)


def check_public_key_id(raw: str) -> Checked:
    from pos.config.v3 import check_public_key_id as rule

    raw = raw.strip()
    return raw, _rule(rule, raw)


def check_certificates_dir(raw: str) -> Checked:
    from pos.config.v3 import check_certificates_dir as rule

    raw = raw.strip()
    if not raw:
        return raw, "must name a folder (or give WeChat Pay's public key instead)"
    path = str(Path(raw).expanduser().absolute())
    return path, _rule(rule, path)


def _required(check: Callable[[str], Checked], missing: str) -> Callable[[str], Checked]:
    def required(raw: str) -> Checked:
        value, problem = check(raw)
        return value, problem or (None if value else missing)

    return required


# -- flags first, then questions ------------------------------------------------------------------


def apiv3_key_flag(args: argparse.Namespace) -> str | None:
    if args.apiv3_key is not None:
        return args.apiv3_key
    if args.apiv3_key_from is None:
        return None
    try:
        if args.apiv3_key_from == "-":
            return sys.stdin.readline().strip()
        return Path(args.apiv3_key_from).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise Refused(f"--apiv3-key-from: cannot read {args.apiv3_key_from}: {exc.strerror}") from None


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def checked_flags(args: argparse.Namespace) -> dict[str, str]:
    """Every v3 flag given, checked (the first bad one refused, naming flag and setting)."""
    if args.key_file is not None:
        raise Refused("--cert-key-file is API v2's; with --api v3 give the same file as --private-key-file")
    if args.platform_certificates_dir is not None and (
        args.wechatpay_public_key_file is not None or args.wechatpay_public_key_id is not None
    ):
        raise Refused(
            "--platform-certificates-dir ([merchant] platform_certificates_dir) or "
            "--wechatpay-public-key-file/--wechatpay-public-key-id (public key mode): give one of the two"
        )
    given = {
        "apiv3_key": apiv3_key_flag(args),
        "private_key_file": args.private_key_file,
        "cert_file": args.cert_file,
        "merchant_serial_no": args.merchant_serial_no,
        "wechatpay_public_key_file": args.wechatpay_public_key_file,
        "wechatpay_public_key_id": args.wechatpay_public_key_id,
        "platform_certificates_dir": args.platform_certificates_dir,
    }
    values: dict[str, str] = {}
    for name, raw in given.items():
        if raw is None:
            continue
        if name == "cert_file":
            if "private_key_file" not in values:
                raise Refused(
                    "--cert-file ([merchant] cert_file) is checked against --private-key-file: give both"
                )
            check = certificate_checker(values["private_key_file"])
        elif name == "merchant_serial_no":
            serial = ""
            if values.get("cert_file"):
                serial = certificate_serial_of(values["cert_file"], values["private_key_file"])
            check = serial_checker(serial)
        else:
            check = {
                "apiv3_key": check_apiv3_key,
                "private_key_file": check_private_key_file,
                "wechatpay_public_key_file": _required(check_public_key_file, "must name a file"),
                "wechatpay_public_key_id": check_public_key_id,
                "platform_certificates_dir": check_certificates_dir,
            }[name]
        value, problem = check(raw)
        if problem:
            flag = "--apiv3-key-from" if name == "apiv3_key" and args.apiv3_key_from else _flag(name)
            raise Refused(f"{flag} ([merchant] {name}) {problem}")
        values[name] = value
    if values.get("cert_file") and "merchant_serial_no" not in values:
        values["merchant_serial_no"] = certificate_serial_of(values["cert_file"], values["private_key_file"])
    return values


def complete(values: dict[str, str]) -> bool:
    """Whether the flags answer every v3 question (then nothing is asked)."""
    wechat_side = "platform_certificates_dir" in values or (
        "wechatpay_public_key_file" in values and "wechatpay_public_key_id" in values
    )
    return wechat_side and all(k in values for k in ("apiv3_key", "private_key_file", "merchant_serial_no"))


def ask(values: dict[str, str], prompter, *, data_dir: Path, interactive: bool) -> V3Answers:
    """What the flags did not give, asked (in this order); refused when nothing may be asked."""
    if not interactive and not complete(values):
        missing = [
            _flag(n) for n in ("apiv3_key", "private_key_file", "merchant_serial_no") if n not in values
        ] or ["--wechatpay-public-key-file and --wechatpay-public-key-id, or --platform-certificates-dir"]
        raise Refused(f"--api v3 needs {', '.join(missing)}")
    if "apiv3_key" not in values:
        values["apiv3_key"] = prompter.ask(
            "APIv3 key (APIv3密钥, 32 characters; not shown)",
            check_apiv3_key,
            setting="[merchant] apiv3_key",
            secret=True,
        )
    if "private_key_file" not in values:
        values["private_key_file"] = prompter.ask(
            "Merchant private key apiclient_key.pem (mode 0600)",
            check_private_key_file,
            setting="[merchant] private_key_file",
        )
    if "cert_file" not in values and "merchant_serial_no" not in values:
        values["cert_file"] = prompter.ask(
            "Its certificate apiclient_cert.pem, to check the pair and read the serial (empty: none)",
            certificate_checker(values["private_key_file"]),
            setting="[merchant] cert_file",
        )
    serial = ""
    if values.get("cert_file"):
        serial = certificate_serial_of(values["cert_file"], values["private_key_file"])
    if "merchant_serial_no" not in values:
        values["merchant_serial_no"] = prompter.ask(
            "Its certificate's serial number (证书序列号)",
            serial_checker(serial),
            setting="[merchant] merchant_serial_no",
            default=serial,
        )
    public_mode = "wechatpay_public_key_file" in values or "wechatpay_public_key_id" in values
    if "platform_certificates_dir" not in values and "wechatpay_public_key_file" not in values:
        values["wechatpay_public_key_file"] = prompter.ask(
            "WeChat Pay public key pub_key.pem (微信支付公钥; empty: platform certificates instead)",
            _required(check_public_key_file, "must name a file") if public_mode else check_public_key_file,
            setting="[merchant] wechatpay_public_key_file",
        )
    if values.get("wechatpay_public_key_file"):
        if "wechatpay_public_key_id" not in values:
            values["wechatpay_public_key_id"] = prompter.ask(
                "Its id (公钥ID, PUB_KEY_ID_...)",
                check_public_key_id,
                setting="[merchant] wechatpay_public_key_id",
            )
    elif "platform_certificates_dir" not in values:
        values["platform_certificates_dir"] = prompter.ask(
            "Folder for WeChat's platform certificates (certificate mode)",
            check_certificates_dir,
            setting="[merchant] platform_certificates_dir",
            default=str(data_dir / "wechatpay-certificates"),
        )
    return V3Answers(
        apiv3_key=values["apiv3_key"],
        private_key_file=values["private_key_file"],
        merchant_serial_no=values["merchant_serial_no"],
        certificate_file=values.get("cert_file", ""),
        wechatpay_public_key_file=values.get("wechatpay_public_key_file", ""),
        wechatpay_public_key_id=values.get("wechatpay_public_key_id", ""),
        platform_certificates_dir=values.get("platform_certificates_dir", ""),
    )


def optional_api_key(raw: str) -> Checked:
    """v2's API key on v3: for payment codes only, so none is an answer too."""
    from pos.setup.kiosk import check_api_key

    return ("", None) if not raw.strip() else check_api_key(raw)


V2_KEY_QUESTION = (
    "API v2 key for payment codes (付款码 are still v2 on v3; 32 characters; not shown; "
    "empty: none, the till takes printed QRs only)"
)
