"""``pos doctor``'s checks that look outward: the API key at WeChat, the clock against WeChat's,
the refund certificate, and the notify URL WeChat must be able to reach.

The key is checked the only way that proves it: an order query for an order number nobody
made. WeChat answers ``ORDERNOTEXIST`` (signed, with our key) when the key is right, and
``签名错误`` when it is not; nothing is created at WeChat either way. The same answer's HTTP
``Date`` header is WeChat's clock, which order deadlines (``time_expire``) are judged by.
"""

from __future__ import annotations

import ipaddress
import secrets
import socket
import stat
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import urlsplit

from pos.setup.checks import Context, Result, Status

MAX_SKEW = 60.0  # seconds the machine's clock may differ from WeChat's
CERT_WARN_DAYS = 30
_KEY_FIX = (
    "copy the 32-character API key from pay.weixin.qq.com (账户中心 > API安全) into [merchant] "
    "api_key_file, and check [merchant] sign_type"
)
_V3_KEY_FIX = (
    'with api = "v3": check [merchant] private_key_file (apiclient_key.pem), merchant_serial_no (its '
    "certificate's serial), and wechatpay_public_key_file / wechatpay_public_key_id, or "
    "platform_certificates_dir in certificate mode (账户中心 > API安全)"
)


def is_loopback_host(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_wechat_key(ctx: Context) -> Result:
    """Query a made-up order: ORDERNOTEXIST means WeChat accepted our signature."""
    import requests

    from pos.wechatpay import (
        BusinessError,
        ProtocolFail,
        SignatureError,
        TransportError,
        WeChatPayError,
    )
    from pos.wechatpay.factory import client_for

    merchant = ctx.cfg.merchant
    session = requests.Session()
    dates: list[str] = []
    session.hooks["response"].append(lambda response, *a, **k: dates.append(response.headers.get("Date", "")))
    client = client_for(merchant, session=session, retries=0)
    out_trade_no = f"DOCTOR{secrets.token_hex(8).upper()}"
    sent = ctx.now()
    outcome: WeChatPayError | None = None
    try:
        client.query_order(out_trade_no)
    except WeChatPayError as exc:
        outcome = exc
    finally:
        session.close()
    received = ctx.now()
    _note_gateway_time(ctx, dates, sent, received)
    where = merchant.api_base
    v3 = merchant.api == "v3"
    key_fix = _V3_KEY_FIX if v3 else _KEY_FIX
    wrong_key = "the merchant private key or merchant_serial_no is wrong" if v3 else "the API key is wrong"
    if outcome is None or (isinstance(outcome, BusinessError) and outcome.err_code == "ORDERNOTEXIST"):
        return Result(
            "wechat-key", Status.OK, f"{where} accepted the API key (a made-up order: ORDERNOTEXIST)"
        )
    if isinstance(outcome, ProtocolFail):
        message = outcome.return_msg
        if "签名" in message or "sign" in message.lower():
            return Result(
                "wechat-key",
                Status.FAIL,
                f"{where} refused our signature ({message}): {wrong_key}",
                key_fix,
            )
        return Result(
            "wechat-key",
            Status.FAIL,
            f"{where} refused the query: {message}",
            "check [merchant] appid and mch_id",
        )
    if isinstance(outcome, BusinessError):
        return Result(
            "wechat-key", Status.FAIL, f"{where} answered {outcome}", "check [merchant] appid and mch_id"
        )
    if isinstance(outcome, SignatureError):
        return Result(
            "wechat-key", Status.FAIL, f"{where}'s answer does not verify with our key: {outcome}", key_fix
        )
    if isinstance(outcome, TransportError):
        return Result(
            "wechat-key",
            Status.FAIL,
            f"cannot reach {where}: {outcome}",
            "check the network, [merchant] api_base and ca_file",
        )
    return Result("wechat-key", Status.FAIL, f"{where}: {outcome}", "check [merchant] api_base")


def _note_gateway_time(ctx: Context, dates: list[str], sent: float, received: float) -> None:
    for text in reversed(dates):
        try:
            ctx.gateway_time = parsedate_to_datetime(text).timestamp()
        except (TypeError, ValueError):
            continue
        ctx.local_time = (sent + received) / 2  # the Date was stamped somewhere in between
        return


def check_clock(ctx: Context) -> Result:
    """This machine's clock within a minute of WeChat's (its answer's Date header)."""
    if ctx.gateway_time is None or ctx.local_time is None:
        return Result("clock", Status.SKIP, "skipped: no answer from WeChat with a Date to compare with")
    skew = ctx.local_time - ctx.gateway_time
    # Date has whole seconds: allow that second on top of the limit.
    if abs(skew) <= MAX_SKEW + 1:
        return Result("clock", Status.OK, f"within {abs(skew):.0f} s of WeChat's")
    way = "ahead of" if skew > 0 else "behind"
    return Result(
        "clock",
        Status.FAIL,
        f"this machine's clock is {abs(skew):.0f} s {way} WeChat's (order deadlines would be off)",
        "turn on time sync: timedatectl set-ntp true",
    )


def check_certificate(ctx: Context) -> Result:
    """The API client certificate refunds need: present, in date, matching its key, ours."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import NameOID

    merchant = ctx.cfg.merchant
    if merchant.api == "v3" and not merchant.cert_file and not merchant.key_file:
        detail = "API v3: refunds are signed with the private key, no certificate needed"
        return Result("certificate", Status.OK, detail)
    fetch = (
        "download apiclient_cert.pem and apiclient_key.pem from pay.weixin.qq.com "
        "(账户中心 > API安全 > API证书) and set [merchant] cert_file and key_file"
    )
    if not merchant.cert_file and not merchant.key_file:
        return Result("certificate", Status.WARN, "no API client certificate: refunds will not work", fetch)
    if not merchant.cert_file or not merchant.key_file:
        missing = "cert_file" if not merchant.cert_file else "key_file"
        return Result("certificate", Status.FAIL, f"[merchant] {missing} is not set (both are needed)", fetch)
    try:
        cert_data = Path(merchant.cert_file).expanduser().read_bytes()
        key_path = Path(merchant.key_file).expanduser()
        key_data = key_path.read_bytes()
    except OSError as exc:
        return Result("certificate", Status.FAIL, f"cannot read {exc.filename}: {exc.strerror}", fetch)
    try:
        cert = x509.load_pem_x509_certificate(cert_data)
    except ValueError:
        return Result(
            "certificate",
            Status.FAIL,
            f"[merchant] cert_file {merchant.cert_file} is not a PEM certificate",
            fetch,
        )
    try:
        key = serialization.load_pem_private_key(key_data, password=None)
    except TypeError:
        return Result(
            "certificate",
            Status.FAIL,
            f"[merchant] key_file {merchant.key_file} is encrypted",
            f"openssl pkey -in {merchant.key_file} -out apiclient_key.pem (an unencrypted copy, mode 0600)",
        )
    except ValueError:
        return Result(
            "certificate",
            Status.FAIL,
            f"[merchant] key_file {merchant.key_file} is not a PEM private key",
            fetch,
        )
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if cert.public_key().public_bytes(*spki) != key.public_key().public_bytes(*spki):
        return Result(
            "certificate",
            Status.FAIL,
            f"{merchant.cert_file} and {merchant.key_file} do not belong together (different keys)",
            "use the apiclient_cert.pem and apiclient_key.pem downloaded together",
        )
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    common_name = str(names[0].value) if names else ""
    if common_name != merchant.mch_id:
        return Result(
            "certificate",
            Status.FAIL,
            f"{merchant.cert_file} was issued for {common_name or 'no mch_id'}, "
            f"not for mch_id {merchant.mch_id}",
            "download the certificate of this merchant account",
        )
    now = datetime.fromtimestamp(ctx.now(), UTC)
    if now < cert.not_valid_before_utc:
        return Result(
            "certificate",
            Status.FAIL,
            f"not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC",
            "check the clock",
        )
    if now > cert.not_valid_after_utc:
        return Result("certificate", Status.FAIL, f"expired on {cert.not_valid_after_utc:%Y-%m-%d}", fetch)
    key_mode = stat.S_IMODE(key_path.stat().st_mode)
    if key_mode & 0o077:
        return Result(
            "certificate",
            Status.FAIL,
            f"{merchant.key_file} may be read by other users (mode {key_mode:04o})",
            f"chmod 600 {merchant.key_file}",
        )
    left = cert.not_valid_after_utc - now
    from pos.setup.checks import is_sandbox_gateway

    if left < timedelta(days=CERT_WARN_DAYS) and not is_sandbox_gateway(ctx.cfg):  # the demo's last 2 days
        return Result(
            "certificate",
            Status.WARN,
            f"for mch_id {merchant.mch_id}, expires in {left.days} days "
            f"({cert.not_valid_after_utc:%Y-%m-%d})",
            fetch,
        )
    return Result(
        "certificate",
        Status.OK,
        f"for mch_id {merchant.mch_id}, matches its key, valid until {cert.not_valid_after_utc:%Y-%m-%d}",
    )


def _private_reason(host: str) -> str:
    """Why WeChat cannot reach ``host`` ("" when it can, as far as this machine can tell)."""
    if is_loopback_host(host):
        return "a loopback address"
    try:
        addresses = {ipaddress.ip_address(host.strip("[]"))}
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, 443, proto=socket.IPPROTO_TCP)
        except OSError:
            return f"{host} does not resolve from here"
        addresses = {ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos}
    for address in addresses:
        if address.is_loopback:
            return f"{host} is a loopback address ({address})"
        if address.is_private or address.is_link_local or address.is_reserved or address.is_unspecified:
            return f"{host} is a private address ({address})"
    return ""


def check_notify_url(ctx: Context) -> Result:
    """WeChat can call notify_url: https, and not a loopback or private address (except that
    against the simulator on this machine a loopback notify_url is right)."""
    merchant = ctx.cfg.merchant
    url = urlsplit(merchant.notify_url)
    host = url.hostname or ""
    gateway_host = urlsplit(merchant.api_base).hostname or ""
    if is_loopback_host(gateway_host):
        return Result(
            "notify-url", Status.OK, f"{merchant.notify_url} (the simulator on this machine calls it)"
        )
    if url.scheme != "https":
        return Result(
            "notify-url",
            Status.FAIL,
            f"{merchant.notify_url} is not https: WeChat calls only https URLs",
            'put TLS in front of pos listen and set [merchant] notify_url = "https://..." (see the README)',
        )
    reason = _private_reason(host)
    if reason:
        return Result(
            "notify-url",
            Status.WARN,
            f"WeChat cannot reach {merchant.notify_url}: {reason}; payments are confirmed by the till's "
            "own queries only (seconds later), and shelf labels cannot work",
            "give the listener a public https address (see the README's TLS section)",
        )
    return Result("notify-url", Status.OK, f"{merchant.notify_url}")


__all__ = [
    "MAX_SKEW",
    "check_certificate",
    "check_clock",
    "check_notify_url",
    "check_wechat_key",
    "is_loopback_host",
]
