"""Fixed example inputs for every template: for golden tests, the byte benchmark and previews.

All values are constants (no clock, no randomness), so the Documents, and the
bytes encoded from them, are the same on every run.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from pos.receipts import templates
from pos.receipts.document import Document
from pos.receipts.templates import (
    LabelData,
    LineItem,
    PaidSlipData,
    RefundSlipData,
    SaleSlipData,
    StateTotal,
    VoidSlipData,
    ZReportData,
)

CODE_URL = "weixin://wxpay/bizpayurl?pr=AbCdEfG"
MODE_ONE_URL = (
    "weixin://wxpay/bizpayurl?appid=wx2421b1c4370ec43b&mch_id=10000100&nonce_str=f6808210402125e30663234f94c87a8c"
    "&product_id=P001&sign=9A0A8659F005D6984697E2CA0A9CF3B7&time_stamp=1415949957"
)
OUT_TRADE_NO = "S01-01-20250314-0042"
# 2025-03-14 06:21 UTC = 14:21 in Shanghai; the order is open 15 minutes.
CREATED = datetime(2025, 3, 14, 6, 21, 5, tzinfo=UTC)
EXPIRES = datetime(2025, 3, 14, 6, 36, 5, tzinfo=UTC)

_ITEMS = (
    LineItem("可口可乐 330ml", 2, 350),
    LineItem("康师傅红烧牛肉面", 1, 550),
    LineItem("农夫山泉 550ml", 3, 200),
    LineItem("Oreo 奥利奥原味夹心饼干 116g", 1, 890),
    LineItem("鲜鸡蛋 10枚装", 1, 1280),
    LineItem("蒙牛纯牛奶 250ml×12", 1, 4500),
    LineItem("面包", 2, 600),
    LineItem("Lay's 乐事薯片 原味 70g", 2, 750),
    LineItem("维达抽纸 3包装", 1, 1590),
    LineItem("旺仔牛奶 245ml", 4, 480),
)
_ITEMS_EN = (
    LineItem("Coca-Cola 330ml", 2, 350),
    LineItem("Beef noodles (instant)", 1, 550),
    LineItem("Nongfu spring water 550ml", 3, 200),
    LineItem("Oreo original cookies 116g", 1, 890),
    LineItem("Fresh eggs, box of 10", 1, 1280),
    LineItem("Mengniu milk 250ml x12", 1, 4500),
    LineItem("Bread", 2, 600),
    LineItem("Lay's crisps original 70g", 2, 750),
    LineItem("Vinda tissues, 3 packs", 1, 1590),
    LineItem("Want Want milk 245ml", 4, 480),
)


def _shop(ascii_only: bool) -> str:
    return "Demo Shop" if ascii_only else "演示小店"


def sale(items: int = 10, *, ascii_only: bool = False) -> SaleSlipData:
    """A sale of the first ``items`` example items (up to 10), waiting to be paid.

    ``ascii_only`` gives English names, for printers without a Chinese font.
    """
    chosen = (_ITEMS_EN if ascii_only else _ITEMS)[:items]
    return SaleSlipData(
        store_name="Demo Shop" if ascii_only else "演示小店",
        lane="01",
        cashier="Wang Fang" if ascii_only else "王芳",
        out_trade_no=OUT_TRADE_NO,
        items=chosen,
        total_fen=sum(i.amount_fen for i in chosen),
        code_url=CODE_URL,
        expires_at=EXPIRES,
        created_at=CREATED,
        store_address="88 Caoxi North Rd, Shanghai" if ascii_only else "上海市徐汇区漕溪北路 88 号",
        store_phone="021-5555 0100",
        footer="Thank you" if ascii_only else "谢谢惠顾，欢迎再次光临",
    )


def paid(*, ascii_only: bool = False) -> PaidSlipData:
    return PaidSlipData(
        store_name=_shop(ascii_only),
        out_trade_no=OUT_TRADE_NO,
        total_fen=sale(ascii_only=ascii_only).total_fen,
        transaction_id="4200001234202503141234567890",
        paid_at=datetime(2025, 3, 14, 6, 23, 41, tzinfo=UTC),
        lane="01",
        footer="Thank you" if ascii_only else "谢谢惠顾，欢迎再次光临",
    )


def void(expired: bool = False, *, ascii_only: bool = False) -> VoidSlipData:
    return VoidSlipData(
        store_name=_shop(ascii_only),
        out_trade_no=OUT_TRADE_NO,
        total_fen=sale(ascii_only=ascii_only).total_fen,
        at=EXPIRES if expired else datetime(2025, 3, 14, 6, 25, 0, tzinfo=UTC),
        expired=expired,
        reason="" if expired else ("Customer cancelled" if ascii_only else "顾客取消"),
    )


def refund(*, ascii_only: bool = False) -> RefundSlipData:
    return RefundSlipData(
        store_name=_shop(ascii_only),
        out_trade_no=OUT_TRADE_NO,
        out_refund_no="R-S01-01-20250314-0042-1",
        refund_fen=700,
        total_fen=sale(ascii_only=ascii_only).total_fen,
        refunded_at=datetime(2025, 3, 14, 8, 2, 0, tzinfo=UTC),
        refund_id="50000408942025031400123456789",
        reason="Returned goods" if ascii_only else "商品退货",
    )


def z(*, ascii_only: bool = False) -> ZReportData:
    return ZReportData(
        store_name=_shop(ascii_only),
        business_day=date(2025, 3, 14),
        printed_at=datetime(2025, 3, 14, 14, 5, 0, tzinfo=UTC),
        by_state=(
            StateTotal("PAID", 41, 128_350),
            StateTotal("PARTLY_REFUNDED", 1, 14_440),
            StateTotal("REFUNDED", 1, 2_000),
            StateTotal("EXPIRED", 3, 4_210),
            StateTotal("VOIDED", 2, 1_500),
            StateTotal("FAILED", 1, 990),
        ),
        paid_fen=144_790,
        refunded_fen=2_700,
        lane="01",
    )


def label(*, ascii_only: bool = False) -> LabelData:
    return LabelData(
        product_name="Coca-Cola 330ml" if ascii_only else "可口可乐 330ml",
        price_fen=350,
        code_url=MODE_ONE_URL,
        product_id="P001",
    )


def documents(
    columns: int, language: str = "zh-CN", *, ascii_only: bool = False, profile_name: str = "sample"
) -> dict[str, Document]:
    """Every template filled with the example values: {"sale": ..., "paid": ..., ..., "test": ...}."""
    a = ascii_only
    return {
        "sale": templates.sale_slip(sale(ascii_only=a), columns, language),
        "paid": templates.paid_slip(paid(ascii_only=a), columns, language),
        "void": templates.void_slip(void(ascii_only=a), columns, language),
        "expired": templates.void_slip(void(expired=True, ascii_only=a), columns, language),
        "refund": templates.refund_slip(refund(ascii_only=a), columns, language),
        "z_report": templates.z_report(z(ascii_only=a), columns, language),
        "label": templates.product_label(label(ascii_only=a), columns, language),
        "test": templates.calibration_slip(profile_name, columns, language),
    }
