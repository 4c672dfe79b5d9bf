"""What a reconciliation says to people, in the store's language (zh-CN by default, en).

Every difference's ``detail`` and every run's ``message`` come from here, so the
terminal, the day view and the printed slip tell the manager the same thing:
what was found, and what to do about it.
"""

from __future__ import annotations

from typing import Any

from pos.money import format_price

WORDS: dict[str, dict[str, str]] = {
    "zh-CN": {
        # run messages
        "matched": "{day} 对账相符：{matched} 笔与微信账单一致",
        "differences": "{day} 对账发现 {count} 处差异（{matched} 笔一致），请逐笔核实",
        "no_bill": "{day} 微信没有账单（当天没有微信交易），账本也没有收款",
        "no_bill_differences": "{day} 微信没有账单（当天没有微信交易），但账本有 {count} 处差异",
        "not_ready": "{day} 的微信账单尚未生成（Bill Creating），请在次日 10:00 之后再试",
        "unreachable": "{day} 无法连接微信支付（{error}），请稍后再试",
        "refused": "{day} 微信拒绝下载账单：{error}；请检查 [merchant] 的 appid、mch_id 和 api_key",
        "unreadable": "{day} 的微信账单无法读取：{error}",
        "truncated": "账单汇总为 {expected} 笔，实际收到 {got} 笔，账单不完整",
        "other_channels": "；另有 {count} 笔其他渠道的订单",
        # differences
        "unknown_order": "微信账单有这笔收款，账本中没有：请查明是哪台收银机或哪个渠道收的款",
        "unknown_refund": "微信账单有退款 {refund}，但账本中没有这笔订单",
        "other_channel": "其他销售渠道的订单（前缀 {prefix}），不计入差异",
        "fixed_paid": "微信已收款，账本原为{state}：已改为已支付并标记，请核实顾客是否拿到商品，否则退款",
        "fixed_amount": "微信收款 {bill}，账本金额 {ledger}：未改为已支付，已标记，请核实",
        "fixed_conflict": "微信账单的交易号与账本已记录的付款不同：已标记，请核实是否重复收款",
        "fixed_invalid": "微信账单的这一行无法记入账本（{error}），请人工核实",
        "amount": "金额不符：微信 {bill}，账本 {ledger}",
        "other_transaction": "微信交易号 {bill_tx} 与账本记录的 {ledger_tx} 不同：请核实是否重复收款",
        "odd_state": "微信账单状态为 {state}，账本为已支付：请核实",
        "duplicate_row": "同一订单在微信账单中出现了两次收款",
        "missing_at_wechat": "账本为已支付（微信交易号 {tx}），微信账单中没有：请用订单查询核实",
        "refund_missing_in_ledger": "微信有退款 {refund}（{bill}），账本中没有这笔退款",
        "refund_other_sale": "退款 {refund} 在账本中属于订单 {ledger_order}",
        "refund_only_in_ledger": "账本有退款 {refund}（{ledger}，{state}），微信账单中没有",
        "refund_pending": "微信已退款 {refund}，账本仍在等待确认：请同步退款结果",
        "refund_state": "退款 {refund}：微信为 {bill_state}，账本为 {ledger_state}",
        "refund_amount": "退款 {refund} 金额不符：微信 {bill}，账本 {ledger}",
        # terminal and slip
        "ledger": "账本",
        "wechat": "微信",
        "slip_title": "微信对账",
        "slip_status": "对账结果",
        "slip_matched": "一致笔数",
        "slip_differences": "差异",
        "slip_other": "其他渠道",
        "status_matched": "相符",
        "status_differences": "有差异",
        "status_no_bill": "无账单",
        "status_not_ready": "账单未生成",
        "status_error": "失败",
        "kind_missing_in_ledger": "账本缺单",
        "kind_paid_at_wechat_only": "补记收款",
        "kind_missing_at_wechat": "微信缺单",
        "kind_amount": "金额不符",
        "kind_state": "状态不符",
        "kind_other_channel": "其他渠道",
        "state_NEW": "新建",
        "state_AWAITING_PAYMENT": "待支付",
        "state_EXPIRED": "已过期",
        "state_VOIDED": "已作废",
        "state_FAILED": "下单失败",
        "state_PAID": "已支付",
        "state_PARTLY_REFUNDED": "部分退款",
        "state_REFUNDED": "已退款",
        "refund_SUCCEEDED": "已退款",
        "refund_PENDING": "处理中",
        "refund_FAILED": "失败",
    },
    "en": {
        "matched": "{day}: WeChat's bill matches the ledger ({matched} rows agree)",
        "differences": "{day}: {count} difference(s) with WeChat's bill ({matched} "
        "rows agree); check each one",
        "no_bill": "{day}: WeChat has no bill (no WeChat trade that day) and "
        "the ledger took no payment either",
        "no_bill_differences": "{day}: WeChat has no bill (no WeChat trade that day) but the ledger has "
        "{count} difference(s)",
        "not_ready": "{day}: WeChat has not built the bill yet (Bill Creating); "
        "try again after 10:00 the next day",
        "unreachable": "{day}: WeChat Pay cannot be reached ({error}); try again later",
        "refused": "{day}: WeChat refused the bill download: {error}; check "
        "[merchant] appid, mch_id and api_key",
        "unreadable": "{day}: WeChat's bill cannot be read: {error}",
        "truncated": "the bill's summary counts {expected} rows but {got} arrived: the bill is incomplete",
        "other_channels": "; {count} order(s) of other sales channels",
        "unknown_order": "WeChat took this payment but the ledger has no such sale: find out which till "
        "or channel sold it",
        "unknown_refund": "WeChat lists refund {refund} of an order the ledger does not know",
        "other_channel": "an order of another sales channel (prefix {prefix}), not a difference",
        "fixed_paid": "paid at WeChat but {state} in the ledger: now marked PAID and flagged; check the "
        "customer got the goods, else refund",
        "fixed_amount": "WeChat took {bill} for a sale of {ledger}: not marked paid, flagged; check it",
        "fixed_conflict": "WeChat's transaction differs from the payment the ledger holds: flagged; check "
        "for a double payment",
        "fixed_invalid": "this bill row cannot be recorded in the ledger ({error}); check it by hand",
        "amount": "amounts differ: WeChat {bill}, ledger {ledger}",
        "other_transaction": "WeChat's transaction {bill_tx} is not the ledger's {ledger_tx}: check for a "
        "double payment",
        "odd_state": "WeChat's bill says {state} for a sale the ledger has paid: check it",
        "duplicate_row": "WeChat's bill lists two payments for this order",
        "missing_at_wechat": "paid in the ledger (transaction {tx}) but absent from WeChat's bill: check it "
        "with an order query",
        "refund_missing_in_ledger": "WeChat refunded {refund} ({bill}); the ledger has no such refund",
        "refund_other_sale": "refund {refund} belongs to order {ledger_order} in the ledger",
        "refund_only_in_ledger": "the ledger has refund {refund} ({ledger}, {state}); WeChat's bill does not",
        "refund_pending": "WeChat refunded {refund}; the ledger still waits for the "
        "confirmation: sync the refund",
        "refund_state": "refund {refund}: WeChat says {bill_state}, the ledger {ledger_state}",
        "refund_amount": "refund {refund} amounts differ: WeChat {bill}, ledger {ledger}",
        "ledger": "ledger",
        "wechat": "WeChat",
        "slip_title": "WeChat reconciliation",
        "slip_status": "Result",
        "slip_matched": "Rows agreeing",
        "slip_differences": "Differences",
        "slip_other": "Other channels",
        "status_matched": "matched",
        "status_differences": "differences",
        "status_no_bill": "no bill",
        "status_not_ready": "bill not ready",
        "status_error": "failed",
        "kind_missing_in_ledger": "not in ledger",
        "kind_paid_at_wechat_only": "payment added",
        "kind_missing_at_wechat": "not at WeChat",
        "kind_amount": "amount",
        "kind_state": "state",
        "kind_other_channel": "other channel",
        "state_NEW": "new",
        "state_AWAITING_PAYMENT": "awaiting payment",
        "state_EXPIRED": "expired",
        "state_VOIDED": "voided",
        "state_FAILED": "failed",
        "state_PAID": "paid",
        "state_PARTLY_REFUNDED": "partly refunded",
        "state_REFUNDED": "refunded",
        "refund_SUCCEEDED": "refunded",
        "refund_PENDING": "pending",
        "refund_FAILED": "failed",
    },
}


def say(key: str, language: str = "zh-CN", **values: Any) -> str:
    """The sentence ``key`` in ``language`` (zh-CN when unknown); fen values are given as ``*_fee`` ints."""
    table = WORDS.get(language, WORDS["zh-CN"])
    text = table.get(key) or WORDS["zh-CN"].get(key) or key
    return text.format(**{k: _shown(k, v) for k, v in values.items()})


def _shown(name: str, value: Any) -> Any:
    if name in ("bill", "ledger") and isinstance(value, int) and not isinstance(value, bool):
        return format_price(value)
    if value is None:
        return "-"
    return value
