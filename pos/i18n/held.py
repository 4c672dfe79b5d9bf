"""Words of refunds WeChat could not return to the customer (``CHANGE``): held for the manager.

What the manager is told to do follows WeChat's guidance for 退款异常 (CHANGE; v3 ABNORMAL): in
the merchant platform (pay.weixin.qq.com) under 交易中心 → 退款管理/退款异常, re-send the refund
to the customer's WeChat balance (零钱), or pay the customer another way (sources in
``shared/reference/wechatpay-micropay.md`` §6 and ``wechatpay-v3.md`` §8.2).
"""

from __future__ import annotations

from pos.i18n.states import REFUND_STATE_NAMES

WORDS: dict[str, dict[str, str]] = {
    "refund.state.HELD": REFUND_STATE_NAMES["HELD"],
    "refunds.state_held": {
        "zh-CN": "退款 {out_refund_no}（{amount}）异常：微信无法把钱退回顾客的银行卡（卡已注销或冻结）。"
        "金额仍保留，请在商户平台重新发起到顾客零钱，或用其他方式退给顾客，然后在管理页面标记已处理。",
        "en": "Refund {out_refund_no} ({amount}) is held: WeChat could not return the money to the "
        "customer's card (cancelled or frozen). The amount stays reserved: re-send it to the customer's "
        "WeChat balance in the merchant platform, or pay the customer another way, then mark it resolved "
        "on the manager's page.",
    },
    "flag.refund_held": {"zh-CN": "退款异常，待处理", "en": "Refund held: act now"},
    "flag.refund_held.what": {
        "zh-CN": "退款 {out_refund_no}（{amount}）没有退到顾客手里：{message}（原路退回失败，"
        "如银行卡已注销或冻结）。顾客还没有收到这笔钱。",
        "en": "Refund {out_refund_no} ({amount}) did not reach the customer: {message} (the way back "
        "failed, e.g. the card is cancelled or frozen). The customer has not got the money yet.",
    },
    "flag.refund_held.todo": {
        "zh-CN": "登录微信支付商户平台 → 交易中心 → 退款异常，把这笔退款重新发起到顾客的微信零钱；"
        "或用现金、转账等方式退给顾客。然后在上方“退款异常”处标记处理方式。",
        "en": "In the WeChat Pay merchant platform, open Transactions → refund exceptions and re-send this "
        "refund to the customer's WeChat balance, or pay the customer back another way (cash, transfer). "
        'Then record what you did under "Refunds held" above.',
    },
    "held.title": {
        "zh-CN": "退款异常：顾客还没有收到退款",
        "en": "Refunds held: the customer has not got the money",
    },
    "held.line": {
        "zh-CN": "{day} 销售单 {out_trade_no}（{total}）退款 {out_refund_no}：{amount}",
        "en": "{day} sale {out_trade_no} ({total}), refund {out_refund_no}: {amount}",
    },
    "held.how": {"zh-CN": "处理方式", "en": "What was done"},
    "held.how.resent": {"zh-CN": "已在商户平台重新发起到零钱", "en": "Re-sent to the WeChat balance"},
    "held.how.other_means": {"zh-CN": "已用其他方式退给顾客", "en": "Paid back another way"},
    "held.note": {"zh-CN": "说明（可不填）", "en": "Note (optional)"},
    "held.resolve": {"zh-CN": "标记已退回顾客", "en": "Mark the customer paid back"},
    "held.resolved_now": {
        "zh-CN": "退款 {out_refund_no} 已标记为已退回顾客（{how}）。",
        "en": "Refund {out_refund_no} is marked as paid back to the customer ({how}).",
    },
    "held.bad_how": {
        "zh-CN": "请选择处理方式：重新发起到零钱，或其他方式。",
        "en": "Choose what was done: re-sent to the balance, or paid another way.",
    },
    "held.not_held": {
        "zh-CN": "退款 {out_refund_no} 不是待处理的异常退款（可能已处理）。",
        "en": "Refund {out_refund_no} is not a held refund (it may be resolved already).",
    },
    "held.unknown": {"zh-CN": "没有这笔退款。", "en": "There is no such refund."},
    "held.note_too_long": {"zh-CN": "说明最多 500 字。", "en": "The note is at most 500 characters."},
    "slip.refund_held": {"zh-CN": "退款异常待处理 {n} 笔", "en": "Refunds held ({n})"},
    "day.refund_held": {
        "zh-CN": "{n} 笔退款异常 {amount}（未退回顾客，不计入退款）",
        "en": "{n} held refunds, {amount} (not back with the customer, not counted as refunded)",
    },
}
