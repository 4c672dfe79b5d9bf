"""The manager's words: login, the day view, refunds, flags, reconciliation, `pos report`.

A sale's state is named with the cashier's ``status.*`` words, so a sale is called the same on
both sides of the till.
"""

from __future__ import annotations

from pos.i18n.states import REFUND_STATE_NAMES

WORDS: dict[str, dict[str, str]] = {
    "title": {"zh-CN": "店长", "en": "Manager"},
    "login.title": {"zh-CN": "店长登录", "en": "Manager login"},
    "login.password": {"zh-CN": "密码", "en": "Password"},
    "login.submit": {"zh-CN": "登录", "en": "Log in"},
    "login.wrong": {"zh-CN": "密码错误。", "en": "Wrong password."},
    "login.tries_left": {
        "zh-CN": "再错 {n} 次将锁定 {minutes} 分钟。",
        "en": "{n} more and login locks for {minutes} minutes.",
    },
    "login.locked": {
        "zh-CN": "密码错误次数过多，登录已锁定，请 {minutes} 分钟后再试。",
        "en": "Too many wrong passwords: login is locked. Try again in {minutes} minutes.",
    },
    "login.no_password": {
        "zh-CN": "尚未设置店长密码。请在收银机上运行：pos manager set-password --config <配置文件>",
        "en": "No manager password is set. On the till, run: pos manager set-password --config <config file>",
    },
    "login.expired": {
        "zh-CN": "请重新登录（会话已过期）。",
        "en": "Please log in again (your session ended).",
    },
    "logout": {"zh-CN": "退出", "en": "Log out"},
    "csrf": {
        "zh-CN": "表单已过期或来源不明，未执行。请刷新页面后重试。",
        "en": "This form expired or did not come from this page; nothing was done. Reload and try again.",
    },
    "unauthorized": {"zh-CN": "请先登录店长页面", "en": "Log in to the manager's pages first"},
    "day.title": {"zh-CN": "营业日 {day}", "en": "Business day {day}"},
    "day.choose": {"zh-CN": "查看", "en": "Show"},
    "day.prev": {"zh-CN": "前一天", "en": "Previous day"},
    "day.next": {"zh-CN": "后一天", "en": "Next day"},
    "day.today": {"zh-CN": "今天", "en": "Today"},
    "day.paid": {"zh-CN": "收款", "en": "Paid"},
    "day.refunded": {"zh-CN": "退款", "en": "Refunded"},
    "day.net": {"zh-CN": "净收入", "en": "Net"},
    "day.coupons_title": {"zh-CN": "优惠券", "en": "Coupons"},
    "day.coupons_note": {
        "zh-CN": "收款按商品售价计；顾客用了优惠券时，顾客实付、优惠券和商户应结"
        "（微信账单的应结订单金额）如下。",
        "en": "Takings are at the sales' prices; where customers used coupons, what they paid, the coupons "
        "and what the merchant settles (the bill's settlement amount) are below.",
    },
    "day.cash_paid": {"zh-CN": "顾客实付", "en": "Paid by customers"},
    "day.coupon": {"zh-CN": "优惠券", "en": "Coupons"},
    "day.settled": {"zh-CN": "商户应结", "en": "Settled to merchant"},
    "day.settled_refunded": {"zh-CN": "应结退款", "en": "Settled refunds"},
    "day.settled_net": {"zh-CN": "应结净额", "en": "Settled net"},
    "day.sale_coupon": {
        "zh-CN": "顾客实付 {cash} · 券 {coupon} · 应结 {settled}",
        "en": "customer paid {cash} · coupon {coupon} · settled {settled}",
    },
    "day.by_cashier": {"zh-CN": "按收银员", "en": "By cashier"},
    "day.no_cashier": {"zh-CN": "（未署名）", "en": "(no name)"},
    "col.sales": {"zh-CN": "笔数", "en": "Sales"},
    "day.paid_count": {"zh-CN": "{n} 笔", "en": "{n} sales"},
    "day.refund_pending": {"zh-CN": "另有 {amount} 退款处理中", "en": "{amount} more being refunded"},
    "day.all": {"zh-CN": "全部 {n}", "en": "All {n}"},
    "day.flagged": {"zh-CN": "异常 {n}", "en": "Flagged {n}"},
    "day.chart": {"zh-CN": "每小时收款", "en": "Takings by hour"},
    "day.chart_this": {"zh-CN": "{day}（{weekday}）", "en": "{day} ({weekday})"},
    "day.chart_before": {"zh-CN": "前 {weeks} 周同日平均", "en": "Average of the {weeks} weeks before"},
    "day.chart_empty": {"zh-CN": "这一天没有收款", "en": "Nothing was paid on this day"},
    "day.export": {"zh-CN": "导出 CSV", "en": "Export CSV"},
    "day.print_z": {"zh-CN": "打印日结报表 (Z)", "en": "Print Z report"},
    "day.z_queued": {
        "zh-CN": "日结报表已发送到打印机（任务 {job}）。",
        "en": "The Z report was sent to the printer (job {job}).",
    },
    "day.sales": {"zh-CN": "销售明细", "en": "Sales"},
    "day.no_sales": {"zh-CN": "没有符合条件的销售", "en": "No sales to show"},
    "day.page": {"zh-CN": "第 {page}/{pages} 页，共 {n} 笔", "en": "Page {page} of {pages}, {n} sales"},
    "day.newer": {"zh-CN": "上一页", "en": "Previous page"},
    "day.older": {"zh-CN": "下一页", "en": "Next page"},
    "col.time": {"zh-CN": "时间", "en": "Time"},
    "col.out_trade_no": {"zh-CN": "商户订单号", "en": "Order (out_trade_no)"},
    "col.transaction_id": {"zh-CN": "微信支付单号", "en": "WeChat transaction_id"},
    "col.items": {"zh-CN": "商品", "en": "Items"},
    "col.amount": {"zh-CN": "金额", "en": "Amount"},
    "col.lane": {"zh-CN": "机号", "en": "Lane"},
    "col.cashier": {"zh-CN": "收银员", "en": "Cashier"},
    "col.state": {"zh-CN": "状态", "en": "State"},
    "col.count": {"zh-CN": "笔数", "en": "Count"},
    "refund.open": {"zh-CN": "退款", "en": "Refund"},
    "refund.amount": {"zh-CN": "退款金额（元）", "en": "Amount to refund (yuan)"},
    "refund.reason": {"zh-CN": "原因（可不填）", "en": "Reason (optional)"},
    "refund.submit": {"zh-CN": "确认退款", "en": "Refund now"},
    "refund.left": {"zh-CN": "可退 {amount}", "en": "{amount} refundable"},
    "refund.refunded": {"zh-CN": "已退 {amount}", "en": "{amount} refunded"},
    "refund.done": {
        "zh-CN": "销售单 {out_trade_no} 退款 {amount}：{state}（退款单号 {out_refund_no}）。",
        "en": "Sale {out_trade_no}, refund of {amount}: {state} (refund number {out_refund_no}).",
    },
    "refund.state.PENDING": {"zh-CN": "已提交，等待微信确认", "en": "sent, waiting for WeChat to confirm"},
    "refund.state.SUCCEEDED": REFUND_STATE_NAMES["SUCCEEDED"],
    "refund.state.FAILED": REFUND_STATE_NAMES["FAILED"],
    "refund.bad_amount": {"zh-CN": "退款金额{problem}", "en": "The amount to refund {problem}"},
    "refund.too_much": {
        "zh-CN": "退款金额 {amount} 超过可退金额 {left}",
        "en": "{amount} is more than the {left} that can still be refunded",
    },
    "refund.not_paid": {
        "zh-CN": "销售单 {out_trade_no} 未付款（{state}），不能退款",
        "en": "Sale {out_trade_no} is {state}; only a paid sale can be refunded",
    },
    "refund.refused": {"zh-CN": "退款未完成：{detail}", "en": "The refund did not go through: {detail}"},
    "flags.title": {"zh-CN": "需要处理的异常", "en": "Anomalies to look at"},
    "flags.none": {"zh-CN": "没有异常", "en": "Nothing flagged"},
    "flags.resolved": {"zh-CN": "已处理（{by}，{at}）：{note}", "en": "Resolved by {by} at {at}: {note}"},
    "flags.note": {"zh-CN": "处理说明", "en": "What was done"},
    "flags.resolve": {"zh-CN": "标记为已处理", "en": "Mark resolved"},
    "flags.resolved_now": {"zh-CN": "异常已标记为已处理。", "en": "The anomaly is marked resolved."},
    "flag.amount_mismatch": {"zh-CN": "金额不符", "en": "Amount mismatch"},
    "flag.amount_mismatch.what": {
        "zh-CN": "微信报告的付款金额 {reported} 与销售单金额 {expected} 不同，销售单未记为已付款。",
        "en": "WeChat reported a payment of {reported} for a sale of {expected}; the sale was NOT marked "
        "paid.",
    },
    "flag.amount_mismatch.todo": {
        "zh-CN": "不要凭此交货。在微信支付商户平台查这笔交易；若确实收到钱，"
        "请在商户平台退还给顾客，再重新收款。",
        "en": "Do not hand over goods on it. Look the transaction up in the WeChat Pay merchant "
        "platform; if the money really arrived, refund it there and ring the sale up again.",
    },
    "flag.paid_after_close": {"zh-CN": "关单后付款", "en": "Paid after void or expiry"},
    "flag.paid_after_close.what": {
        "zh-CN": "顾客在销售单{closed}之后付了款（{amount}）。钱已收到，已计入当天收款。",
        "en": "The customer paid ({amount}) after the sale was {closed}. The money arrived and is in the "
        "day's takings.",
    },
    "flag.paid_after_close.todo": {
        "zh-CN": "若顾客已拿到商品，无需处理；若顾客没拿到商品，请在下方销售明细中全额退款。",
        "en": "If the customer got the goods, nothing to do. If not, refund the sale in full from the "
        "list below.",
    },
    "flag.second_payment": {"zh-CN": "重复付款", "en": "Second payment"},
    "flag.second_payment.what": {
        "zh-CN": "已付款的销售单又收到一笔微信付款（{transaction_id}，{amount}），未计入收款。",
        "en": "A sale already paid received another WeChat payment ({transaction_id}, {amount}); it is "
        "not in the takings.",
    },
    "flag.second_payment.todo": {
        "zh-CN": "在微信支付商户平台核对这笔交易，把多付的钱退还给顾客。",
        "en": "Check the transaction in the WeChat Pay merchant platform and refund the extra payment to "
        "the customer.",
    },
    "flag.unknown_order": {"zh-CN": "未知订单", "en": "Unknown order"},
    "flag.unknown_order.what": {
        "zh-CN": "微信报告订单 {out_trade_no} 已付款（{amount}），但收银系统里没有这一单。",
        "en": "WeChat reported order {out_trade_no} paid ({amount}), but this till has no such order.",
    },
    "flag.unknown_order.todo": {
        "zh-CN": "若它属于本商户号的其他销售渠道，请把它的单号前缀加入配置 [store] other_channels；"
        "否则在商户平台核对并联系技术支持。",
        "en": "If it belongs to another sales channel on this merchant account, add its prefix to "
        "[store] other_channels in the config; otherwise check it in the merchant platform and "
        "call support.",
    },
    "flag.refund_failed": {"zh-CN": "退款失败", "en": "Refund failed"},
    "flag.refund_failed.what": {
        "zh-CN": "退款 {out_refund_no}（{amount}）被微信关闭，钱没有退回：{message}",
        "en": "WeChat closed refund {out_refund_no} ({amount}); the money did not go back: {message}",
    },
    "flag.refund_failed.todo": {
        "zh-CN": "再次从销售明细退款；若仍失败，在微信支付商户平台查看原因（如顾客零钱账户异常）。",
        "en": "Refund again from the list below; if it fails again, see the reason in the WeChat Pay "
        "merchant platform.",
    },
    "flag.missed_payment": {"zh-CN": "漏记付款", "en": "Missed payment"},
    "flag.missed_payment.what": {
        "zh-CN": "微信账单显示订单 {out_trade_no} 已付款（{amount}），但通知和查询都没有报告；"
        "对账时已补记为已付款。",
        "en": "WeChat's bill shows order {out_trade_no} paid ({amount}) though no notice or query "
        "reported it; reconciliation marked it paid.",
    },
    "flag.missed_payment.todo": {
        "zh-CN": "钱已收到并计入收款。若顾客当时没拿到商品（收银员以为没付款），请联系顾客补货或全额退款。",
        "en": "The money arrived and is in the takings. If the customer left without the goods (the "
        "cashier thought it unpaid), hand them over or refund the sale in full.",
    },
    "closed.VOIDED": {"zh-CN": "作废", "en": "voided"},
    "closed.EXPIRED": {"zh-CN": "过期", "en": "expired"},
    "recon.title": {"zh-CN": "与微信账单对账", "en": "Reconciliation with WeChat's bill"},
    "recon.never": {"zh-CN": "这一天还没有对账", "en": "This day has not been reconciled yet"},
    "recon.run": {"zh-CN": "立即对账", "en": "Reconcile now"},
    "recon.ran_at": {"zh-CN": "对账时间 {at}", "en": "Reconciled at {at}"},
    "recon.matched": {"zh-CN": "相符 {n} 笔", "en": "{n} matched"},
    "recon.status.matched": {"zh-CN": "全部相符", "en": "Everything matches"},
    "recon.status.differences": {"zh-CN": "有 {n} 处差异", "en": "{n} differences"},
    "recon.status.no_bill": {
        "zh-CN": "微信当天没有账单（没有交易）",
        "en": "WeChat has no bill for this day (no transactions)",
    },
    "recon.status.not_ready": {
        "zh-CN": "微信账单尚未生成（次日 10 点后可下载）",
        "en": "WeChat's bill is not ready yet (after 10:00 the next day)",
    },
    "recon.status.error": {"zh-CN": "对账出错", "en": "Reconciliation failed"},
    "recon.failed": {"zh-CN": "对账未完成：{detail}", "en": "Reconciliation did not finish: {detail}"},
    "diff.missing_in_ledger": {"zh-CN": "账单有、收银系统没有", "en": "In WeChat's bill, not in the till"},
    "diff.paid_at_wechat_only": {
        "zh-CN": "微信已付款、收银系统未记付款（已补记并标记）",
        "en": "Paid at WeChat, not in the till (now marked paid and flagged)",
    },
    "diff.missing_at_wechat": {
        "zh-CN": "收银系统已付款、微信账单没有",
        "en": "Paid in the till, absent from WeChat's bill",
    },
    "diff.amount": {"zh-CN": "金额不同", "en": "Amounts differ"},
    "diff.settlement": {"zh-CN": "应结金额不同", "en": "Settlement differs"},
    "diff.state": {"zh-CN": "状态不同", "en": "States differ"},
    "diff.other_channel": {"zh-CN": "其他销售渠道", "en": "Another sales channel"},
    "diff.fees": {"zh-CN": "收银 {ledger} / 账单 {bill}", "en": "till {ledger} / bill {bill}"},
    "weekday": {"zh-CN": "周一 周二 周三 周四 周五 周六 周日", "en": "Mon Tue Wed Thu Fri Sat Sun"},
    "cli.report_title": {"zh-CN": "{store} 营业日 {day}", "en": "{store}, business day {day}"},
    "cli.total_line": {"zh-CN": "合计", "en": "All sales"},
    "cli.csv_written": {"zh-CN": "已写入 {path}（{n} 字节）", "en": "Wrote {path} ({n} bytes)"},
    "cli.no_open_refunds": {"zh-CN": "没有处理中的退款。", "en": "No refund is pending."},
    # The manager's CSV download: its header row.
    "csv.time": {"zh-CN": "下单时间", "en": "Time"},
    "csv.out_trade_no": {"zh-CN": "商户订单号", "en": "out_trade_no"},
    "csv.transaction_id": {"zh-CN": "微信支付订单号", "en": "WeChat transaction_id"},
    "csv.items": {"zh-CN": "商品", "en": "Items"},
    "csv.amount": {"zh-CN": "金额(元)", "en": "Amount (yuan)"},
    "csv.refunded": {"zh-CN": "已退款(元)", "en": "Refunded (yuan)"},
    "csv.state": {"zh-CN": "状态", "en": "State"},
    "csv.lane": {"zh-CN": "机号", "en": "Lane"},
    "csv.cashier": {"zh-CN": "收银员", "en": "Cashier"},
    "csv.paid_at": {"zh-CN": "支付时间", "en": "Paid at"},
    "csv.cash_paid": {"zh-CN": "顾客实付(元)", "en": "Paid by customer (yuan)"},
    "csv.coupon": {"zh-CN": "优惠券(元)", "en": "Coupon (yuan)"},
    "csv.settled": {"zh-CN": "商户应结(元)", "en": "Settled to merchant (yuan)"},
}
