"""The words printed on slips, in the cashier's language (zh-CN by default, en available)."""

from __future__ import annotations

from string import Formatter

LANGUAGES = ("zh-CN", "en")

_WORDS: dict[str, dict[str, str]] = {
    "sale_title": {"zh-CN": "销售单", "en": "SALE"},
    "paid_title": {"zh-CN": "支付成功", "en": "PAID"},
    "void_title": {"zh-CN": "订单已作废", "en": "SALE VOIDED"},
    "expired_title": {"zh-CN": "订单已过期", "en": "SALE EXPIRED"},
    "refund_title": {"zh-CN": "退款单", "en": "REFUND"},
    "z_title": {"zh-CN": "日结报表 (Z)", "en": "Z REPORT"},
    "test_title": {"zh-CN": "打印机测试", "en": "PRINTER TEST"},
    "lane": {"zh-CN": "机号", "en": "Lane"},
    "cashier": {"zh-CN": "收银员", "en": "Cashier"},
    "order_no": {"zh-CN": "单号", "en": "Order"},
    "time": {"zh-CN": "时间", "en": "Time"},
    "item": {"zh-CN": "商品", "en": "Item"},
    "qty": {"zh-CN": "数量", "en": "Qty"},
    "unit": {"zh-CN": "单价", "en": "Price"},
    "amount": {"zh-CN": "金额", "en": "Amount"},
    "items_count": {"zh-CN": "件数", "en": "Items"},
    "total": {"zh-CN": "合计", "en": "TOTAL"},
    "scan": {"zh-CN": "请使用微信扫一扫", "en": "Scan with WeChat to pay"},
    "deadline": {"zh-CN": "请在 {hhmm} 前扫码支付", "en": "Pay before {hhmm}"},
    "method": {"zh-CN": "支付方式", "en": "Paid by"},
    "wechat_pay": {"zh-CN": "微信支付", "en": "WeChat Pay"},
    "transaction_id": {"zh-CN": "交易单号", "en": "WeChat txn"},
    "paid_at": {"zh-CN": "支付时间", "en": "Paid at"},
    "paid_amount": {"zh-CN": "实付", "en": "Paid"},
    "void_note": {
        "zh-CN": "此单未付款，二维码已失效，请勿扫码",
        "en": "Not paid. The QR code no longer works; do not scan it.",
    },
    "void_reason": {"zh-CN": "原因", "en": "Reason"},
    "refund_no": {"zh-CN": "退款单号", "en": "Refund no."},
    "refund_id": {"zh-CN": "微信退款单号", "en": "WeChat refund"},
    "refund_amount": {"zh-CN": "退款金额", "en": "Refunded"},
    "order_total": {"zh-CN": "原订单金额", "en": "Order total"},
    "refunded_at": {"zh-CN": "退款时间", "en": "Refunded at"},
    "refund_note": {
        "zh-CN": "退款将原路退回微信零钱或银行卡",
        "en": "The money goes back to the customer's WeChat wallet or card.",
    },
    "business_day": {"zh-CN": "营业日", "en": "Business day"},
    "printed_at": {"zh-CN": "打印时间", "en": "Printed"},
    "state": {"zh-CN": "状态", "en": "State"},
    "count": {"zh-CN": "笔数", "en": "Count"},
    "paid_total": {"zh-CN": "收款合计", "en": "Paid"},
    "refunded_total": {"zh-CN": "退款合计", "en": "Refunded"},
    "net_total": {"zh-CN": "净收入", "en": "Net"},
    "label_scan": {"zh-CN": "微信扫码购买", "en": "Scan with WeChat to buy"},
    "native_qr": {"zh-CN": "原生二维码 (GS ( k)", "en": "Native QR (GS ( k)"},
    "raster_qr": {"zh-CN": "图像二维码 (GS v 0)", "en": "Raster QR (GS v 0)"},
    "test_scan": {
        "zh-CN": "两个二维码都应能扫出相同内容",
        "en": "Both QR codes should scan to the same text",
    },
    "profile": {"zh-CN": "打印机配置", "en": "Profile"},
    "columns": {"zh-CN": "每行字符", "en": "Columns"},
    # A copy that may not be the first on paper (a manual reprint, or a job a crash cut short).
    "reprint_mark": {"zh-CN": "重打印 REPRINT", "en": "REPRINT"},
    "reprint_first": {"zh-CN": "首次打印 {at}", "en": "First printed {at}"},
    "reprint_note": {"zh-CN": "此为重打副本，不是新的交易", "en": "A copy, not a new sale"},
    "chinese_line": {"zh-CN": "中文测试：收银小票￥12.50", "en": "Chinese line: 中文测试 收银小票 ￥12.50"},
}

STATE_NAMES: dict[str, dict[str, str]] = {
    "NEW": {"zh-CN": "新建", "en": "New"},
    "AWAITING_PAYMENT": {"zh-CN": "待支付", "en": "Awaiting"},
    # Not a ledger state: awaiting, past its deadline, the order being closed at WeChat.
    "CLOSING": {"zh-CN": "超时关单中", "en": "Closing"},
    "PAID": {"zh-CN": "已支付", "en": "Paid"},
    "REFUNDED": {"zh-CN": "已退款", "en": "Refunded"},
    "PARTLY_REFUNDED": {"zh-CN": "部分退款", "en": "Part refunded"},
    "EXPIRED": {"zh-CN": "已过期", "en": "Expired"},
    "VOIDED": {"zh-CN": "已作废", "en": "Voided"},
    "FAILED": {"zh-CN": "下单失败", "en": "Failed"},
}


def check_language(language: str) -> str:
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, not {language!r}")
    return language


def word(key: str, language: str, **values: str) -> str:
    """The printed word for ``key``; ``values`` fill its placeholders."""
    return _WORDS[key][check_language(language)].format(**values)


def printed_words(language: str) -> list[str]:
    """Every word a slip in ``language`` can print (placeholders removed): what a font must cover."""
    check_language(language)
    tables = (*_WORDS.values(), *STATE_NAMES.values())
    return ["".join(literal for literal, *_ in Formatter().parse(t[language])) for t in tables]


def state_name(state: str, language: str) -> str:
    """A sale state as printed; unknown states print as their code."""
    return STATE_NAMES.get(state, {}).get(check_language(language), state)
