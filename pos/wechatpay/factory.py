"""One place that turns ``[merchant]`` into a WeChat Pay client: v2 or v3, by ``api``.

Everything that talks to WeChat Pay for the till's sales (checkout, the watcher's queries and
closes, refunds, reconciliation's bill, ``pos doctor``'s key check) builds its client here, so the
choice of API is made once and the callers stay the same: both clients have the same calls and
give the same value types and exceptions. Mode one (``short_url``, the scan callback's order) is
v2 only and keeps :meth:`WeChatPayClient.from_config`.

v3 verifies WeChat with a public key (``wechatpay_public_key_file``) or, in certificate mode
(``platform_certificates_dir``), with platform certificates a
:class:`~pos.wechatpay.v3.certstore.CertificateStore` keeps and refreshes through a client of
its own (the listener verifies notices but has no other use for a client).
"""

from __future__ import annotations

from typing import Any

from pos.config import MerchantConfig
from pos.wechatpay.client import WeChatPayClient
from pos.wechatpay.v3.certstore import CertificateStore, Clock, StoreVerifier
from pos.wechatpay.v3.client import WeChatPayV3Client
from pos.wechatpay.v3.verify import Verifier

AnyClient = WeChatPayClient | WeChatPayV3Client
_V3_OPTIONS = ("session", "timeout", "retries", "backoff", "verify")


def v3_verifier(merchant: MerchantConfig, *, clock: Clock | None = None, **overrides: Any) -> Verifier:
    """The keys v3 answers and notices are checked with: the public key, or (certificate mode) a
    :class:`StoreVerifier` whose store downloads through a client made with ``overrides``.
    ``clock`` is the store's expiry clock (a test's ``FakeClock``)."""
    if not merchant.platform_certificates_dir:
        return Verifier.public_key(merchant.wechatpay_public_key_id, merchant.wechatpay_public_key)
    options = {"clock": clock} if clock is not None else {}
    store = CertificateStore(merchant.platform_certificates_dir, merchant.apiv3_key, **options)
    verifier = StoreVerifier(store)
    # No retries: a notice waiting on a download must not outlast WeChat's 5 s wait for its answer.
    quick = {"retries": 0, "timeout": min(merchant.timeout, 4.0)}
    store.fetch = _v3_client(merchant, verifier, {**quick, **overrides}).certificates
    return verifier


def _v3_client(merchant: MerchantConfig, verifier: Verifier, overrides: dict[str, Any]) -> WeChatPayV3Client:
    options: dict[str, Any] = {"timeout": merchant.timeout, "verify": merchant.ca_file or True}
    options.update({k: v for k, v in overrides.items() if k in _V3_OPTIONS})
    return WeChatPayV3Client(
        mchid=merchant.mch_id,
        appid=merchant.appid,
        private_key=merchant.private_key,
        serial_no=merchant.merchant_serial_no,
        apiv3_key=merchant.apiv3_key,
        verifier=verifier,
        api_base=merchant.api_base,
        **options,
    )


def client_for(merchant: MerchantConfig, *, clock: Clock | None = None, **overrides: Any) -> AnyClient:
    """The client ``merchant.api`` names. ``overrides``: ``session``, ``timeout``, ``retries``
    (both APIs); v2's ``cert``/``verify`` are passed to v2 only (v3 needs no client certificate).
    In certificate mode the client downloads its own platform certificates (``clock``: their
    expiry clock, for tests)."""
    if merchant.api != "v3":
        return WeChatPayClient.from_config(merchant, **overrides)
    if not merchant.platform_certificates_dir:
        return _v3_client(merchant, v3_verifier(merchant), overrides)
    options = {"clock": clock} if clock is not None else {}
    store = CertificateStore(merchant.platform_certificates_dir, merchant.apiv3_key, **options)
    client = _v3_client(merchant, StoreVerifier(store), overrides)
    store.fetch = client.certificates
    return client
