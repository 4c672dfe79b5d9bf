"""One place that turns ``[merchant]`` into a WeChat Pay client: v2 or v3, by ``api``.

Everything that talks to WeChat Pay for the till's sales (checkout, the watcher's queries and
closes, refunds, reconciliation's bill, ``pos doctor``'s key check) builds its client here, so the
choice of API is made once and the callers stay the same: both clients have the same calls and
give the same value types and exceptions. Mode one (``short_url``, the scan callback's order) is
v2 only and keeps :meth:`WeChatPayClient.from_config`.
"""

from __future__ import annotations

from typing import Any

from pos.config import MerchantConfig
from pos.wechatpay.client import WeChatPayClient
from pos.wechatpay.v3.client import WeChatPayV3Client
from pos.wechatpay.v3.verify import Verifier

AnyClient = WeChatPayClient | WeChatPayV3Client
_V3_OPTIONS = ("session", "timeout", "retries", "backoff", "verify")


def v3_verifier(merchant: MerchantConfig) -> Verifier:
    """The keys v3 answers and notices are checked with: public-key mode, from ``[merchant]``."""
    return Verifier.public_key(merchant.wechatpay_public_key_id, merchant.wechatpay_public_key)


def client_for(merchant: MerchantConfig, **overrides: Any) -> AnyClient:
    """The client ``merchant.api`` names. ``overrides``: ``session``, ``timeout``, ``retries``
    (both APIs); v2's ``cert``/``verify`` are passed to v2 only (v3 needs no client certificate)."""
    if merchant.api != "v3":
        return WeChatPayClient.from_config(merchant, **overrides)
    options: dict[str, Any] = {"timeout": merchant.timeout, "verify": merchant.ca_file or True}
    options.update({k: v for k, v in overrides.items() if k in _V3_OPTIONS})
    client = WeChatPayV3Client(
        mchid=merchant.mch_id,
        appid=merchant.appid,
        private_key=merchant.private_key,
        serial_no=merchant.merchant_serial_no,
        apiv3_key=merchant.apiv3_key,
        verifier=v3_verifier(merchant),
        api_base=merchant.api_base,
        **options,
    )
    return client
