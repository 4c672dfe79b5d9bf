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

Refunds of such a payment give the coupon back in proportion to the amount refunded
(:func:`refund_share`): WeChat's documents define the refund's figures but not how a partial
refund splits the coupon, so the simulator takes the simple rule: after each refund the coupon
refunded so far is ``coupon_fee × refunded so far ÷ total_fee`` rounded down, and the refund that
completes the order returns the rest. Each refund then has (wechatpay-v2.md §7, its field
table: "应结退款金额 = 申请退款金额 − 非充值代金券退款金额"):

- ``coupon_refund_fee``: the coupon's share; ``cash_refund_fee`` = refund_fee − that (what
  goes back to the customer's purse);
- ``settlement_refund_fee`` (应结退款金额): refund_fee less a merchant-funded (NO_CASH) coupon's
  share: what the merchant gives back. A WeChat-funded (CASH) coupon's share is returned to its
  fund out of the merchant's settlement, so there it equals refund_fee;
- the bill's refund row: 申请退款金额 = refund_fee, 退款金额 = settlement_refund_fee and
  充值券退款金额 = a CASH coupon's share;
- v3: ``amount.settlement_refund``, ``amount.discount_refund`` (the coupon's share),
  ``amount.payer_refund`` (cash) and a ``promotion_detail`` entry with ``refund_amount``
  (type ``COUPON`` for CASH, ``DISCOUNT`` for NO_CASH, as v3's refund answer names them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pos.sandbox import ids
from pos.sandbox.state import Order, Refund

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


# -- refunds ------------------------------------------------------------------------------------


def refund_share(order: Order, refund_fee: int) -> int:
    """The coupon's share of a new refund of ``refund_fee`` (see the module docstring)."""
    if not order.coupon_fee or order.total_fee <= 0:
        return 0
    live = [r for r in order.refunds if r.status != "REFUNDCLOSE"]
    refunded = sum(r.refund_fee for r in live) + refund_fee
    given = sum(r.coupon_refund_fee for r in live)
    return max(0, min(refund_fee, order.coupon_fee * refunded // order.total_fee - given))


def settlement_refund_fee(order: Order, refund: Refund) -> int:
    """应结退款金额: the refund less a merchant-funded coupon's share."""
    return (
        refund.refund_fee - refund.coupon_refund_fee if order.coupon_type == "NO_CASH" else refund.refund_fee
    )


def cash_coupon_refund_fee(order: Order, refund: Refund) -> int:
    """The bill's 充值券退款金额: a WeChat-funded (CASH) coupon's share of the refund."""
    return refund.coupon_refund_fee if order.coupon_type == "CASH" else 0


def refund_fields(order: Order, refund: Refund, suffix: str = "") -> dict[str, str]:
    """A refund's coupon and settlement fields (v2 refund answer; ``suffix`` "_0" for refundquery)."""
    share = refund.coupon_refund_fee
    out = {
        f"settlement_refund_fee{suffix}": str(settlement_refund_fee(order, refund)),
        f"coupon_refund_fee{suffix}": str(share),
        f"coupon_refund_count{suffix}": "1" if share else "0",
    }
    if not suffix:
        out["cash_refund_fee"] = str(refund.refund_fee - share)
    if share:
        out[f"coupon_type{suffix}_0"] = order.coupon_type
        out[f"coupon_refund_id{suffix}_0"] = order.coupon_id
        out[f"coupon_refund_fee{suffix}_0"] = str(share)
    return out


def v3_refund_amount(order: Order, refund: Refund) -> dict[str, Any]:
    """The refund's ``amount`` object of a v3 refund answer or query."""
    return {
        "total": order.total_fee, "refund": refund.refund_fee, "payer_total": order.cash_fee,
        "payer_refund": refund.refund_fee - refund.coupon_refund_fee,
        "settlement_refund": settlement_refund_fee(order, refund),
        "settlement_total": settlement_total_fee(order.total_fee, order.coupon_fee, order.coupon_type),
        "discount_refund": refund.coupon_refund_fee, "currency": "CNY", "from": [],
    }  # fmt: skip


def v3_refund_promotions(order: Order, refund: Refund) -> list[dict[str, Any]]:
    """The refund's ``promotion_detail`` (COUPON: 充值型 / CASH; DISCOUNT: 免充值型 / NO_CASH)."""
    if not order.coupon_fee:
        return []
    kind = "DISCOUNT" if order.coupon_type == "NO_CASH" else "COUPON"
    return [{"promotion_id": order.coupon_id, "scope": "GLOBAL", "type": kind,
             "amount": order.coupon_fee, "refund_amount": refund.coupon_refund_fee}]  # fmt: skip
