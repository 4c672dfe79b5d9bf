"""WeChat Pay API v3 (JSON over REST, RSA signatures, AES-256-GCM notices) beside v2.

Same shape as :mod:`pos.wechatpay` (v2): a client with the same calls and value types
(:class:`WeChatPayV3Client`), notices parsed into v2's notice types, one exception tree
(:mod:`pos.wechatpay.errors`) and the same bill model. What v3 adds is how messages are
proven: :mod:`.crypto` (signatures, AES-GCM), :mod:`.verify` (WeChat's public key or
platform certificates by ``Wechatpay-Serial``), :mod:`.certificates` (``/v3/certificates``),
:mod:`.certstore` (certificate mode: the certificates kept on disk and refreshed).
"""

from pos.wechatpay.v3.certificates import PlatformCertificate, read_certificates
from pos.wechatpay.v3.certstore import CertificateStore, StoreVerifier
from pos.wechatpay.v3.client import BillLink, WeChatPayV3Client
from pos.wechatpay.v3.crypto import (
    PROBE_PREFIX,
    SCHEME,
    Authorization,
    aes_decrypt,
    aes_encrypt,
    authorize,
    load_private_key,
    load_public_key,
    parse_authorization,
)
from pos.wechatpay.v3.notices import (
    SUCCESS_STATUS,
    Envelope,
    fail_reply,
    open_notice,
    parse_notice,
    payment_notice,
    refund_notice,
)
from pos.wechatpay.v3.verify import MAX_SKEW, Signed, Verifier, cert_serial

__all__ = [
    "MAX_SKEW",
    "PROBE_PREFIX",
    "SCHEME",
    "SUCCESS_STATUS",
    "Authorization",
    "BillLink",
    "CertificateStore",
    "Envelope",
    "PlatformCertificate",
    "Signed",
    "StoreVerifier",
    "Verifier",
    "WeChatPayV3Client",
    "aes_decrypt",
    "aes_encrypt",
    "authorize",
    "cert_serial",
    "fail_reply",
    "load_private_key",
    "load_public_key",
    "open_notice",
    "parse_authorization",
    "parse_notice",
    "payment_notice",
    "read_certificates",
    "refund_notice",
]
