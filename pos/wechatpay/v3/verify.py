"""Checking WeChat's signature on a v3 answer or notice, with the key its ``Wechatpay-Serial`` names.

WeChat signs with one of two kinds of key (docs/wechatpay-v3.md §1.3-1.4):

- "public key mode": a WeChat Pay public key with an id ``PUB_KEY_ID_…`` (merchants opened
  since late 2024 get only this);
- platform certificates, each with a hex serial, downloaded from ``/v3/certificates``.

A :class:`Verifier` holds the keys we trust, by id or serial, and refuses, in this order: a
missing header, a signature type other than ``WECHATPAY2-SHA256-RSA2048``, a serial we do
not know, a timestamp 5 minutes or more away from our clock, a ``WECHATPAY/SIGNTEST/``
probe, and a signature that does not match the raw body. Nothing is decoded before that.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from pos.wechatpay.errors import SignatureError
from pos.wechatpay.v3 import crypto

MAX_SKEW = 300  # seconds: |now - Wechatpay-Timestamp| must stay under five minutes
PUBLIC_KEY_PREFIX = "PUB_KEY_ID_"
HEADERS = ("Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Signature", "Wechatpay-Serial")


def cert_serial(certificate: x509.Certificate) -> str:
    """A certificate's serial as WeChat writes it: upper-case hex."""
    return format(certificate.serial_number, "X")


def _header(headers: Mapping[str, str], name: str) -> str:
    # requests' and werkzeug's header maps are case-insensitive; a plain dict may not be.
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value or ""


@dataclass(frozen=True)
class Signed:
    """The signature headers of a message that passed :meth:`Verifier.verify`."""

    serial: str
    timestamp: int
    nonce: str


class Verifier:
    """The WeChat keys we trust; ``now`` is our clock (Unix seconds)."""

    def __init__(
        self, keys: Mapping[str, rsa.RSAPublicKey] | None = None, now: Callable[[], float] = time.time
    ) -> None:
        self._keys: dict[str, rsa.RSAPublicKey] = dict(keys or {})
        self.now = now

    @classmethod
    def public_key(cls, key_id: str, pem: str | bytes, now: Callable[[], float] = time.time) -> Verifier:
        """Public-key mode: one WeChat Pay public key and its ``PUB_KEY_ID_…``."""
        if not key_id.startswith(PUBLIC_KEY_PREFIX):
            raise ValueError(f"a WeChat Pay public key id starts with {PUBLIC_KEY_PREFIX}, not {key_id!r}")
        return cls({key_id: crypto.load_public_key(pem)}, now)

    @classmethod
    def certificates(cls, pems: Iterable[str | bytes], now: Callable[[], float] = time.time) -> Verifier:
        """Certificate mode: platform certificates (PEM), known by their serial numbers."""
        verifier = cls(now=now)
        for pem in pems:
            verifier.add_certificate(pem)
        return verifier

    def add_certificate(self, pem: str | bytes) -> str:
        """Trust one more platform certificate (a rotation adds the new one beside the old)."""
        data = pem.encode("ascii") if isinstance(pem, str) else pem
        certificate = x509.load_pem_x509_certificate(data)
        key = certificate.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise ValueError("a platform certificate must hold an RSA key")
        serial = cert_serial(certificate)
        self._keys[serial] = key
        return serial

    def copy(self) -> Verifier:
        """Another verifier trusting the same keys (to try new certificates without keeping them)."""
        return Verifier(self._keys, self.now)

    def add_key(self, serial: str, key: rsa.RSAPublicKey) -> None:
        self._keys[serial] = key

    @property
    def serials(self) -> tuple[str, ...]:
        """The ids and serials we can verify with (the client names one in ``Wechatpay-Serial``)."""
        return tuple(self._keys)

    def key_for(self, serial: str) -> rsa.RSAPublicKey | None:
        key = self._keys.get(serial)
        if key is None and not serial.startswith(PUBLIC_KEY_PREFIX):
            key = self._keys.get(serial.upper().lstrip("0"))
        return key

    def verify(
        self, headers: Mapping[str, str], body: bytes, error: type[SignatureError] = SignatureError
    ) -> Signed:
        """Raise ``error`` unless the headers prove WeChat sent ``body`` within the last five minutes."""
        values = {name: _header(headers, name) for name in HEADERS}
        missing = [name for name, value in values.items() if not value]
        if missing:
            raise error(f"the message lacks {', '.join(missing)}")
        signature_type = _header(headers, "Wechatpay-Signature-Type")
        if signature_type and signature_type != crypto.SIGNATURE_TYPE:
            raise error(f"Wechatpay-Signature-Type {signature_type!r} is not {crypto.SIGNATURE_TYPE}")
        serial = values["Wechatpay-Serial"]
        key = self.key_for(serial)
        if key is None:
            raise error(f"Wechatpay-Serial {serial!r} names no key we trust")
        stamp = values["Wechatpay-Timestamp"]
        if not (stamp.isascii() and stamp.isdigit()) or len(stamp) > 12:
            raise error(f"Wechatpay-Timestamp {stamp!r} is not Unix seconds")
        skew = abs(self.now() - int(stamp))
        if skew >= MAX_SKEW:
            raise error(f"Wechatpay-Timestamp is {int(skew)} s away from our clock (limit {MAX_SKEW} s)")
        signature = values["Wechatpay-Signature"]
        if signature.startswith(crypto.PROBE_PREFIX):
            raise error("a WECHATPAY/SIGNTEST/ probe signature: refused, as WeChat expects")
        message = crypto.answer_message(stamp, values["Wechatpay-Nonce"], body)
        if not crypto.rsa_verify(key, message, signature):
            raise error(f"Wechatpay-Signature does not match the body (key {serial})")
        return Signed(serial, int(stamp), values["Wechatpay-Nonce"])
