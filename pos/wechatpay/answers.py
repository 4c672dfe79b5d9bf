"""The typed answers of the v2 client (and of v3's, which returns the same shapes).

They live apart from :mod:`pos.wechatpay.client` so that a reader of an answer (the
refund flow in :mod:`pos.orders`, the v3 client) need not know how it was fetched.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

_INDEXED = re.compile(r"^(?P<base>[a-z_]+?)_(?P<n>\d+)(?P<rest>(?:_\d+)?)$")


def frozen_fields(fields: Mapping[str, str]) -> Mapping[str, str]:
    """A read-only copy of an answer's raw fields, so a frozen result cannot change under its reader."""
    return MappingProxyType(dict(fields))


# -- results --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnifiedOrder:
    """A NATIVE order WeChat accepted: print ``code_url`` as the QR (valid two hours)."""

    prepay_id: str
    code_url: str
    trade_type: str
    fields: Mapping[str, str] = field(repr=False)


@dataclass(frozen=True)
class OrderStatus:
    """What orderquery says. ``trade_state``: SUCCESS, NOTPAY, CLOSED, REFUND, PAYERROR ..."""

    out_trade_no: str
    trade_state: str
    trade_state_desc: str
    transaction_id: str
    total_fee: int | None
    cash_fee: int | None
    time_end: datetime | None
    openid: str
    attach: str
    fields: Mapping[str, str] = field(repr=False)
    # Coupons (reference/wechatpay-micropay.md §5): what all coupons took off the customer's part, and
    # 应结订单金额, what the merchant settles; None when WeChat sent none (no coupon, or none that
    # lowers the settlement: then it is total_fee).
    coupon_fee: int | None = None
    settlement_total_fee: int | None = None

    @property
    def paid(self) -> bool:
        """True when the customer's money arrived (SUCCESS; REFUND means it arrived, then left)."""
        return self.trade_state in ("SUCCESS", "REFUND")


@dataclass(frozen=True)
class Closed:
    """closeorder succeeded. (A paid order raises BusinessError ``ORDERPAID`` instead.)"""

    out_trade_no: str
    fields: Mapping[str, str] = field(repr=False)


@dataclass(frozen=True)
class RefundAccepted:
    """WeChat accepted the refund; it is *done* only when refund_query or a notice says SUCCESS."""

    out_trade_no: str
    transaction_id: str
    out_refund_no: str
    refund_id: str
    refund_fee: int
    total_fee: int | None
    cash_refund_fee: int | None
    fields: Mapping[str, str] = field(repr=False)
    # A payment with a coupon (wechatpay-v2.md §7.1): 应结退款金额, the refund less a merchant-funded
    # coupon's share (what the merchant gives back), and the coupons' share. None where absent
    # (then the settlement refund is refund_fee).
    settlement_refund_fee: int | None = None
    coupon_refund_fee: int | None = None


@dataclass(frozen=True)
class RefundItem:
    """One refund of an order (the ``_$n`` fields of refundquery, suffix removed)."""

    out_refund_no: str
    refund_id: str
    refund_fee: int | None
    refund_status: str  # SUCCESS, PROCESSING, REFUNDCLOSE, CHANGE
    refund_channel: str
    refund_recv_accout: str
    success_time: datetime | None
    fields: Mapping[str, str] = field(repr=False)
    # settlement_refund_fee_$n and coupon_refund_fee_$n (as in RefundAccepted); None where absent.
    settlement_refund_fee: int | None = None
    coupon_refund_fee: int | None = None


@dataclass(frozen=True)
class RefundStatus:
    """What refundquery says about an order's refunds."""

    out_trade_no: str
    transaction_id: str
    total_fee: int | None
    refund_count: int
    refunds: tuple[RefundItem, ...]
    fields: Mapping[str, str] = field(repr=False)


def split_indexed(fields: Mapping[str, str]) -> tuple[dict[str, str], dict[int, dict[str, str]]]:
    """Separate plain fields from ``name_$n`` ones: ``refund_fee_0`` -> ``{0: {"refund_fee": ...}}``.

    A second index stays on the name: ``coupon_refund_fee_0_1`` -> ``{0: {"coupon_refund_fee_1": ...}}``.
    """
    plain: dict[str, str] = {}
    indexed: dict[int, dict[str, str]] = {}
    for name, value in fields.items():
        match = _INDEXED.match(name)
        if match is None:
            plain[name] = value
            continue
        indexed.setdefault(int(match["n"]), {})[match["base"] + match["rest"]] = value
    return plain, indexed
