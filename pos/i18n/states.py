"""Each state's name, written once per language: the ledger's sale states and refund states.

Slips, the reconciliation, the checkout's errors and the manager's pages all name a
state from here; the cashier's page has its own status lines (``status.*`` in
:mod:`pos.i18n.till`), which reuse these names where they say the same thing.
"""

from __future__ import annotations

STATE_NAMES: dict[str, dict[str, str]] = {
    # CLOSING is not a ledger state: awaiting payment, past its deadline, its order being closed at WeChat.
    "NEW": {"zh-CN": "新建", "en": "New"},
    "AWAITING_PAYMENT": {"zh-CN": "待支付", "en": "Awaiting payment"},
    "CLOSING": {"zh-CN": "超时关单中", "en": "Closing"},
    "PAID": {"zh-CN": "已支付", "en": "Paid"},
    "PARTLY_REFUNDED": {"zh-CN": "部分退款", "en": "Partly refunded"},
    "REFUNDED": {"zh-CN": "已退款", "en": "Refunded"},
    "EXPIRED": {"zh-CN": "已过期", "en": "Expired"},
    "VOIDED": {"zh-CN": "已作废", "en": "Voided"},
    "FAILED": {"zh-CN": "下单失败", "en": "Failed"},
}

REFUND_STATE_NAMES: dict[str, dict[str, str]] = {
    "SUCCEEDED": {"zh-CN": "已退款", "en": "refunded"},
    "PENDING": {"zh-CN": "处理中", "en": "pending"},
    "FAILED": {"zh-CN": "失败", "en": "failed"},
    "HELD": {"zh-CN": "异常待处理", "en": "held: manager must act"},
}

# Sale states as the cashier's page names them (``status.<word>``): the ledger's state, or
# "closing" (awaiting, past its deadline) and "voiding" (a void waits for WeChat).
STATUS_BY_STATE = {
    "CLOSING": "closing",
    "NEW": "new",
    "AWAITING_PAYMENT": "awaiting",
    "PAID": "paid",
    "PARTLY_REFUNDED": "partly_refunded",
    "REFUNDED": "refunded",
    "EXPIRED": "expired",
    "VOIDED": "voided",
    "FAILED": "failed",
}

WORDS: dict[str, dict[str, str]] = {
    **{f"state.{state}": names for state, names in STATE_NAMES.items()},
    **{f"refund_state.{state}": names for state, names in REFUND_STATE_NAMES.items()},
}
