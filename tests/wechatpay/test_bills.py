"""downloadbill text: the documented layouts, the writer's round trip, and clear errors."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pos.wechatpay import bills
from pos.wechatpay.errors import BillFormatError
from pos.wechatpay.times import BEIJING

DATA = Path(__file__).parent / "data"

# The official old-format ALL example (with the doc's full-width colons in the times).
OLD_ALL = (DATA / "bill_all_old.txt").read_text(encoding="utf-8")

NEW_ALL = (
    ",".join(bills.ALL_COLUMNS)
    + "\n`2019-07-25 08:35:41,`WWWW,`XXXXXXXX,`0,`,`XXXXXXXXXXXXX,`XXXXXXXXXX,`XXXXXXXXXXX,`JSAPI,`SUCCESS,"
    "`PSBC_DEBIT,`CNY,`6.00,`0.00,`0,`0,`0.00,`0.00,`,`,`XXXXXX,`XXXXXXX,`0.04000,`0.60%,`6.00,`0.00,`\n"
    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\n"
    "`1,`6.00,`0.00,`0.00,`0.04000,`6.00,`0.00\n"
)

REFUND = (
    ",".join(bills.REFUND_COLUMNS)
    + "\n`2019-07-23 20:53:36,`xxx,`xxx,`xxx,`,`xxx,`xxxx,`xxxxx,`JSAPI,`REFUND,`CFT,`CNY,`0.00,`0.00,"
    "`2019-07-23 20:53:36,`2019-07-23 20:53:40,`xxxx,`xxx,`0.01,`0.00,`ORIGINAL,`SUCCESS,`xxxx,`xxxx,"
    "`0.00000,`0.60%,`0.00,`0.01,`\n"
    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\n"
    "`1,`0.00,`0.01,`0.00,`-0.02000,`0.00,`0.01\n"
)


def test_column_counts():
    assert (len(bills.ALL_COLUMNS), len(bills.SUCCESS_COLUMNS), len(bills.REFUND_COLUMNS)) == (27, 20, 29)
    assert len(bills.OLD_ALL_COLUMNS) == 24


def test_official_old_all_bill():
    bill = bills.parse_bill(OLD_ALL)
    assert bill.layout == "ALL_OLD"
    assert len(bill.rows) == 2
    row = bill.rows[0]
    assert row.trade_time == datetime(2014, 11, 10, 16, 33, 45, tzinfo=BEIJING)
    assert row.transaction_id == "1001690740201411100005734289"
    assert row.out_trade_no == "1415640626"
    assert (row.trade_type, row.trade_state) == ("MICROPAY", "SUCCESS")
    assert row.total_fee == row.settlement_total_fee == 1
    assert row.coupon_fee == 0 and row.refund_fee == 0
    assert row.body == "被扫支付测试" and row.attach == "订单额外描述"
    assert row.fee == Decimal("0") and row.rate == "0.60%"
    assert row.columns["子商户号"] == "0"
    assert bill.summary.count == 2 and bill.summary.settlement_total_fee == 2
    assert bill.summary.total_fee is None


def test_new_all_bill():
    bill = bills.parse_bill(NEW_ALL)
    assert bill.layout == "ALL"
    (row,) = bill.rows
    assert row.total_fee == 600 and row.settlement_total_fee == 600
    assert row.fee == Decimal("0.04000")
    assert row.device_info == "" and row.rate_note == ""
    assert bill.summary == bills.BillSummary(
        count=1,
        settlement_total_fee=600,
        refund_fee=0,
        coupon_refund_fee=0,
        fee=Decimal("0.04"),
        total_fee=600,
        refund_request_fee=0,
    )


def test_refund_bill_with_negative_fee_total():
    bill = bills.parse_bill(REFUND)
    assert bill.layout == "REFUND"
    (row,) = bill.rows
    assert row.trade_state == "REFUND" and row.refund_status == "SUCCESS" and row.refund_type == "ORIGINAL"
    assert row.refund_fee == 1 and row.refund_request_fee == 1
    assert row.refund_request_time == datetime(2019, 7, 23, 20, 53, 36, tzinfo=BEIJING)
    assert row.refund_success_time == datetime(2019, 7, 23, 20, 53, 40, tzinfo=BEIJING)
    assert bill.summary.fee == Decimal("-0.02")


def test_crlf_bom_and_bytes():
    crlf = "\ufeff" + NEW_ALL.replace("\n", "\r\n")
    assert bills.parse_bill(crlf) == bills.parse_bill(NEW_ALL)
    assert bills.parse_bill(crlf.encode("utf-8")) == bills.parse_bill(NEW_ALL)
    assert bills.parse_bill(NEW_ALL.encode("utf-8-sig")) == bills.parse_bill(NEW_ALL)


def test_comma_inside_a_value_does_not_shift_columns():
    text = NEW_ALL.replace("`XXXXXX,`XXXXXXX", "`咖啡,大杯,`XXXXXXX")
    (row,) = bills.parse_bill(text).rows
    assert row.body == "咖啡,大杯" and row.attach == "XXXXXXX"


def test_empty_bill_has_only_summary():
    text = (
        ",".join(bills.ALL_COLUMNS)
        + "\n"
        + ",".join(bills.SUMMARY_COLUMNS)
        + "\n`0,`0.00,`0.00,`0.00,`0.00000,`0.00,`0.00\n"
    )
    bill = bills.parse_bill(text)
    assert bill.rows == () and bill.summary.count == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "needs a header"),
        ("<xml><return_code>FAIL</return_code></xml>", "XML"),
        ("a,b,c\n`1,`2,`3\nx,y\n`1,`2\n", "not a bill header"),
        (NEW_ALL.replace("`6.00,`0.00,`0,", "`6.00,`0.00,"), "line 2: 26 values under a 27-column header"),
        (NEW_ALL.replace("`6.00,`0.00,`0,", "`6.0x,`0.00,`0,"), "line 2: 应结订单金额 '6.0x'"),
        (NEW_ALL.replace("`6.00,`0.00,`0,", "`6.001,`0.00,`0,"), "line 2: 应结订单金额"),
        (NEW_ALL.replace("`2019-07-25 08:35:41", "`yesterday"), "line 2: 交易时间"),
        (NEW_ALL.replace("`2019-07-25 08:35:41", "`"), "line 2: 交易时间 is empty"),
        (NEW_ALL.replace("\n`1,`6.00", "\n1,`6.00"), "must start with a backtick"),
        (NEW_ALL.replace("总交易单数,", "单数,"), "not a summary header"),
        (NEW_ALL + "`extra\n", "exactly a summary header and a summary row"),
        (NEW_ALL.replace("`1,`6.00", "`one,`6.00"), "总交易单数"),
    ],
    ids=[
        "empty",
        "xml",
        "unknown-header",
        "short-row",
        "bad-amount",
        "three-decimals",
        "bad-time",
        "empty-time",
        "no-backtick",
        "bad-summary-header",
        "trailing-line",
        "bad-count",
    ],
)
def test_malformed_bills_name_the_problem(text, message):
    with pytest.raises(BillFormatError, match=message):
        bills.parse_bill(text)


def test_non_utf8_bytes():
    with pytest.raises(BillFormatError, match="UTF-8"):
        bills.parse_bill(NEW_ALL.encode("gb18030"))


def test_unknown_but_readable_header_is_parsed_by_name():
    header = ["交易时间", "微信订单号", "商户订单号", "交易状态", "订单金额", "新的列"]
    text = ",".join(header) + "\n`2024-01-01 12:00:00,`42,`K1,`SUCCESS,`1.00,`?\n总交易单数\n`1\n"
    bill = bills.parse_bill(text)
    assert bill.layout == "OTHER"
    assert bill.rows[0].total_fee == 100 and bill.rows[0].columns["新的列"] == "?"


# -- the writer ---------------------------------------------------------------------------------------

T0 = datetime(2024, 1, 1, 12, 0, 5, tzinfo=BEIJING)


def sample_rows():
    paid = bills.BillRow(
        trade_time=T0,
        out_trade_no="S01-01-20240101-0001",
        transaction_id="4200000000202401011234567890",
        trade_state="SUCCESS",
        total_fee=1250,
        settlement_total_fee=1250,
        appid="wx2421b1c4370ec43b",
        mch_id="10000100",
        openid="oUpF8uMEb4qRXf22hE3X68TekukE",
        bank_type="OTHERS",
        body="演示小店-咖啡",
        attach="till-01",
        fee=Decimal("0.08"),
        rate="0.60%",
    )
    refunded = bills.BillRow(
        trade_time=T0 + timedelta(hours=1),
        out_trade_no="S01-01-20240101-0001",
        transaction_id="4200000000202401011234567890",
        trade_state="REFUND",
        refund_request_time=T0 + timedelta(hours=1),
        refund_success_time=T0 + timedelta(hours=1, seconds=4),
        refund_id="50000000382019052709732678859",
        out_refund_no="R1",
        refund_fee=250,
        refund_request_fee=250,
        refund_type="ORIGINAL",
        refund_status="SUCCESS",
        fee=Decimal("-0.02"),
    )
    return [paid, refunded]


@pytest.mark.parametrize("layout", ["ALL", "SUCCESS", "REFUND"])
def test_format_bill_round_trips(layout):
    rows = sample_rows()
    text = bills.format_bill(rows, layout)
    bill = bills.parse_bill(text)
    assert bill.layout == layout
    assert list(bill.rows) == [bills.only_layout_columns(r, layout) for r in rows]
    assert bill.summary == bills.summarize(bill.rows)
    assert bill.summary.count == 2 and bill.summary.total_fee == 1250
    assert bill.summary.refund_fee == (0 if layout == "SUCCESS" else 250)  # SUCCESS bills carry no refunds


def test_format_bill_looks_like_wechats():
    lines = bills.format_bill(sample_rows(), "ALL").splitlines()
    assert lines[0] == ",".join(bills.ALL_COLUMNS)
    assert lines[1].startswith(
        "`2024-01-01 12:00:05,`wx2421b1c4370ec43b,`10000100,`,`,`4200000000202401011234567890,"
    )
    assert ",`12.50,`0.00," in lines[1] and ",`0.08000,`0.60%,`12.50," in lines[1]
    assert lines[3] == ",".join(bills.SUMMARY_COLUMNS)
    assert lines[4] == "`2,`12.50,`2.50,`0.00,`0.06000,`12.50,`2.50"


def test_format_bill_converts_times_to_beijing_and_crlf():
    from datetime import UTC

    row = bills.BillRow(
        trade_time=datetime(2024, 1, 1, 4, 0, 5, tzinfo=UTC),
        out_trade_no="K1",
        transaction_id="1",
        trade_state="SUCCESS",
        total_fee=1,
        settlement_total_fee=1,
    )
    text = bills.format_bill([row], newline="\r\n")
    assert "\r\n`2024-01-01 12:00:05," in text
    assert bills.parse_bill(text).rows[0].trade_time == row.trade_time


def test_format_bill_refuses_what_a_bill_cannot_carry():
    (row, _) = sample_rows()
    from dataclasses import replace

    with pytest.raises(ValueError, match="backtick"):
        bills.format_bill([replace(row, body="a`b")])
    with pytest.raises(ValueError, match="line break"):
        bills.format_bill([replace(row, attach="a\nb")])
    with pytest.raises(ValueError, match="layout"):
        bills.format_bill([row], "ALL_OLD")


text_values = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"), blacklist_characters="`\x85"),
    max_size=12,
)
fen = st.integers(min_value=0, max_value=10**8)
times = st.datetimes(min_value=datetime(2015, 1, 1), max_value=datetime(2035, 1, 1)).map(
    lambda t: t.replace(microsecond=0, tzinfo=BEIJING)
)
rows = st.builds(
    bills.BillRow,
    trade_time=times,
    out_trade_no=st.from_regex(r"[0-9A-Za-z_\-|*]{6,32}", fullmatch=True),
    transaction_id=st.from_regex(r"[0-9]{28}", fullmatch=True),
    trade_state=st.sampled_from(["SUCCESS", "REFUND", "REVOKED"]),
    total_fee=fen,
    settlement_total_fee=fen,
    body=text_values.filter(lambda s: s == s.strip()),
    attach=text_values.filter(lambda s: s == s.strip()),
    refund_fee=fen,
    refund_request_time=st.one_of(st.none(), times),
    fee=st.decimals(min_value=-1000, max_value=1000, places=5),
)


@given(st.lists(rows, max_size=5), st.sampled_from(["ALL", "SUCCESS", "REFUND"]))
def test_any_rows_round_trip(generated, layout):
    bill = bills.parse_bill(bills.format_bill(generated, layout))
    assert list(bill.rows) == [bills.only_layout_columns(r, layout) for r in generated]
    assert bill.summary == bills.summarize(bill.rows)
    assert bill.summary.count == len(generated)
