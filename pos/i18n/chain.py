"""The chain manager's words: the chain's day by store and lane, the store a page shows, the
chain's CSV, and the store each reconciliation difference belongs to."""

from __future__ import annotations

WORDS: dict[str, dict[str, str]] = {
    "chain.title": {"zh-CN": "全部门店 · {day}", "en": "All stores · {day}"},
    "chain.link": {"zh-CN": "全部门店", "en": "All stores"},
    "chain.store_total": {"zh-CN": "门店合计", "en": "Store total"},
    "chain.total": {"zh-CN": "连锁合计", "en": "Chain total"},
    "chain.empty": {"zh-CN": "这一天没有任何门店的交易。", "en": "No store has sales on this day."},
    "chain.quiet": {"zh-CN": "本日无销售", "en": "no sales this day"},
    "chain.last_sale": {"zh-CN": "最近销售：{day}", "en": "last sale {day}"},
    "chain.quiet_note": {
        "zh-CN": "标有“本日无销售”的门店和收银机在此前 {days} 天内有过交易，这一天没有："
        "请确认门店是否营业、收银机是否在线。",
        "en": "Stores and lanes marked “no sales this day” rang up sales in the {days} days before but none "
        "on this day: check that they are open and their tills are online.",
    },
    "chain.export": {"zh-CN": "导出全部门店 CSV", "en": "Export all stores (CSV)"},
    "chain.viewing": {"zh-CN": "门店 {store}", "en": "Store {store}"},
    "chain.only": {
        "zh-CN": "只有连锁店长可以查看全部门店。",
        "en": "Only the chain's manager may see every store.",
    },
    "chain.bad_store": {
        "zh-CN": "门店编号应为 1 到 8 个字母或数字。",
        "en": "A store id is 1 to 8 letters or digits.",
    },
    "chain.no_such_store": {"zh-CN": "没有这个门店。", "en": "No such store."},
    "chain.z_own_store": {
        "zh-CN": "这台收银机只打印本店（{store}）的 Z 报表；其他门店的请在该店的收银机上打印。",
        "en": "This till prints its own store's ({store}) Z report only; "
        "print another store's at that store's till.",
    },
    "col.store": {"zh-CN": "门店", "en": "Store"},
    "csv.store": {"zh-CN": "门店", "en": "Store"},
    "recon.store": {"zh-CN": "门店 {store}", "en": "store {store}"},
    "recon.store_only": {
        "zh-CN": "只列出门店 {store} 的差异；其他门店的由连锁店长查看。",
        "en": "Store {store}'s differences only; the chain's manager sees every store's.",
    },
    "recon.store_unknown": {"zh-CN": "门店不明", "en": "store unknown"},
}
