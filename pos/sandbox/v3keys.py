"""The sandbox v3 merchant and WeChat's side of it: keys, certificates, ids.

What a merchant downloads from 商户平台 for API v3, made up for the simulator: the
merchant's RSA private key with its API certificate (serial), a 32-character APIv3
key, WeChat's public key with its ``PUB_KEY_ID_…`` id (public-key mode), and a
platform certificate (certificate mode). RSA-2048 generation takes a noticeable
moment, so the three key pairs are made once per process and shared by every
simulator it starts; the APIv3 key and the ids are drawn per simulator.
"""

from __future__ import annotations

import dataclasses
import functools
import secrets
import string
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from pos.wechatpay.v3 import crypto
from pos.wechatpay.v3.verify import cert_serial


@functools.cache
def _key_pairs() -> tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey, rsa.RSAPrivateKey]:
    """(merchant, WeChat public-key mode, platform certificate): generated once per process."""
    return tuple(rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(3))  # type: ignore[return-value]


def _certificate(
    key: rsa.RSAPrivateKey, common_name: str, org_unit: str, valid_days: int = 5 * 365
) -> x509.Certificate:
    """A self-signed certificate with a random serial, valid five years (as WeChat's are)."""
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "pos sim (not WeChat)"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, org_unit),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=valid_days))
        .sign(key, hashes.SHA256())
    )


@dataclass(frozen=True)
class V3Identity:
    """Everything both sides need; ``public()`` is what ``GET /_sim/`` shows."""

    mchid: str
    appid: str
    apiv3_key: str
    merchant_key: rsa.RSAPrivateKey
    merchant_certificate: str
    merchant_serial_no: str
    wechat_key: rsa.RSAPrivateKey
    wechatpay_public_key_id: str
    platform_key: rsa.RSAPrivateKey
    platform_certificate: str
    platform_serial_no: str
    # Platform certificates replaced by a rotation, still listed and usable until they expire, as
    # WeChat keeps the old one beside the new: (serial, private key, PEM).
    retired_platform: tuple[tuple[str, rsa.RSAPrivateKey, str], ...] = ()

    def signing_key(self, serial: str) -> rsa.RSAPrivateKey | None:
        """WeChat's private key behind ``serial`` (the public key id or a platform serial)."""
        if serial == self.wechatpay_public_key_id:
            return self.wechat_key
        if serial == self.platform_serial_no:
            return self.platform_key
        return next((key for old, key, _ in self.retired_platform if old == serial), None)

    def platform_certificates(self) -> list[str]:
        """Every platform certificate ``/v3/certificates`` lists (PEM): retired ones, then the current."""
        return [pem for _, _, pem in self.retired_platform] + [self.platform_certificate]

    def public(self) -> dict[str, str]:
        """What a v3 merchant configures (appid comes with the v2 identity, the same value)."""
        return {
            "appid": self.appid,
            "mchid": self.mchid,
            "apiv3_key": self.apiv3_key,
            "merchant_private_key": crypto.private_pem(self.merchant_key),
            "merchant_certificate": self.merchant_certificate,
            "merchant_serial_no": self.merchant_serial_no,
            "wechatpay_public_key": crypto.public_pem(self.wechat_key.public_key()),
            "wechatpay_public_key_id": self.wechatpay_public_key_id,
            "platform_certificate": self.platform_certificate,
            "platform_serial_no": self.platform_serial_no,
        }


def rotate_platform(identity: V3Identity, valid_days: int = 5 * 365, keep_old: bool = True) -> V3Identity:
    """``identity`` with a new platform certificate (a new key, ``valid_days`` long) that signs from
    now on; the old one is kept beside it (WeChat's overlap), or with ``keep_old=False`` no longer
    listed nor used (as if revoked). A test's way to meet a rotation."""
    from cryptography.hazmat.primitives.serialization import Encoding

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    certificate = _certificate(key, "Tenpay.com Root CA (sandbox)", "微信支付平台证书 (sandbox)", valid_days)
    retired = (identity.platform_serial_no, identity.platform_key, identity.platform_certificate)
    return dataclasses.replace(
        identity,
        platform_key=key,
        platform_certificate=certificate.public_bytes(Encoding.PEM).decode("ascii"),
        platform_serial_no=cert_serial(certificate),
        retired_platform=(*identity.retired_platform, retired) if keep_old else (),
    )


def make_identity(mchid: str, appid: str) -> V3Identity:
    merchant, wechat, platform = _key_pairs()
    from cryptography.hazmat.primitives.serialization import Encoding

    merchant_cert = _certificate(merchant, f"{mchid}", "商户API证书 (sandbox)")
    platform_cert = _certificate(platform, "Tenpay.com Root CA (sandbox)", "微信支付平台证书 (sandbox)")
    alphabet = string.ascii_letters + string.digits
    return V3Identity(
        mchid=mchid,
        appid=appid,
        apiv3_key="".join(secrets.choice(alphabet) for _ in range(32)),
        merchant_key=merchant,
        merchant_certificate=merchant_cert.public_bytes(Encoding.PEM).decode("ascii"),
        merchant_serial_no=cert_serial(merchant_cert),
        wechat_key=wechat,
        wechatpay_public_key_id="PUB_KEY_ID_" + "".join(secrets.choice(string.digits) for _ in range(34)),
        platform_key=platform,
        platform_certificate=platform_cert.public_bytes(Encoding.PEM).decode("ascii"),
        platform_serial_no=cert_serial(platform_cert),
    )
