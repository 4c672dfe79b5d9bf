"""Words of paying by the customer's payment code (``paycode.*``), shown to the cashier."""

from __future__ import annotations

WORDS: dict[str, dict[str, str]] = {
    # The cashier's page (inlined with the other page.* words).
    "page.charge_code": {"zh-CN": "扫付款码", "en": "Scan payment code"},
    "page.scan_code": {
        "zh-CN": "请扫描顾客的微信付款码（或输入 18 位数字后按回车）",
        "en": "Scan the customer's WeChat payment code (or type its 18 digits and press Enter)",
    },
    "page.awaiting_code": {"zh-CN": "等待扫付款码", "en": "Waiting for the payment code"},
    "page.print_qr": {"zh-CN": "顾客没有付款码：改为打印收款码", "en": "No code: print a QR instead"},
    "page.paycode_waiting": {
        "zh-CN": "正在向微信收款……如顾客手机要求输入密码，请顾客输入",
        "en": "Charging with WeChat... if the phone asks for a password, the customer types it now",
    },
    "paycode.not_a_code": {
        "zh-CN": "这不是微信付款码（应为 10–15 开头的 18 位数字）",
        "en": "This is not a WeChat payment code (18 digits starting 10-15)",
    },
    "paycode.open_native_order": {
        "zh-CN": "此单已打印收款码，请让顾客扫纸上的码，或先作废此单",
        "en": "This sale already has a printed QR order: let the customer scan the paper, or void it first",
    },
    "paycode.bad_pay_by": {"zh-CN": "pay_by 只能是 qr 或 code", "en": "pay_by must be qr or code"},
    "paycode.in_progress": {
        "zh-CN": "此单正在用另一个付款码收款，请稍候",
        "en": "Another payment code is being charged for this sale; wait for its outcome",
    },
    "paycode.flagged": {
        "zh-CN": "微信报告的付款与此单不符，已通知店长核对；请勿重复收款",
        "en": (
            "WeChat reported a payment that does not match this sale; the manager is told. "
            "Do not charge again"
        ),
    },
    "paycode.not_payable": {"zh-CN": "此单不能再收款", "en": "This sale can no longer be paid"},
    "paycode.paid": {"zh-CN": "已收款", "en": "Paid"},
    "paycode.userpaying": {
        "zh-CN": "请顾客在手机上输入支付密码",
        "en": "The customer must enter the payment password on the phone",
    },
    "paycode.checking": {
        "zh-CN": "支付结果未知，正在向微信查询，请稍候（顾客可能需要输入密码）",
        "en": (
            "The outcome is not known yet; checking with WeChat (the customer may have to enter a password)"
        ),
    },
    "checkout.not_new": {
        "zh-CN": "第 {id} 单{state}，不能改为打印收款码",
        "en": "Sale {id} is {state}; it cannot be switched to a printed QR",
    },
    "checkout.code_in_flight": {
        "zh-CN": "第 {id} 单正在用付款码收款，请等结果出来后再改为打印收款码",
        "en": "A payment code is being charged for sale {id}; wait for its outcome before printing a QR",
    },
    "reconcile.paid_after_reverse": {
        "zh-CN": "付款码收款在撤销后仍被微信扣款（{bill}）：此款不算本单收款，请退还顾客",
        "en": (
            "A payment code the till reversed was charged at WeChat after all ({bill}): it is not "
            "this sale's payment; refund it to the customer"
        ),
    },
    "paycode.needs_v2_key": {
        "zh-CN": "付款码收款使用微信支付 API v2，需要在 [merchant] 中配置 api_key（v2 密钥）；"
        "请改为打印收款码",
        "en": "Payment codes use WeChat Pay API v2 and need [merchant] api_key (the v2 key); "
        "print a QR instead",
    },
    "paycode.expired": {
        "zh-CN": "付款码已失效或已用过，请顾客刷新付款码后重新扫",
        "en": "The payment code has expired or was used; ask the customer to refresh it and scan again",
    },
    "paycode.not_enough": {
        "zh-CN": "顾客余额不足，请顾客换一张卡后出示新的付款码",
        "en": "The customer's balance is not enough; ask them to choose another card and show a new code",
    },
    "paycode.declined": {
        "zh-CN": "付款未成功：{detail}。可换新付款码重试，或改为打印收款码",
        "en": "The payment did not go through: {detail}. Try a new code, or print a QR instead",
    },
    "paycode.cancelled": {
        "zh-CN": "顾客未完成付款，未扣款。可换新付款码重试，或改为打印收款码",
        "en": "The customer did not complete the payment; nothing was charged. Try again or print a QR",
    },
    "paycode.reversed": {
        "zh-CN": "支付结果未知，已撤销该笔付款，顾客不会被扣款。请重新收款",
        "en": (
            "The outcome stayed unknown, so the payment was reversed; the customer is not charged. "
            "Take the payment again"
        ),
    },
    "paycode.reverse_failed": {
        "zh-CN": "支付结果未知且撤销尚未成功，收银机会继续撤销，已通知店长核对；请勿重复收款",
        "en": (
            "The outcome is unknown and the reverse did not go through yet; the till keeps reversing "
            "it and the manager is told. Do not charge again yet"
        ),
    },
}
