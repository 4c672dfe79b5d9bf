"""Words of the use cases: the checkout (``checkout.*``), refunds (``refunds.*``) and the
mode-one callback's answer to a customer in WeChat (``modeone.*``)."""

from __future__ import annotations

WORDS: dict[str, dict[str, str]] = {
    "checkout.unreachable": {
        "zh-CN": "微信支付暂时无法连接，请稍后重试",
        "en": "WeChat Pay cannot be reached right now; please try again",
    },
    "checkout.bad_key": {
        "zh-CN": "签名错误：请检查商户 API 密钥",
        "en": "Signature error: check the merchant API key",
    },
    "checkout.untrusted": {
        "zh-CN": "无法验证微信支付的应答：请检查商户号和 API 密钥",
        "en": "WeChat Pay's answer could not be verified: check the merchant id and API key",
    },
    "checkout.refused": {
        "zh-CN": "微信支付拒绝下单：{detail}",
        "en": "WeChat Pay refused the order: {detail}",
    },
    "checkout.order_closed": {
        "zh-CN": "此单号在微信已关闭或过期，请重新收款",
        "en": "WeChat has closed this order number; ring the sale up again",
    },
    "checkout.interrupted": {
        "zh-CN": "下单被中断，请点“重试”",
        "en": "Placing the order was interrupted; press Retry",
    },
    "checkout.need_items": {"zh-CN": "请添加商品或输入金额", "en": "Add items or enter an amount"},
    "checkout.items_and_amount": {"zh-CN": "商品和金额只能二选一", "en": "Give items or an amount, not both"},
    "checkout.too_many_items": {"zh-CN": "商品最多 {max} 行", "en": "At most {max} item lines"},
    "checkout.bad_item": {"zh-CN": "第 {n} 行商品无效", "en": "Item {n} is not valid"},
    "checkout.bad_name": {
        "zh-CN": "第 {n} 行商品名称须为 1–{max} 个字",
        "en": "Item {n} needs a name of 1-{max} characters",
    },
    "checkout.bad_qty": {"zh-CN": "第 {n} 行数量须为 1–{max}", "en": "Item {n}: quantity must be 1-{max}"},
    "checkout.bad_price": {"zh-CN": "第 {n} 行单价须大于 0", "en": "Item {n}: the price must be more than 0"},
    "checkout.bad_amount": {"zh-CN": "金额须大于 0", "en": "The amount must be more than 0"},
    "checkout.too_much": {"zh-CN": "金额过大", "en": "The amount is too large"},
    "checkout.bad_body": {
        "zh-CN": "商品描述最多 {max} 个字",
        "en": "The description may have at most {max} characters",
    },
    "checkout.bad_cashier": {
        "zh-CN": "收银员名称最多 64 个字",
        "en": "The cashier's name may have at most 64 characters",
    },
    "checkout.cannot_void": {
        "zh-CN": "第 {id} 单{state}，不能作废",
        "en": "Sale {id} is {state} and cannot be voided",
    },
    "checkout.still_ordering": {
        "zh-CN": "第 {id} 单正在下单，请稍候再试",
        "en": "Sale {id} is still being ordered; try again in a moment",
    },
    "checkout.cannot_retry": {
        "zh-CN": "第 {id} 单{state}，只有下单失败的单可以重试",
        "en": "Sale {id} is {state}; only a failed sale can be retried",
    },
    "checkout.default_body": {"zh-CN": "{store}-收款", "en": "{store} payment"},
    "refunds.certificate_missing": {
        "zh-CN": "退款需要微信支付商户 API 证书：请在配置文件 [merchant] 中设置 cert_file 和 "
        "key_file（apiclient_cert.pem 和 apiclient_key.pem 的路径）。",
        "en": "Refunds need the WeChat Pay merchant API certificate: set cert_file and key_file in the "
        "[merchant] section of the config (the paths of apiclient_cert.pem and apiclient_key.pem).",
    },
    "refunds.certificate_unreadable": {
        "zh-CN": "无法使用 [merchant] {key} 指定的文件 {path}：{problem}。",
        "en": "The file {path} named by [merchant] {key} cannot be used: {problem}.",
    },
    "refunds.certificate_expired": {
        "zh-CN": "商户 API 证书（[merchant] cert_file = {path}）已于 {date} 过期："
        "请在微信支付商户平台下载新证书。",
        "en": "The merchant API certificate ([merchant] cert_file = {path}) expired on {date}: download "
        "a new one from the WeChat Pay merchant platform.",
    },
    "refunds.certificate_mismatch": {
        "zh-CN": "[merchant] key_file 不是 cert_file 证书的私钥：请使用同一次下载的 apiclient_cert.pem 和 "
        "apiclient_key.pem。",
        "en": "[merchant] key_file is not the private key of the cert_file certificate: use the "
        "apiclient_cert.pem and apiclient_key.pem of the same download.",
    },
    "refunds.amount": {
        "zh-CN": "退款金额须为大于 0 的整数（单位：分）。",
        "en": "The refund amount must be a whole number of fen above 0.",
    },
    "refunds.unknown_sale": {"zh-CN": "没有这笔交易（{sale}）。", "en": "There is no sale {sale}."},
    "refunds.not_paid": {
        "zh-CN": "交易 {out_trade_no} 的状态是 {state}，只有已支付的交易可以退款。",
        "en": "Sale {out_trade_no} is {state}; only paid sales can be refunded.",
    },
    "refunds.too_much": {
        "zh-CN": "退款 {amount} 超过可退金额：交易 {out_trade_no} 实付 {total}，最多还能退 {left}。",
        "en": "A refund of {amount} is more than is left: sale {out_trade_no} was paid {total}, at most "
        "{left} can still be refunded.",
    },
    "refunds.refused": {
        "zh-CN": "微信支付拒绝了退款 {out_refund_no}（{amount}）：{reason}。没有退款，金额可以重新退。",
        "en": "WeChat Pay refused refund {out_refund_no} ({amount}): {reason}. Nothing was refunded; the "
        "amount can be refunded again.",
    },
    "refunds.pending_unreachable": {
        "zh-CN": "暂时无法连接微信支付（{detail}）。退款 {out_refund_no}（{amount}）保留为“处理中”，"
        "稍后会用同一退款单号确认或重发，请勿重复退款。",
        "en": "WeChat Pay could not be reached ({detail}). Refund {out_refund_no} ({amount}) is kept as "
        "pending: it will be confirmed, or sent again under the same number. Do not refund again.",
    },
    "refunds.pending_tls": {
        "zh-CN": "与微信支付的安全连接失败（{detail}）：请检查商户证书 [merchant] cert_file / key_file。"
        "退款 {out_refund_no}（{amount}）保留为“处理中”，请勿重复退款。",
        "en": "The secure connection to WeChat Pay failed ({detail}): check the merchant certificate, "
        "[merchant] cert_file / key_file. Refund {out_refund_no} ({amount}) is kept as pending. Do "
        "not refund again.",
    },
    "refunds.pending_busy": {
        "zh-CN": "微信支付繁忙（{detail}）。退款 {out_refund_no}（{amount}）保留为“处理中”，"
        "稍后会用同一退款单号重发，请勿重复退款。",
        "en": "WeChat Pay is busy ({detail}). Refund {out_refund_no} ({amount}) is kept as pending and "
        "will be sent again under the same number. Do not refund again.",
    },
    "refunds.pending_untrusted": {
        "zh-CN": "微信支付的回复无法验证（{detail}）。退款 {out_refund_no}（{amount}）保留为“处理中”，"
        "稍后查询确认，请勿重复退款。",
        "en": "WeChat Pay's answer could not be verified ({detail}). Refund {out_refund_no} ({amount}) "
        "is kept as pending until a query confirms it. Do not refund again.",
    },
    "refunds.state_succeeded": {
        "zh-CN": "已退款 {amount}（退款单号 {out_refund_no}）。",
        "en": "Refunded {amount} (refund {out_refund_no}).",
    },
    "refunds.state_pending": {
        "zh-CN": "退款 {out_refund_no}（{amount}）已提交，等待微信支付确认。",
        "en": "Refund {out_refund_no} ({amount}) was sent; waiting for WeChat Pay to confirm it.",
    },
    "refunds.state_failed": {
        "zh-CN": "退款 {out_refund_no}（{amount}）失败：{reason}。",
        "en": "Refund {out_refund_no} ({amount}) failed: {reason}.",
    },
    "refunds.problem.missing": {"zh-CN": "文件不存在", "en": "there is no such file"},
    "refunds.problem.permission": {
        "zh-CN": "没有读取权限（运行 pos 的用户须能读取它）",
        "en": "permission denied (the user running pos must be able to read it)",
    },
    "refunds.problem.not_cert": {"zh-CN": "不是 PEM 格式的证书", "en": "it is not a PEM certificate"},
    "refunds.problem.not_key": {
        "zh-CN": "不是未加密的 PEM 私钥",
        "en": "it is not an unencrypted PEM private key",
    },
    "modeone.unknown_product": {"zh-CN": "商品不存在或已下架", "en": "This product is not available."},
    "modeone.order_failed": {
        "zh-CN": "下单失败，请稍后重试或到收银台付款",
        "en": "The order could not be placed; please try again or pay at the till.",
    },
    "modeone.busy": {"zh-CN": "系统繁忙，请稍后重试", "en": "The shop's system is busy; please try again."},
}
