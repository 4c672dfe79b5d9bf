"""What a reconciliation says (``reconcile.*``): run messages, differences, the terminal and the slip.

Every difference's detail and every run's message come from here, so the terminal, the day view
and the printed slip tell the manager the same thing: what was found, and what to do about it.
"""

from __future__ import annotations

WORDS: dict[str, dict[str, str]] = {
    "reconcile.matched": {
        "zh-CN": "{day} 对账相符：{matched} 笔与微信账单一致",
        "en": "{day}: WeChat's bill matches the ledger ({matched} rows agree)",
    },
    "reconcile.differences": {
        "zh-CN": "{day} 对账发现 {count} 处差异（{matched} 笔一致），请逐笔核实",
        "en": "{day}: {count} difference(s) with WeChat's bill ({matched} rows agree); check each one",
    },
    "reconcile.no_bill": {
        "zh-CN": "{day} 微信没有账单（当天没有微信交易），账本也没有收款",
        "en": "{day}: WeChat has no bill (no WeChat trade that day) and the ledger took no payment either",
    },
    "reconcile.no_bill_differences": {
        "zh-CN": "{day} 微信没有账单（当天没有微信交易），但账本有 {count} 处差异",
        "en": "{day}: WeChat has no bill (no WeChat trade that day) but the ledger has {count} difference(s)",
    },
    "reconcile.not_ready": {
        "zh-CN": "{day} 的微信账单尚未生成（Bill Creating），请在次日 10:00 之后再试",
        "en": "{day}: WeChat has not built the bill yet (Bill Creating); try again after 10:00 the next day",
    },
    "reconcile.unreachable": {
        "zh-CN": "{day} 无法连接微信支付（{error}），请稍后再试",
        "en": "{day}: WeChat Pay cannot be reached ({error}); try again later",
    },
    "reconcile.refused": {
        "zh-CN": "{day} 微信拒绝下载账单：{error}；请检查 [merchant] 的 appid、mch_id 和 api_key",
        "en": "{day}: WeChat refused the bill download: {error}; check [merchant] appid, mch_id and api_key",
    },
    "reconcile.unreadable": {
        "zh-CN": "{day} 的微信账单无法读取：{error}",
        "en": "{day}: WeChat's bill cannot be read: {error}",
    },
    "reconcile.truncated": {
        "zh-CN": "账单汇总为 {expected} 笔，实际收到 {got} 笔，账单不完整",
        "en": "the bill's summary counts {expected} rows but {got} arrived: the bill is incomplete",
    },
    "reconcile.other_channels": {
        "zh-CN": "；另有 {count} 笔其他渠道的订单",
        "en": "; {count} order(s) of other sales channels",
    },
    "reconcile.unknown_order": {
        "zh-CN": "微信账单有这笔收款，账本中没有：请查明是哪台收银机或哪个渠道收的款",
        "en": "WeChat took this payment but the ledger has no such sale: find out which till or channel "
        "sold it",
    },
    "reconcile.unknown_refund": {
        "zh-CN": "微信账单有退款 {refund}，但账本中没有这笔订单",
        "en": "WeChat lists refund {refund} of an order the ledger does not know",
    },
    "reconcile.other_channel": {
        "zh-CN": "其他销售渠道的订单（前缀 {prefix}），不计入差异",
        "en": "an order of another sales channel (prefix {prefix}), not a difference",
    },
    "reconcile.fixed_paid": {
        "zh-CN": "微信已收款，账本原为{state}：已改为已支付并标记，请核实顾客是否拿到商品，否则退款",
        "en": "paid at WeChat but {state} in the ledger: now marked PAID and flagged; check the customer "
        "got the goods, else refund",
    },
    "reconcile.fixed_amount": {
        "zh-CN": "微信收款 {bill}，账本金额 {ledger}：未改为已支付，已标记，请核实",
        "en": "WeChat took {bill} for a sale of {ledger}: not marked paid, flagged; check it",
    },
    "reconcile.fixed_conflict": {
        "zh-CN": "微信账单的交易号与账本已记录的付款不同：已标记，请核实是否重复收款",
        "en": "WeChat's transaction differs from the payment the ledger holds: flagged; check for a "
        "double payment",
    },
    "reconcile.fixed_invalid": {
        "zh-CN": "微信账单的这一行无法记入账本（{error}），请人工核实",
        "en": "this bill row cannot be recorded in the ledger ({error}); check it by hand",
    },
    "reconcile.amount": {
        "zh-CN": "金额不符：微信 {bill}，账本 {ledger}",
        "en": "amounts differ: WeChat {bill}, ledger {ledger}",
    },
    "reconcile.settlement": {
        "zh-CN": "应结订单金额不符：微信 {bill}，账本 {ledger}（订单金额 {total} 相同）",
        "en": "settlement differs: WeChat settles {bill}, ledger {ledger} (order amount {total} agrees)",
    },
    "reconcile.other_transaction": {
        "zh-CN": "微信交易号 {bill_tx} 与账本记录的 {ledger_tx} 不同：请核实是否重复收款",
        "en": "WeChat's transaction {bill_tx} is not the ledger's {ledger_tx}: check for a double payment",
    },
    "reconcile.odd_state": {
        "zh-CN": "微信账单状态为 {state}，账本为已支付：请核实",
        "en": "WeChat's bill says {state} for a sale the ledger has paid: check it",
    },
    "reconcile.duplicate_row": {
        "zh-CN": "同一订单在微信账单中出现了两次收款",
        "en": "WeChat's bill lists two payments for this order",
    },
    "reconcile.missing_at_wechat": {
        "zh-CN": "账本为已支付（微信交易号 {tx}），微信账单中没有：请用订单查询核实",
        "en": "paid in the ledger (transaction {tx}) but absent from WeChat's bill: check it with an "
        "order query",
    },
    "reconcile.refund_missing_in_ledger": {
        "zh-CN": "微信有退款 {refund}（{bill}），账本中没有这笔退款",
        "en": "WeChat refunded {refund} ({bill}); the ledger has no such refund",
    },
    "reconcile.refund_other_sale": {
        "zh-CN": "退款 {refund} 在账本中属于订单 {ledger_order}",
        "en": "refund {refund} belongs to order {ledger_order} in the ledger",
    },
    "reconcile.refund_only_in_ledger": {
        "zh-CN": "账本有退款 {refund}（{ledger}，{state}），微信账单中没有",
        "en": "the ledger has refund {refund} ({ledger}, {state}); WeChat's bill does not",
    },
    "reconcile.refund_pending": {
        "zh-CN": "微信已退款 {refund}，账本仍在等待确认：请同步退款结果",
        "en": "WeChat refunded {refund}; the ledger still waits for the confirmation: sync the refund",
    },
    "reconcile.refund_state": {
        "zh-CN": "退款 {refund}：微信为 {bill_state}，账本为 {ledger_state}",
        "en": "refund {refund}: WeChat says {bill_state}, the ledger {ledger_state}",
    },
    "reconcile.refund_settlement": {
        "zh-CN": "退款 {refund} 应结退款金额不符：微信 {bill}，账本 {ledger}"
        "（申请退款金额 {requested} 相同）",
        "en": "refund {refund} settlement differs: WeChat gives back {bill} of the settlement, "
        "ledger {ledger} (refund amount {requested} agrees)",
    },
    "reconcile.refund_amount": {
        "zh-CN": "退款 {refund} 金额不符：微信 {bill}，账本 {ledger}",
        "en": "refund {refund} amounts differ: WeChat {bill}, ledger {ledger}",
    },
    "reconcile.ledger": {"zh-CN": "账本", "en": "ledger"},
    "reconcile.wechat": {"zh-CN": "微信", "en": "WeChat"},
    "reconcile.slip_title": {"zh-CN": "微信对账", "en": "WeChat reconciliation"},
    "reconcile.slip_status": {"zh-CN": "对账结果", "en": "Result"},
    "reconcile.slip_matched": {"zh-CN": "一致笔数", "en": "Rows agreeing"},
    "reconcile.slip_differences": {"zh-CN": "差异", "en": "Differences"},
    "reconcile.slip_other": {"zh-CN": "其他渠道", "en": "Other channels"},
    "reconcile.status_matched": {"zh-CN": "相符", "en": "matched"},
    "reconcile.status_differences": {"zh-CN": "有差异", "en": "differences"},
    "reconcile.status_no_bill": {"zh-CN": "无账单", "en": "no bill"},
    "reconcile.status_not_ready": {"zh-CN": "账单未生成", "en": "bill not ready"},
    "reconcile.status_error": {"zh-CN": "失败", "en": "failed"},
    "reconcile.kind_missing_in_ledger": {"zh-CN": "账本缺单", "en": "not in ledger"},
    "reconcile.kind_paid_at_wechat_only": {"zh-CN": "补记收款", "en": "payment added"},
    "reconcile.kind_missing_at_wechat": {"zh-CN": "微信缺单", "en": "not at WeChat"},
    "reconcile.kind_amount": {"zh-CN": "金额不符", "en": "amount"},
    "reconcile.kind_settlement": {"zh-CN": "应结金额不符", "en": "settlement"},
    "reconcile.kind_state": {"zh-CN": "状态不符", "en": "state"},
    "reconcile.kind_other_channel": {"zh-CN": "其他渠道", "en": "other channel"},
    "reconcile.queued": {
        "zh-CN": "已送打印（打印任务 {job}）",
        "en": "queued for printing (print job {job})",
    },
}
