"""Templates: the right facts on each slip, in the store's time zone, laid out for the columns."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from pos.i18n import translator
from pos.money import MAX_FEN, format_price
from pos.printing.encoder import encode
from pos.printing.preview import commands
from pos.printing.preview.parser import parse
from pos.printing.profiles import load_profile
from pos.receipts import samples, templates
from pos.receipts.document import QR, Cut, Document, Row, Text
from pos.receipts.layout import cells


def _texts(doc: Document) -> list[str]:
    return doc.text_lines()


@pytest.mark.parametrize("columns", [32, 42, 48])
def test_sale_slip_has_every_fact_and_fits_the_columns(columns):
    doc = templates.sale_slip(samples.sale(), columns)
    text = "\n".join(_texts(doc))
    assert doc.kind == "sale" and doc.out_trade_no == samples.OUT_TRADE_NO
    facts = ("演示小店", "机号: 01", "收银员: 王芳", samples.OUT_TRADE_NO, "请使用微信扫一扫", "￥147.30")
    for fact in facts:
        assert fact in text
    assert "请在 14:36 前扫码支付" in text  # 06:36 UTC shown in Asia/Shanghai
    assert doc.qr_data() == [samples.CODE_URL]
    assert isinstance(doc.blocks[-1], Cut)
    for block in doc.blocks:
        if isinstance(block, Text) and block.width == 1:
            assert cells(block.text) <= columns or " " not in block.text.strip()
    for item in samples.sale().items:
        assert any(item.name.split()[0] in t for t in _texts(doc))


def test_sale_slip_deadline_follows_the_store_time_zone():
    data = dataclasses.replace(samples.sale(), timezone="Europe/London")
    doc = templates.sale_slip(data, 48, "en")
    assert "Pay before 06:36" in _texts(doc)


def test_sale_slip_refuses_naive_times_and_wrong_totals():
    with pytest.raises(ValueError, match="timezone-aware"):
        dataclasses.replace(samples.sale(), expires_at=datetime(2025, 3, 14, 14, 36))
    with pytest.raises(ValueError, match="add up"):
        dataclasses.replace(samples.sale(), total_fen=1)


def test_wide_paper_puts_item_quantity_unit_and_amount_on_one_line():
    doc = templates.sale_slip(samples.sale(1), 48)
    line = next(t for t in _texts(doc) if t.startswith("可口可乐"))
    assert line.endswith("￥3.50    ￥7.00") and cells(line) == 48


def test_narrow_paper_puts_the_name_above_the_figures():
    doc = templates.sale_slip(samples.sale(1), 32)
    texts = _texts(doc)
    i = texts.index("可口可乐 330ml")
    assert texts[i + 1].strip().startswith("2 x ￥3.50") and texts[i + 1].endswith("￥7.00")


def test_english_sale_slip():
    doc = templates.sale_slip(samples.sale(ascii_only=True), 42, "en")
    text = "\n".join(_texts(doc))
    assert "Scan with WeChat to pay" in text and "TOTAL" in text and "Pay before 14:36" in text


def test_paid_slip_shows_amount_transaction_and_paid_time():
    doc = templates.paid_slip(samples.paid(), 32)
    text = "\n".join(_texts(doc))
    assert doc.kind == "paid" and not doc.qr_data()
    assert "4200001234202503141234567890" in text and "微信支付" in text
    assert "2025-03-14 14:23:41" in text and "￥147.30" in text


def test_void_and_expired_notices():
    void = templates.void_slip(samples.void(), 48)
    expired = templates.void_slip(samples.void(expired=True), 48, "en")
    assert (void.kind, expired.kind) == ("void", "expired")
    assert "订单已作废" in _texts(void) and "原因: 顾客取消" in _texts(void)
    assert "SALE EXPIRED" in _texts(expired)
    assert not void.qr_data() and not expired.qr_data()


def test_refund_slip():
    doc = templates.refund_slip(samples.refund(), 42)
    rows = {b.left: b.right for b in doc.blocks if isinstance(b, Row)}
    assert rows["退款金额"] == "￥7.00" and rows["原订单金额"] == "￥147.30"
    with pytest.raises(ValueError):
        dataclasses.replace(samples.refund(), refund_fen=999_999)


def test_z_report_counts_totals_and_net():
    doc = templates.z_report(samples.z(), 48)
    rows = {b.left: b.right for b in doc.blocks if isinstance(b, Row)}
    assert rows == {"收款合计": "￥1447.90", "退款合计": "￥27.00", "净收入": "￥1420.90"}
    paid_line = next(t for t in _texts(doc) if t.startswith("已支付"))
    assert paid_line.split()[1:] == ["41", "￥1283.50"]


def test_product_label_carries_the_bizpayurl():
    doc = templates.product_label(samples.label(), 32)
    assert doc.kind == "label" and doc.qr_data() == [samples.MODE_ONE_URL]
    assert "￥3.50" in _texts(doc)


def test_calibration_slip_has_both_qr_modes_a_ruler_and_the_profile():
    doc = templates.calibration_slip("xp58", 32)
    assert [b.mode for b in doc.blocks if isinstance(b, QR)] == ["native", "raster"]
    texts = _texts(doc)
    assert "打印机配置: xp58" in texts
    assert "12345678901234567890123456789012" in texts
    assert any("中文" in t for t in texts)
    assert templates.column_ruler(12) == ["         1", "123456789012"]


def test_unknown_language_is_refused():
    with pytest.raises(ValueError, match="zh-CN, en"):
        templates.sale_slip(samples.sale(), 32, "fr")


def test_documents_are_plain_data():
    doc = templates.sale_slip(samples.sale(), 32)
    assert doc == templates.sale_slip(samples.sale(), 32)
    with pytest.raises(ValueError):
        Document((), kind="receipt")
    with pytest.raises(ValueError):
        Text("two\nlines")
    with pytest.raises(ValueError):
        QR("x", mode="fast")


def test_reprint_mark_tops_any_slip_in_the_stores_language_and_fits_58mm():
    first = datetime(2026, 11, 27, 2, 5, tzinfo=UTC)
    slip = templates.calibration_slip("xp58", 32, "en")
    for language, mark, when in (
        ("zh-CN", "重打印 REPRINT", "首次打印 2026-11-27 10:05"),
        ("en", "REPRINT", "First printed 2026-11-27 10:05"),
    ):
        marked = templates.reprint_mark(slip, first, "Asia/Shanghai", language)
        assert marked.text_lines()[:2] == [mark, when]
        assert marked.blocks[0].width == 2 and cells(mark) * 2 <= 32  # double size, on one line
        assert marked.blocks[4:] == slip.blocks and marked.kind == slip.kind
    assert "REPRINT" not in " ".join(slip.text_lines())


# -- the Z report holds the largest amount the till accepts ---------------------------------------------


def _z_with_big_amounts(ascii_only: bool = False) -> templates.ZReportData:
    return dataclasses.replace(
        samples.z(ascii_only=ascii_only),
        by_state=(
            templates.StateTotal("AWAITING_PAYMENT", 1, 12_345_678_00),
            templates.StateTotal("CLOSING", 2, 4_00),
            templates.StateTotal("PAID", 3, MAX_FEN),
            templates.StateTotal("PARTLY_REFUNDED", 12345, 99_999_999_99),  # a day's total: over MAX_FEN
        ),
        paid_fen=MAX_FEN,
        refunded_fen=0,
    )


def _printed_lines(data: bytes) -> list[tuple[str, str]]:
    """The text lines as a printer prints them, read back from the ESC/POS bytes, each with the
    encoding it went out in: its width in cells is its length in bytes (GB18030 characters are two
    bytes and two cells; CP437's ¥ one)."""
    lines, current, chinese = [], b"", False
    for command in parse(data):
        if isinstance(command, commands.ChineseMode):
            chinese = command.on
        elif isinstance(command, commands.Text):
            current += command.data
        elif isinstance(command, commands.LineFeed):
            codec = "gb18030" if chinese else "cp437"
            lines.append((current.decode(codec), codec))
            current = b""
    return lines


@pytest.mark.parametrize(
    ("name", "language"),
    [("xp58", "zh-CN"), ("xp58", "en"), ("sunmi58", "zh-CN"), ("xp80", "zh-CN"), ("xp80", "en"),
     ("tm-t88v", "en")],
)  # fmt: skip
def test_z_report_amounts_never_wrap_on_58_or_80_mm(name, language):
    profile = load_profile(name)
    data = _z_with_big_amounts(ascii_only=not profile.has_chinese_font)
    document = templates.z_report(data, profile.columns, language)
    lines = _printed_lines(encode(document, profile, raster_font=None))
    codec = {line.replace("¥", "￥"): encoding for line, encoding in lines}  # CP437 prints ￥ as ¥

    def width(text: str, line: str) -> int:
        return len(
            text.replace("￥", "¥").encode(codec[line]) if codec[line] == "cp437" else text.encode("gb18030")
        )

    assert lines and all(width(line, line) <= profile.columns for line in codec), lines
    printed = list(codec)
    count_ends = set()
    for state_total in data.by_state:
        figures = [str(state_total.count), format_price(state_total.total_fen)]
        (line,) = [t for t in printed if t.split()[-2:] == figures]  # count and amount whole, together
        first_word = translator(language).state(state_total.state).split()[0]
        assert line.startswith(first_word) and width(line, line) == profile.columns, line  # flush right
        count_ends.add(width(line[: line.rindex(figures[1])].rstrip(), line))
    assert len(count_ends) == 1, count_ends  # the counts line up, whatever the amounts' widths
    widths = templates.z_report_widths(data.by_state, profile.columns, language)
    assert widths is not None and widths[2] >= cells(format_price(MAX_FEN)) + 1


def test_z_report_on_paper_too_narrow_for_three_columns_gives_each_state_a_row():
    data = _z_with_big_amounts()
    assert templates.z_report_widths(data.by_state, 24, "en") is None
    document = templates.z_report(data, 24, "en")
    rows = {b.left: b.right for b in document.blocks if isinstance(b, Row)}
    assert rows["Paid ×3"] == "￥10000000.00" and rows["Closing ×2"] == "￥4.00"
