"""Mode one: a static, signed ``weixin://wxpay/bizpayurl?...`` QR per product.

The link carries appid, mch_id, product_id, time_stamp and nonce_str, signed
with the API key (MD5, like WxJava's ``createScanPayQrcodeMode1``). WeChat
checks the sign when a customer scans; a wrong one shows "原生支付URL参数错误".
It then calls the merchant's callback (see :mod:`pos.wechatpay.notices`).
The simulator reads the same links back with :func:`parse_bizpayurl`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import parse_qsl, urlencode, urlsplit

from pos.wechatpay import sign as signing
from pos.wechatpay.errors import BadBizPayUrl

PREFIX = "weixin://wxpay/bizpayurl?"
SIGNED_NAMES = ("appid", "mch_id", "product_id", "time_stamp", "nonce_str")


def bizpayurl(
    product_id: str,
    *,
    appid: str,
    mch_id: str,
    api_key: str,
    time_stamp: int | str | None = None,
    nonce_str: str | None = None,
) -> str:
    """The signed mode-one link for ``product_id`` (≤ 32 chars, the merchant's own id)."""
    if not product_id or len(product_id) > 32:
        raise ValueError("product_id must be 1 to 32 characters")
    params = {
        "appid": appid,
        "mch_id": mch_id,
        "nonce_str": nonce_str or signing.new_nonce(),
        "product_id": product_id,
        "time_stamp": str(int(time.time()) if time_stamp is None else time_stamp),
    }
    ordered = {"sign": signing.sign(params, api_key, signing.MD5)}
    ordered.update((name, params[name]) for name in SIGNED_NAMES)
    return PREFIX + urlencode(ordered)


@dataclass(frozen=True)
class BizPayUrl:
    """A parsed, verified mode-one link."""

    appid: str
    mch_id: str
    product_id: str
    time_stamp: int
    nonce_str: str
    fields: Mapping[str, str] = field(repr=False)


def is_bizpayurl(url: str) -> bool:
    """True for a mode-one link (it carries ``product_id``); a mode-two ``code_url`` has ``pr=``."""
    return url.startswith(PREFIX) and "product_id=" in url


def parse_bizpayurl(
    url: str, *, api_key: str, appid: str | None = None, mch_id: str | None = None
) -> BizPayUrl:
    """Read a mode-one link back and check its sign (and our appid/mch_id when given).

    Raises :class:`BadBizPayUrl` for anything WeChat would answer with "原生支付URL参数错误".
    """
    if not url.startswith(PREFIX):
        raise BadBizPayUrl(f"not a weixin://wxpay/bizpayurl link: {url[:40]!r}")
    pairs = parse_qsl(urlsplit(url).query, keep_blank_values=True)
    fields: dict[str, str] = {}
    for name, value in pairs:
        if name in fields:
            raise BadBizPayUrl(f"parameter {name} appears twice")
        fields[name] = value
    missing = [name for name in (*SIGNED_NAMES, "sign") if not fields.get(name)]
    if missing:
        raise BadBizPayUrl(f"bizpayurl lacks {', '.join(missing)}")
    if not fields["time_stamp"].isdigit():
        raise BadBizPayUrl(f"time_stamp {fields['time_stamp']!r} is not Unix seconds")
    if not signing.is_valid(fields, api_key, signing.MD5):
        raise BadBizPayUrl("bizpayurl sign does not match (原生支付URL参数错误)")
    if appid is not None and fields["appid"] != appid:
        raise BadBizPayUrl(f"bizpayurl is for appid {fields['appid']}, not {appid}")
    if mch_id is not None and fields["mch_id"] != mch_id:
        raise BadBizPayUrl(f"bizpayurl is for mch_id {fields['mch_id']}, not {mch_id}")
    return BizPayUrl(
        appid=fields["appid"],
        mch_id=fields["mch_id"],
        product_id=fields["product_id"],
        time_stamp=int(fields["time_stamp"]),
        nonce_str=fields["nonce_str"],
        fields=MappingProxyType(fields),
    )
