"""Platform certificates (certificate mode): ``GET /v3/certificates`` read and written.

The answer lists ``{"serial_no", "effective_time", "expire_time", "encrypt_certificate":
{"algorithm": "AEAD_AES_256_GCM", "nonce", "associated_data": "certificate", "ciphertext"}}``;
the PEM inside decrypts with the APIv3 key only, which is what makes a first download
trustworthy before any certificate is known (docs/wechatpay-v3.md §1.2).
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509

from pos.wechatpay.errors import DecryptError, InvalidField
from pos.wechatpay.times import parse_rfc3339, to_rfc3339
from pos.wechatpay.v3 import crypto
from pos.wechatpay.v3.verify import cert_serial

ASSOCIATED_DATA = "certificate"


@dataclass(frozen=True)
class PlatformCertificate:
    """One decrypted platform certificate; keep ``pem`` on disk (it is public, not a secret)."""

    serial_no: str
    effective_time: datetime
    expire_time: datetime
    pem: str


def resource_nonce() -> str:
    """12 ASCII characters, the nonce shape of WeChat's encrypted resources."""
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(12))


def read_certificates(data: Mapping[str, Any], apiv3_key: str) -> list[PlatformCertificate]:
    """Decrypt every listed certificate; the serial inside each must be the one listed."""
    entries = data.get("data")
    if not isinstance(entries, list):
        raise InvalidField("/v3/certificates: data is not a list")
    out = []
    for entry in entries:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("encrypt_certificate"), Mapping):
            raise InvalidField("/v3/certificates: an entry without encrypt_certificate")
        sealed = entry["encrypt_certificate"]
        if sealed.get("algorithm") != crypto.AES_GCM:
            raise InvalidField(f"/v3/certificates: unknown algorithm {sealed.get('algorithm')!r}")
        pem = crypto.aes_decrypt(
            apiv3_key, str(sealed.get("nonce", "")), str(sealed.get("associated_data", "")),
            str(sealed.get("ciphertext", "")),
        ).decode("ascii", "replace")  # fmt: skip
        try:
            certificate = x509.load_pem_x509_certificate(pem.encode("ascii"))
        except ValueError:
            raise DecryptError("/v3/certificates: the plaintext is not a PEM certificate") from None
        serial = str(entry.get("serial_no", ""))
        if cert_serial(certificate) != serial.upper().lstrip("0"):
            raise InvalidField(f"/v3/certificates: serial {serial!r} is not the certificate's own")
        out.append(
            PlatformCertificate(
                serial_no=serial,
                effective_time=parse_rfc3339(str(entry.get("effective_time", "")), "effective_time"),
                expire_time=parse_rfc3339(str(entry.get("expire_time", "")), "expire_time"),
                pem=pem,
            )
        )
    return out


def certificate_entry(pem: str, apiv3_key: str) -> dict[str, Any]:
    """One ``data[]`` entry as WeChat writes it (the simulator's side)."""
    certificate = x509.load_pem_x509_certificate(pem.encode("ascii"))
    nonce = resource_nonce()
    return {
        "serial_no": cert_serial(certificate),
        "effective_time": to_rfc3339(certificate.not_valid_before_utc),
        "expire_time": to_rfc3339(certificate.not_valid_after_utc),
        "encrypt_certificate": {
            "algorithm": crypto.AES_GCM,
            "nonce": nonce,
            "associated_data": ASSOCIATED_DATA,
            "ciphertext": crypto.aes_encrypt(apiv3_key, nonce, ASSOCIATED_DATA, pem.encode("ascii")),
        },
    }
