"""Closing an order within its first 5 minutes, three ways (switch ``Faults.early_close``).

WeChat documents "订单生成后不能马上调用关单接口，最短调用时间间隔为5分钟" but no error code for
it, and a merchant reports that such an early close can answer normally while the order stays
payable. So the simulator's default is the dangerous one, the one a till must survive:

- ``ignored`` (default): answer SUCCESS, leave the order open: it can still be paid, and the
  query still says NOTPAY. A merchant that takes the answer as final loses that payment.
- ``refused``: answer ``result_code=FAIL`` ``err_code=TRADE_STATE_ERROR`` with the rule's text
  (UNVERIFIED code: the docs name none).
- ``closed``: close it at once, as if there were no rule.

``SimSettings.close_min_age`` (simulator clock seconds, 300) is what "early" means.
"""

from __future__ import annotations

MODES = ("ignored", "refused", "closed")


def check_mode(value: object) -> str:
    """The checked switch value; ValueError says what is allowed."""
    if value not in MODES:
        raise ValueError(f"early_close must be one of {', '.join(MODES)}")
    return str(value)


def refusal_text(min_age: int) -> str:
    return f"订单生成后不能马上调用关单接口，最短调用时间间隔为{min_age // 60}分钟"
