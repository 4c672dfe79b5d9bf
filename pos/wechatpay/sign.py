"""The v2 signature: MD5 or HMAC-SHA256 over the sorted, non-empty fields plus ``&key=``.

Rules (WeChat Pay v2, 安全规范 4_3): every field except ``sign`` and except empty
values, names sorted by byte order, joined as ``k=v&k=v``, then ``&key=<API key>``;
MD5 or HMAC-SHA256 (keyed with the same API key) over the UTF-8 bytes, upper-case
hex. ``sign_type`` itself is signed when present. Unknown fields are signed too:
WeChat adds fields without notice, and a verifier that drops them rejects real
messages.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping

from pos.wechatpay.errors import SignatureError

MD5 = "MD5"
HMAC_SHA256 = "HMAC-SHA256"
SIGN_TYPES = (MD5, HMAC_SHA256)


def signing_bytes(fields: Mapping[str, str], api_key: str) -> bytes:
    """The exact bytes that are hashed: ``a=1&b=2&key=API_KEY`` in UTF-8."""
    parts = [f"{name}={fields[name]}" for name in sorted(fields) if name != "sign" and fields[name] != ""]
    parts.append(f"key={api_key}")
    return "&".join(parts).encode("utf-8")


def sign(fields: Mapping[str, str], api_key: str, sign_type: str = MD5) -> str:
    """The ``sign`` value for ``fields`` (a ``sign`` already among them is ignored)."""
    message = signing_bytes(fields, api_key)
    if sign_type == MD5:
        return hashlib.md5(message).hexdigest().upper()
    if sign_type == HMAC_SHA256:
        return hmac.new(api_key.encode("utf-8"), message, hashlib.sha256).hexdigest().upper()
    raise ValueError(f"unknown sign_type {sign_type!r}; expected MD5 or HMAC-SHA256")


def is_valid(fields: Mapping[str, str], api_key: str, sign_type: str = MD5) -> bool:
    """True when ``fields['sign']`` is right for every other field; constant-time compare."""
    received = fields.get("sign", "")
    if not received:
        return False
    expected = sign(fields, api_key, sign_type)
    return hmac.compare_digest(received.upper().encode("ascii", "replace"), expected.encode("ascii"))


def signed(fields: Mapping[str, str], api_key: str, sign_type: str = MD5) -> dict[str, str]:
    """A copy of ``fields`` with its ``sign`` added (empty values dropped, as WeChat does)."""
    out = {k: v for k, v in fields.items() if v != "" and k != "sign"}
    out["sign"] = sign(out, api_key, sign_type)
    return out


def verify(fields: Mapping[str, str], api_key: str, sign_type: str = MD5) -> None:
    """Raise :class:`SignatureError` unless ``fields['sign']`` is present and right."""
    if sign_type not in SIGN_TYPES:
        raise SignatureError(f"unknown sign_type {sign_type!r}; expected MD5 or HMAC-SHA256")
    if not fields.get("sign"):
        raise SignatureError("the message carries no sign")
    if not is_valid(fields, api_key, sign_type):
        raise SignatureError(f"the sign does not match the message ({sign_type})")


def new_nonce() -> str:
    """A fresh ``nonce_str``: 32 random hex characters (WeChat allows up to 32)."""
    return secrets.token_hex(16)
