"""Payments where the customer used a coupon (``Faults.coupon``): cash_fee < total_fee.

    {"coupon": {"fee": 300, "funded_by": "merchant"}}      ({} stops it)

Every payment while the switch is on uses a coupon worth ``fee`` fen (at most the order's
amount less 1 fen, so the customer always pays something):

- ``funded_by: "wechat"``: a 充值代金券 (``coupon_type_0=CASH``), paid for out of a fund, so
  the merchant settles the whole order: 应结订单金额 = 订单金额;
- ``funded_by: "merchant"``: a 免充值代金券 (``NO_CASH``), the merchant's own discount:
  ``settlement_total_fee`` = total_fee - coupon_fee, and the bill's 应结订单金额 says the same.

Notices and queries carry ``cash_fee``, ``coupon_fee``, ``coupon_count``, ``coupon_type_0``,
``coupon_id_0``, ``coupon_fee_0`` and (merchant-funded) ``settlement_total_fee``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pos.sandbox import ids

FUNDERS = {"wechat": "CASH", "merchant": "NO_CASH"}


def normalise(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError('coupon must be an object like {"fee": 300, "funded_by": "merchant"}')
    if not value:
        return {}
    if set(value) - {"fee", "funded_by"}:
        raise ValueError("coupon takes fee and funded_by")
    fee, funded_by = value.get("fee"), value.get("funded_by", "merchant")
    if isinstance(fee, bool) or not isinstance(fee, int) or fee <= 0:
        raise ValueError("coupon.fee must be a whole number of fen > 0")
    if funded_by not in FUNDERS:
        raise ValueError("coupon.funded_by must be wechat or merchant")
    return {"fee": fee, "funded_by": funded_by}


def apply(switch: Mapping[str, Any], total_fee: int) -> tuple[int, str, str]:
    """(coupon_fee, coupon_type, coupon_id) for a payment of ``total_fee`` now; (0, "", "") if none."""
    if not switch or total_fee < 2:
        return 0, "", ""
    return min(int(switch["fee"]), total_fee - 1), FUNDERS[switch["funded_by"]], ids.nonce()[:10]


def settlement_total_fee(total_fee: int, coupon_fee: int, coupon_type: str) -> int:
    """应结订单金额: what the merchant settles (a merchant-funded coupon is the merchant's discount)."""
    return total_fee - coupon_fee if coupon_type == "NO_CASH" else total_fee


def fields(total_fee: int, coupon_fee: int, coupon_type: str, coupon_id: str) -> dict[str, str]:
    """The coupon fields of a paid order's notice or query (none without a coupon)."""
    if not coupon_fee:
        return {}
    out = {
        "coupon_fee": str(coupon_fee),
        "coupon_count": "1",
        "coupon_type_0": coupon_type,
        "coupon_id_0": coupon_id,
        "coupon_fee_0": str(coupon_fee),
    }
    if coupon_type == "NO_CASH":
        out["settlement_total_fee"] = str(settlement_total_fee(total_fee, coupon_fee, coupon_type))
    return out
