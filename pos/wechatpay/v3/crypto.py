"""API v3's cryptography: the signed messages, RSA signatures, AES-256-GCM, keys.

Both sides of the protocol use these (our client and listener, and the simulator),
so the message layouts live in one place:

- a request is signed over ``METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nBODY\\n`` (five lines,
  each ending in ``\\n``, the body line empty for GET) with the merchant's private key, and
  travels in ``Authorization: WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",
  signature="…",timestamp="…",serial_no="…"``;
- an answer or notice is signed by WeChat over ``TIMESTAMP\\nNONCE\\nBODY\\n`` (raw body bytes);
- both signatures are base64 SHA256withRSA, PKCS#1 v1.5;
- notices' and certificates' ``resource`` is AEAD_AES_256_GCM under the 32-byte APIv3 key,
  with a 12-byte nonce and ``associated_data``; the ciphertext carries the 16-byte tag at its end.

See docs/wechatpay-v3.md §2, §3, §7 for the sources.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pos.wechatpay.errors import DecryptError, SignatureError

SCHEME = "WECHATPAY2-SHA256-RSA2048"
SIGNATURE_TYPE = SCHEME  # the value of Wechatpay-Signature-Type
AES_GCM = "AEAD_AES_256_GCM"
PROBE_PREFIX = "WECHATPAY/SIGNTEST/"
_AUTH_PARAM = re.compile(r'\s*([a-z_]+)="([^"]*)"\s*(?:,|$)')
_AUTH_NAMES = frozenset({"mchid", "nonce_str", "signature", "timestamp", "serial_no"})


# -- keys -----------------------------------------------------------------------------------------


def load_private_key(pem: str | bytes) -> rsa.RSAPrivateKey:
    """The merchant's ``apiclient_key.pem`` (PKCS#8 or PKCS#1 PEM, unencrypted)."""
    data = pem.encode("ascii") if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the merchant key must be an RSA private key")
    return key


def load_public_key(pem: str | bytes) -> rsa.RSAPublicKey:
    """A WeChat Pay public key (``pub_key.pem``) or the public key of a platform certificate PEM."""
    data = pem.encode("ascii") if isinstance(pem, str) else pem
    try:
        if b"CERTIFICATE" in data:
            from cryptography import x509

            key = x509.load_pem_x509_certificate(data).public_key()
        else:
            key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not a PEM public key or certificate ({exc})") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("WeChat Pay signs with RSA: the key must be an RSA public key")
    return key


def private_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def public_pem(key: rsa.RSAPublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


# -- messages and signatures ----------------------------------------------------------------------


def new_nonce() -> str:
    """32 upper-case hex characters, the shape of WeChat's examples."""
    return secrets.token_hex(16).upper()


def request_message(method: str, url: str, timestamp: str, nonce: str, body: bytes = b"") -> bytes:
    """``METHOD\\nURL\\nTS\\nNONCE\\nBODY\\n``; ``url`` is the path plus ``?query`` exactly as sent."""
    head = f"{method.upper()}\n{url}\n{timestamp}\n{nonce}\n".encode()
    return head + body + b"\n"


def answer_message(timestamp: str, nonce: str, body: bytes) -> bytes:
    """``TS\\nNONCE\\nBODY\\n`` over the raw body: what WeChat signs on answers and notices."""
    return f"{timestamp}\n{nonce}\n".encode() + body + b"\n"


def rsa_sign(key: rsa.RSAPrivateKey, message: bytes) -> str:
    """base64(SHA256withRSA PKCS#1 v1.5)."""
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode("ascii")


def rsa_verify(key: rsa.RSAPublicKey, message: bytes, signature: str) -> bool:
    """True when ``signature`` is right; a probe, bad base64 or a wrong key is simply False."""
    if not signature or signature.startswith(PROBE_PREFIX):
        return False
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return False
    try:
        key.verify(raw, message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


@dataclass(frozen=True)
class Authorization:
    """The five parameters of a request's ``Authorization`` header."""

    mchid: str
    nonce_str: str
    signature: str
    timestamp: str
    serial_no: str

    def header(self) -> str:
        return (
            f'{SCHEME} mchid="{self.mchid}",nonce_str="{self.nonce_str}",signature="{self.signature}",'
            f'timestamp="{self.timestamp}",serial_no="{self.serial_no}"'
        )


def authorize(
    key: rsa.RSAPrivateKey,
    *,
    mchid: str,
    serial_no: str,
    method: str,
    url: str,
    body: bytes,
    timestamp: int,
    nonce: str | None = None,
) -> Authorization:
    """Sign one request; ``url`` and ``body`` must be the exact bytes that go on the wire."""
    nonce = nonce or new_nonce()
    message = request_message(method, url, str(timestamp), nonce, body)
    return Authorization(mchid, nonce, rsa_sign(key, message), str(timestamp), serial_no)


def parse_authorization(header: str) -> Authorization:
    """The inverse of :meth:`Authorization.header`; parameters in any order, each exactly once.

    Raises :class:`SignatureError` naming what is wrong (the simulator turns it into v3's
    ``INVALID_REQUEST``/``SIGN_ERROR`` answer).
    """
    scheme, _, rest = header.strip().partition(" ")
    if scheme != SCHEME:
        raise SignatureError(f"Authorization scheme must be {SCHEME}")
    params: dict[str, str] = {}
    position = 0
    rest = rest.strip()
    while position < len(rest):
        match = _AUTH_PARAM.match(rest, position)
        if match is None:
            raise SignatureError('Authorization is not name="value" pairs separated by commas')
        name, value = match.groups()
        if name not in _AUTH_NAMES or name in params:
            raise SignatureError(f"Authorization has an unknown or repeated parameter {name!r}")
        params[name] = value
        position = match.end()
    missing = sorted(_AUTH_NAMES - params.keys())
    if missing:
        raise SignatureError(f"Authorization lacks {', '.join(missing)}")
    return Authorization(**params)


# -- AES-256-GCM ----------------------------------------------------------------------------------


def _aes_key(apiv3_key: str) -> bytes:
    key = apiv3_key.encode("utf-8")
    if len(key) != 32:
        raise ValueError("the APIv3 key must be 32 bytes")
    return key


def aes_encrypt(apiv3_key: str, nonce: str, associated_data: str, plaintext: bytes) -> str:
    """base64(ciphertext‖tag), as WeChat fills ``resource.ciphertext``."""
    sealed = AESGCM(_aes_key(apiv3_key)).encrypt(nonce.encode(), plaintext, associated_data.encode())
    return base64.b64encode(sealed).decode("ascii")


def aes_decrypt(apiv3_key: str, nonce: str, associated_data: str, ciphertext: str) -> bytes:
    """The plaintext of a ``resource``; :class:`DecryptError` if it is not ours or not intact."""
    try:
        sealed = base64.b64decode(ciphertext, validate=True)
    except (binascii.Error, ValueError):
        raise DecryptError("resource.ciphertext is not base64") from None
    if len(nonce.encode()) != 12:
        raise DecryptError("resource.nonce must be 12 bytes")
    try:
        return AESGCM(_aes_key(apiv3_key)).decrypt(nonce.encode(), sealed, associated_data.encode())
    except InvalidTag:
        raise DecryptError("resource does not decrypt with our APIv3 key (authentication tag)") from None
