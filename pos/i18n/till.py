"""The cashier's words: the page, the till's JSON API errors, `pos sale` and `pos till`.

The page gets the ``page.*``, ``status.*``, ``printer.*`` and ``error.*`` words as one JSON blob
(:meth:`pos.i18n.Translator.words`), so its script carries no text of its own.
"""

from __future__ import annotations

from pos.i18n.states import STATE_NAMES

WORDS: dict[str, dict[str, str]] = {
    "error.not_json": {
        "zh-CN": "请求须为 JSON（Content-Type: application/json）",
        "en": "Send JSON (Content-Type: application/json)",
    },
    "error.bad_json": {"zh-CN": "JSON 格式错误：{detail}", "en": "The JSON is malformed: {detail}"},
    "error.too_deep": {
        "zh-CN": "JSON 嵌套过深（最多 {max} 层）",
        "en": "The JSON is nested too deeply (at most {max} levels)",
    },
    "error.not_object": {"zh-CN": "请求须为一个 JSON 对象", "en": "Send one JSON object"},
    "error.unknown_field": {
        "zh-CN": "未知字段 “{field}”；可用字段：{known}",
        "en": "Unknown field '{field}'; known fields: {known}",
    },
    "error.items_or_amount": {
        "zh-CN": "请提供商品（items）或金额（amount），二选一",
        "en": "Give either items or an amount",
    },
    "error.items_empty": {"zh-CN": "商品列表为空", "en": "The item list is empty"},
    "error.items_not_list": {"zh-CN": "items 须为列表", "en": "items must be a list"},
    "error.too_many_items": {"zh-CN": "一单最多 {max} 行商品", "en": "At most {max} lines in one sale"},
    "error.item_not_object": {"zh-CN": "第 {n} 行商品须为对象", "en": "Item {n} must be an object"},
    "error.item_fields": {
        "zh-CN": "第 {n} 行商品须有 name 和 price，或 product_id",
        "en": "Item {n} needs name and price, or product_id",
    },
    "error.item_name": {
        "zh-CN": "第 {n} 行商品名称须为 1 至 {max} 个字",
        "en": "Item {n}: the name must be 1 to {max} characters",
    },
    "error.item_price": {"zh-CN": "第 {n} 行商品价格{problem}", "en": "Item {n}: the price {problem}"},
    "error.item_qty": {
        "zh-CN": "第 {n} 行商品数量须为 1 至 {max} 的整数",
        "en": "Item {n}: the quantity must be a whole number from 1 to {max}",
    },
    "error.unknown_product": {"zh-CN": "没有编号为 “{id}” 的商品", "en": "No product with id '{id}'"},
    "error.amount": {"zh-CN": "金额{problem}", "en": "The amount {problem}"},
    "error.total_too_large": {
        "zh-CN": "合计金额过大：单笔最多 {max}",
        "en": "The total is too large: at most {max} for one sale",
    },
    "error.body": {
        "zh-CN": "商品描述须为 1 至 {max} 个字",
        "en": "The description must be 1 to {max} characters",
    },
    "error.cashier": {
        "zh-CN": "收银员名称最多 {max} 个字",
        "en": "The cashier's name must be at most {max} characters",
    },
    "error.kind": {
        "zh-CN": "无法补打 “{kind}”；可选：{known}",
        "en": "Cannot reprint '{kind}'; choose {known}",
    },
    "error.date": {
        "zh-CN": "日期须为 YYYY-MM-DD 格式，例如 2026-11-27",
        "en": "The date must look like YYYY-MM-DD, e.g. 2026-11-27",
    },
    "error.date_range": {
        "zh-CN": "日期须在 {first} 至 {last} 之间",
        "en": "The date must be between {first} and {last}",
    },
    "error.no_sale": {"zh-CN": "没有编号为 {id} 的销售单", "en": "No sale with id {id}"},
    "error.no_qr": {
        "zh-CN": "销售单 {id} 没有支付二维码（{state}）",
        "en": "Sale {id} has no payment QR code ({state})",
    },
    "error.cannot_void": {
        "zh-CN": "销售单 {id} 当前为“{state}”，不能作废",
        "en": "Sale {id} is {state} and cannot be voided",
    },
    "error.cannot_retry": {
        "zh-CN": "销售单 {id} 当前为“{state}”，只有下单失败的单可以重试",
        "en": "Sale {id} is {state}; only a failed sale can be retried",
    },
    "error.nothing_to_reprint": {
        "zh-CN": "销售单 {id} 没有可补打的小票",
        "en": "Sale {id} has no slip to reprint",
    },
    "error.rejected": {"zh-CN": "无法收款：{detail}", "en": "Cannot ring this up: {detail}"},
    "error.checkout": {"zh-CN": "{text}", "en": "{text}"},
    "error.not_found": {"zh-CN": "没有这个地址", "en": "No such address"},
    "error.method": {"zh-CN": "不支持此请求方法", "en": "This method is not allowed here"},
    "error.too_large": {"zh-CN": "请求过大", "en": "The request is too large"},
    "error.ledger_unavailable": {
        "zh-CN": "暂时连不上账本数据库，请稍后重试",
        "en": "The ledger's database cannot be reached just now. Try again in a moment",
    },
    "error.internal": {
        "zh-CN": "收银系统内部错误，已记录；请重试或联系管理员",
        "en": "Internal error in the till; it was logged. Try again or call the manager",
    },
    "error.host": {
        "zh-CN": "本收银台不接受这个主机名（Host）；请用收银台的地址，或加入 [till] allowed_hosts",
        "en": "This till does not answer to that host name; use its address or add the name to [till] "
        "allowed_hosts",
    },
    "error.origin": {
        "zh-CN": "已拒绝：请求来自其他网站",
        "en": "Refused: the request came from another site",
    },
    "error.sign_in": {
        "zh-CN": "请先登录：收银员输入 PIN，或脚本发送收银台的 API 令牌",
        "en": "Sign in first: a cashier's PIN, or the till's API token for a script",
    },
    "error.bad_token": {"zh-CN": "API 令牌不正确", "en": "Wrong API token"},
    "error.csrf": {
        "zh-CN": "页面已过期，请刷新后重试",
        "en": "This page has expired; reload it and try again",
    },
    "error.pin": {"zh-CN": "收银员或 PIN 不正确", "en": "Wrong cashier or PIN"},
    "error.pin_locked": {
        "zh-CN": "PIN 错误次数过多，请 {minutes} 分钟后再试",
        "en": "Too many wrong PINs; try again in {minutes} minutes",
    },
    "error.idle": {
        "zh-CN": "{minutes} 分钟未操作，已退出登录；请重新输入 PIN",
        "en": "Signed out after {minutes} minutes without a tap; enter your PIN again",
    },
    "money.format": {
        "zh-CN": "须为数字，最多两位小数，例如 12.50",
        "en": "must be a number with at most two decimals, like 12.50",
    },
    "money.not_string": {
        "zh-CN": '须写成字符串，例如 "12.50"',
        "en": 'must be written as a string, like "12.50"',
    },
    "money.zero": {"zh-CN": "须大于 0.00", "en": "must be more than 0.00"},
    "money.negative": {"zh-CN": "不能为负数", "en": "must not be negative"},
    "money.too_large": {"zh-CN": "过大：单笔最多 {max}", "en": "is too large: at most {max} for one sale"},
    "page.code_url": {
        "zh-CN": "二维码内容（演示：粘贴到模拟器的顾客手机页）：",
        "en": "The QR's link (demo: paste it on the simulator's customer phone page):",
    },
    "status.new": {"zh-CN": "正在下单…", "en": "Placing the order…"},
    "status.awaiting": {"zh-CN": "等待顾客扫码支付", "en": "Awaiting payment"},
    "status.paid": STATE_NAMES["PAID"],
    "status.expired": {"zh-CN": "已过期（未支付）", "en": "Expired (not paid)"},
    "status.failed": {"zh-CN": "下单失败", "en": "Order failed"},
    "status.voiding": {"zh-CN": "正在作废…", "en": "Voiding…"},
    "status.closing": {"zh-CN": "已超时，关单中", "en": "Past deadline, closing"},
    "status.voided": STATE_NAMES["VOIDED"],
    "status.refunded": STATE_NAMES["REFUNDED"],
    "status.partly_refunded": STATE_NAMES["PARTLY_REFUNDED"],
    "printer.online": {"zh-CN": "打印机正常", "en": "Printer ready"},
    "printer.offline": {"zh-CN": "打印机离线", "en": "Printer offline"},
    "printer.paper_out": {"zh-CN": "打印机缺纸", "en": "Printer out of paper"},
    "printer.cover_open": {"zh-CN": "打印机盖未关", "en": "Printer cover open"},
    "printer.unknown": {"zh-CN": "打印机状态未知", "en": "Printer state unknown"},
    "printer.virtual": {"zh-CN": "虚拟打印机", "en": "Virtual printer"},
    "printer.queued": {"zh-CN": "待打印 {n} 张", "en": "{n} queued"},
    "printer.unreachable": {"zh-CN": "无法连接收银服务", "en": "Cannot reach the till"},
    "page.title": {"zh-CN": "收银台", "en": "Till"},
    "page.lane": {"zh-CN": "机号", "en": "Lane"},
    "page.products": {"zh-CN": "商品", "en": "Products"},
    "page.no_products": {
        "zh-CN": "未配置商品；请用数字键输入金额",
        "en": "No products configured; key in an amount",
    },
    "page.amount": {"zh-CN": "金额", "en": "Amount"},
    "page.add_amount": {"zh-CN": "加入", "en": "Add"},
    "page.custom_item": {"zh-CN": "手工金额", "en": "Keyed amount"},
    "page.cart": {"zh-CN": "本单", "en": "This sale"},
    "page.cart_empty": {
        "zh-CN": "点商品、扫条码或输入金额",
        "en": "Tap a product, scan a barcode or key in an amount",
    },
    "page.total": {"zh-CN": "合计", "en": "Total"},
    "page.charge": {"zh-CN": "收款", "en": "Charge"},
    "page.clear": {"zh-CN": "清空", "en": "Clear"},
    "page.remove": {"zh-CN": "删除", "en": "Remove"},
    "page.void": {"zh-CN": "作废", "en": "Void"},
    "page.confirm_void": {
        "zh-CN": "确定作废这一单？顾客将无法再付款。",
        "en": "Void this sale? The customer will not be able to pay it.",
    },
    "page.retry": {"zh-CN": "重试下单", "en": "Retry"},
    "page.reprint": {"zh-CN": "补打小票", "en": "Reprint"},
    "page.new_sale": {"zh-CN": "下一单", "en": "Next sale"},
    "page.back": {"zh-CN": "返回", "en": "Back"},
    "page.sign_in": {"zh-CN": "收银员登录", "en": "Cashier sign-in"},
    "page.choose_cashier": {"zh-CN": "选择收银员", "en": "Choose your name"},
    "page.pin": {"zh-CN": "PIN", "en": "PIN"},
    "page.sign_in_button": {"zh-CN": "登录", "en": "Sign in"},
    "page.sign_out": {"zh-CN": "交班", "en": "Sign out"},
    "page.no_cashiers": {
        "zh-CN": "还没有收银员：请在收银机上运行 pos cashier add 姓名",
        "en": "No cashiers yet: run pos cashier add NAME on the till",
    },
    "page.today": {"zh-CN": "今日销售", "en": "Today's sales"},
    "page.today_summary": {"zh-CN": "已收款 {count} 笔，共 {total}", "en": "{count} paid, {total} in all"},
    "page.no_sales": {"zh-CN": "今天还没有销售", "en": "No sales yet today"},
    "page.order_no": {"zh-CN": "单号", "en": "Order"},
    "page.pay_before": {
        "zh-CN": "请在 {time} 前支付（剩余 {left}）",
        "en": "Pay before {time} ({left} left)",
    },
    "page.scan_hint": {
        "zh-CN": "顾客用微信扫描小票上的二维码；打印机有问题时也可扫描屏幕",
        "en": "The customer scans the QR on the slip with WeChat, or this screen if the printer fails",
    },
    "page.scan_screen": {
        "zh-CN": "打印机有问题：请让顾客扫描屏幕上的二维码",
        "en": "Printer trouble: let the customer scan the code on this screen",
    },
    "page.unknown_barcode": {"zh-CN": "未知条码：{code}", "en": "Unknown barcode: {code}"},
    "page.added": {"zh-CN": "已加入：{name}", "en": "Added: {name}"},
    "page.reprint_queued": {"zh-CN": "已加入打印队列", "en": "Sent to the printer"},
    "page.enter_amount": {
        "zh-CN": "请先选商品或输入金额",
        "en": "Choose a product or key in an amount first",
    },
    "page.network_error": {
        "zh-CN": "无法连接收银服务，请稍候重试",
        "en": "Cannot reach the till; try again in a moment",
    },
    "page.paid_note": {"zh-CN": "收款成功，付款凭条正在打印", "en": "Payment received; the slip is printing"},
    "page.state": {"zh-CN": "状态", "en": "State"},
    "page.time": {"zh-CN": "时间", "en": "Time"},
    "cli.serving": {
        "zh-CN": "收银台已启动：{url}  （Ctrl-C 停止）",
        "en": "The till is serving {url}  (Ctrl-C stops)",
    },
    "cli.stopped": {"zh-CN": "收银台已停止", "en": "The till stopped"},
    "cli.exposed": {
        "zh-CN": "收银台拒绝在 {host} 上启动：局域网内任何人都能操作它。请添加收银员（pos cashier add 姓名）"
        "或设置 [till] api_token（或 POS_TILL_API_TOKEN），或改用 127.0.0.1",
        "en": "The till will not listen on {host} with nobody to sign in: anyone on the network could "
        "drive it. Add a cashier (pos cashier add NAME) or set [till] api_token (or "
        "POS_TILL_API_TOKEN), or listen on 127.0.0.1",
    },
    "cli.rung_up": {
        "zh-CN": "销售单 {id}  单号 {out_trade_no}  金额 {total}",
        "en": "Sale {id}  order {out_trade_no}  total {total}",
    },
    "cli.code_url": {"zh-CN": "支付链接：{code_url}", "en": "Payment link: {code_url}"},
    "cli.deadline": {"zh-CN": "支付截止：{time}", "en": "Pay before {time}"},
    "cli.failure": {"zh-CN": "原因：{message}", "en": "Reason: {message}"},
    "cli.unreachable": {
        "zh-CN": "无法连接收银服务 {url}：{detail}（“pos till” 是否在运行？）",
        "en": "Cannot reach the till at {url}: {detail} (is `pos till` running?)",
    },
    "cli.refused": {
        "zh-CN": "收银服务拒绝了请求（{status}）：{error}",
        "en": "The till refused ({status}): {error}",
    },
    "cli.stopped_waiting": {
        "zh-CN": "已停止等待；销售单 {id} 未作废，仍为“{state}”",
        "en": "Stopped waiting; sale {id} was not voided and is still {state}",
    },
    "cli.bad_item": {
        "zh-CN": "无法识别商品 “{item}”：须写成 名称=价格、名称=价格x数量 或商品编号，"
        "例如 拿铁=18.00x2、latte*2",
        "en": "Cannot read item '{item}': write NAME=PRICE, NAME=PRICExQTY or a product id, e.g. "
        "Latte=18.00x2 or latte*2",
    },
    "cli.amount_with_products": {
        "zh-CN": "按商品编号收款时不要再写金额 {amount}：合计由收银机按商品价格算出",
        "en": "Leave out the amount {amount} when items are product ids: the till adds up their prices",
    },
    "cli.amount_mismatch": {
        "zh-CN": "金额 {amount} 与商品合计 {total} 不符",
        "en": "The amount {amount} is not the items' total {total}",
    },
}
