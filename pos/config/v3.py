"""The ``[merchant]`` keys of WeChat Pay API v3, read and checked when ``api = "v3"``.

v3 proves messages with keys rather than one shared secret (docs/wechatpay-v3.md §1):

- ``mch_id`` (v3's ``mchid``) and ``appid``, as for v2;
- the APIv3 key (32 bytes, decrypts notices): ``POS_APIV3_KEY``, the systemd credential
  ``apiv3_key``, ``apiv3_key_file`` (0600) or ``apiv3_key``, first found wins;
- the merchant's private key (``apiclient_key.pem``, signs every request): the credential
  ``merchant_private_key``, ``POS_MERCHANT_PRIVATE_KEY``, or ``private_key_file`` (0600);
  and its certificate's serial number ``merchant_serial_no``;
- WeChat's side, exactly one of two modes: "public key mode", ``wechatpay_public_key_file``
  and its id ``wechatpay_public_key_id`` (``PUB_KEY_ID_…``); or "certificate mode",
  ``platform_certificates_dir``, a folder where the platform certificates downloaded from
  ``/v3/certificates`` are kept (:mod:`pos.wechatpay.v3.certstore`). Setting both, or neither,
  is an error naming all three settings: silently preferring one would hide a half-done switch.

Why the keys are checked now and not at the first sale: a key that cannot be parsed would
otherwise surface as a failed ring-up in front of a customer. Errors name the setting and
never quote a key.
"""

from __future__ import annotations

import dataclasses
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key

from pos.config.reading import read_key_file, read_secret
from pos.config.sections import ConfigError, MerchantConfig

APIV3_KEY_BYTES = 32
PUBLIC_KEY_PREFIX = "PUB_KEY_ID_"


# -- one setting at a time: the same rules for a loaded config and for ``pos init``'s answers ---------
# Each raises a ConfigError whose message is the problem alone ("must be ..."): the caller puts the
# setting's name in front (the file and key when loading, the flag or the question in ``pos init``).


def check_apiv3_key(key: str) -> str:
    """The APIv3 key, if it is 32 bytes (its length is named, never the key)."""
    size = len(key.encode("utf-8"))
    if size != APIV3_KEY_BYTES:
        raise ConfigError(
            f"must be the {APIV3_KEY_BYTES}-byte key set in WeChat Pay's merchant platform, not {size} bytes"
        )
    return key


def parse_private_key(pem: str) -> rsa.RSAPrivateKey:
    """The merchant's private key from its PEM: unencrypted, RSA, 2048 bits or more."""
    try:
        key = load_pem_private_key(pem.strip().encode("ascii"), password=None)
    except (ValueError, TypeError, UnicodeEncodeError):
        raise ConfigError("is not an unencrypted PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < 2048:
        raise ConfigError("must be an RSA key of 2048 bits or more (apiclient_key.pem)")
    return key


def certificate_serial(certificate_pem: str, private_key: rsa.RSAPrivateKey) -> str:
    """The serial (upper-case hex, as WeChat writes it) of the merchant API certificate
    (``apiclient_cert.pem``), refused unless it certifies ``private_key``: a serial copied from
    another certificate signs requests WeChat refuses at the first sale."""
    try:
        certificate = x509.load_pem_x509_certificate(certificate_pem.strip().encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise ConfigError("does not hold a PEM certificate (apiclient_cert.pem)") from None
    if certificate.public_key().public_numbers() != private_key.public_key().public_numbers():
        raise ConfigError("is not the certificate of this private key (they are not one key pair)")
    return format(certificate.serial_number, "X")


def check_public_key_id(key_id: str) -> str:
    if not key_id.startswith(PUBLIC_KEY_PREFIX):
        raise ConfigError(f"must start with {PUBLIC_KEY_PREFIX}, not {key_id!r}")
    return key_id


def parse_public_key(pem: str) -> str:
    """WeChat Pay's public key PEM, if it holds an RSA public key."""
    try:
        key = load_pem_public_key(pem.strip().encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise ConfigError("does not hold a PEM public key") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ConfigError("must hold an RSA public key")
    return pem


def read_public_file(path: str) -> str:
    """A public key's PEM (not secret: any mode will do)."""
    file = Path(path).expanduser()
    try:
        return file.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise ConfigError(f"no such file {str(file)!r}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {str(file)!r} ({type(exc).__name__})") from None


def check_certificates_dir(path: str) -> str:
    """Certificate mode's folder, expanded; refused if others may write in it (they could plant a
    certificate) or if it is a file. A missing folder is made on the first download."""
    folder = Path(path.strip()).expanduser()
    try:
        mode = folder.stat().st_mode
    except FileNotFoundError:
        return str(folder)
    except OSError as exc:
        raise ConfigError(f"cannot read {str(folder)!r} ({type(exc).__name__})") from None
    if not stat.S_ISDIR(mode):
        raise ConfigError(f"{str(folder)!r} is not a folder")
    if stat.S_IMODE(mode) & 0o022:
        raise ConfigError(
            f"{str(folder)!r} may be written by other users (mode {stat.S_IMODE(mode):04o}); "
            f"chmod go-w {str(folder)!r}"
        )
    return str(folder)


# -- the whole [merchant] table ---------------------------------------------------------------------


def _apiv3_key(merchant: MerchantConfig, raw: Mapping[str, Any], source: str, env: Mapping[str, str]) -> str:
    where = f"{source}: [merchant]"
    if "apiv3_key" in raw and "apiv3_key_file" in raw:
        raise ConfigError(f"{where} has both apiv3_key and apiv3_key_file; keep one (the file)")
    key = read_secret("apiv3_key", env)
    if not key and merchant.apiv3_key_file:
        key = read_key_file(merchant.apiv3_key_file, f"{where} apiv3_key_file")
    key = key or merchant.apiv3_key
    if not key:
        raise ConfigError(
            f'{where} api = "v3" needs the APIv3 key: POS_APIV3_KEY, the systemd credential '
            "apiv3_key, or apiv3_key_file (a 0600 file)"
        )
    try:
        return check_apiv3_key(key)
    except ConfigError as exc:
        raise ConfigError(
            f"{where} apiv3_key (or POS_APIV3_KEY, apiv3_key_file, the credential apiv3_key) {exc}"
        ) from None


def _private_key(
    merchant: MerchantConfig, raw: Mapping[str, Any], source: str, env: Mapping[str, str]
) -> str:
    where = f"{source}: [merchant]"
    if "private_key" in raw:
        raise ConfigError(
            f"{where} private_key may not sit in the config file; name the PEM file in private_key_file "
            "(mode 0600) or use the systemd credential merchant_private_key"
        )
    pem = read_secret("merchant_private_key", env)
    setting = "POS_MERCHANT_PRIVATE_KEY (or the credential merchant_private_key)"
    if not pem and merchant.private_key_file:
        pem = read_key_file(merchant.private_key_file, f"{where} private_key_file")
        setting = "private_key_file"
    if not pem:
        raise ConfigError(
            f'{where} api = "v3" needs the merchant\'s private key (apiclient_key.pem): private_key_file '
            "(mode 0600), POS_MERCHANT_PRIVATE_KEY, or the systemd credential merchant_private_key"
        )
    pem = pem.strip()
    try:
        parse_private_key(pem)
    except ConfigError as exc:
        raise ConfigError(f"{where} {setting} {exc}") from None
    return pem


def _wechatpay_public_key(merchant: MerchantConfig, source: str) -> str:
    """The public key's PEM in public-key mode; "" in certificate mode (checked here: one mode)."""
    where = f"{source}: [merchant]"
    public_mode = bool(merchant.wechatpay_public_key_file or merchant.wechatpay_public_key_id)
    certificate_mode = bool(merchant.platform_certificates_dir.strip())
    if public_mode and certificate_mode:
        raise ConfigError(
            f"{where} sets both wechatpay_public_key_file / wechatpay_public_key_id (public key mode) and "
            "platform_certificates_dir (certificate mode); keep the one WeChat Pay's merchant platform "
            "shows under API安全"
        )
    if certificate_mode:
        return ""
    if not merchant.wechatpay_public_key_file or not merchant.wechatpay_public_key_id:
        raise ConfigError(
            f'{where} api = "v3" needs WeChat Pay\'s side: wechatpay_public_key_file and '
            "wechatpay_public_key_id (WeChat Pay's public key and its PUB_KEY_ID_..., public key mode), "
            "or platform_certificates_dir (a folder for the platform certificates, certificate mode)"
        )
    try:
        check_public_key_id(merchant.wechatpay_public_key_id)
    except ConfigError as exc:
        raise ConfigError(f"{where} wechatpay_public_key_id {exc}") from None
    try:
        pem = read_public_file(merchant.wechatpay_public_key_file)
    except ConfigError as exc:
        raise ConfigError(f"{where} wechatpay_public_key_file: {exc}") from None
    try:
        return parse_public_key(pem)
    except ConfigError as exc:
        raise ConfigError(f"{where} wechatpay_public_key_file {exc}") from None


def _certificates_dir(merchant: MerchantConfig, source: str) -> str:
    if not merchant.platform_certificates_dir.strip():
        return ""
    try:
        return check_certificates_dir(merchant.platform_certificates_dir)
    except ConfigError as exc:
        raise ConfigError(f"{source}: [merchant] platform_certificates_dir: {exc}") from None


def resolve_v3(
    merchant: MerchantConfig, raw: Mapping[str, Any], source: str, env: Mapping[str, str]
) -> MerchantConfig:
    """``merchant`` with its v3 secrets and keys read, or a :class:`ConfigError` naming the setting."""
    where = f"{source}: [merchant]"
    if not merchant.merchant_serial_no.strip():
        raise ConfigError(
            f'{where} api = "v3" needs merchant_serial_no (the serial number of the merchant API '
            "certificate that goes with the private key)"
        )
    return dataclasses.replace(
        merchant,
        apiv3_key=_apiv3_key(merchant, raw, source, env),
        private_key=_private_key(merchant, raw, source, env),
        wechatpay_public_key=_wechatpay_public_key(merchant, source),
        platform_certificates_dir=_certificates_dir(merchant, source),
    )
