"""Coupons on the manager's day over real HTTP: sales paid with the simulator's coupon switch on, found
by the watcher's query, then the day view, /manager/api/day, the CSV and the printed Z report.

The takings stay at the sales' prices (the goods sold); beside them the day shows what customers
paid, the coupons and what the merchant settles. The day (fen, written out by hand):

- 拿铁×2 3600 with a merchant-funded (免充值) coupon of 300: customer 3300, settled 3300;
- 柠檬茶 1250 without a coupon: 1250 and 1250;
- 芝士蛋糕 2600 with a WeChat-funded (充值) coupon of 300: customer 2300, settled 2600 (the fund pays);
- paid 7450, customers 6850, coupons 600, settled 7150.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from html import unescape

import pytest

from pos.ledger import JobKind, SaleState
from pos.printing.profiles import load_profile
from pos.till.documents import render_job


def ring_up(till, body: dict) -> dict:
    response = till.http.post(till.url("/api/sales"), json=body)
    assert response.status_code == 201, response.text
    return response.json()


def pay_found_by_query(till, sim, sale: dict) -> None:
    """The customer pays, no notice arrives, the watcher's query finds the payment."""
    sim.pay(sale["code_url"], notify=False)
    till.till.watcher.poll_once(now=till.till.now() + timedelta(seconds=3))
    assert till.till.ledger.get_sale(sale["id"]).state is SaleState.PAID


def text_of(html: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)<', html, re.S)
    assert match, element_id
    return unescape(match.group(1)).strip()


@pytest.fixture
def day(till, sim):
    sim.set_faults(coupon={"fee": 300, "funded_by": "merchant"})
    latte = ring_up(till, {"items": [{"product_id": "LATTE", "qty": 2}]})
    pay_found_by_query(till, sim, latte)
    sim.set_faults(coupon={})
    tea = ring_up(till, {"amount": "12.50", "body": "柠檬茶"})
    pay_found_by_query(till, sim, tea)
    sim.set_faults(coupon={"fee": 300, "funded_by": "wechat"})
    cake = ring_up(till, {"items": [{"product_id": "CAKE"}]})
    pay_found_by_query(till, sim, cake)
    sim.set_faults(coupon={})
    waiting = ring_up(till, {"amount": "7.00"})  # not paid: no coupon figures
    date = till.till.ledger.get_sale(latte["id"]).business_date.isoformat()
    return {"date": date, "latte": latte, "tea": tea, "cake": cake, "waiting": waiting}


def test_the_query_path_keeps_both_figures_with_the_payment_and_the_sale(day, till):
    ledger = till.till.ledger
    latte = ledger.get_sale(day["latte"]["id"])
    assert (latte.total_fee, latte.cash_fee, latte.coupon_fee, latte.settlement_total_fee) == (
        3600,
        3300,
        300,
        3300,
    )
    (payment,) = ledger.payments_for_sale(latte.id)
    assert payment.source.value == "query" and payment.accepted
    assert (payment.total_fee, payment.cash_fee, payment.coupon_fee, payment.settlement_total_fee) == (
        3600,
        3300,
        300,
        3300,
    )
    cake = ledger.get_sale(day["cake"]["id"])
    assert (cake.cash_fee, cake.coupon_fee, cake.settlement_total_fee) == (2300, 300, 2600)
    assert ledger.flags_for_sale(latte.id) == [] and ledger.flags_for_sale(cake.id) == []


def test_the_day_view_shows_takings_at_the_price_and_what_customers_paid_and_the_merchant_settles(
    logged_in, day
):
    html = logged_in.get(f"/manager/day?date={day['date']}").text
    assert text_of(html, "paid-total") == "￥74.50"  # the prices: 36.00 + 12.50 + 26.00
    assert text_of(html, "cash-paid-total") == "￥68.50"
    assert text_of(html, "coupon-total") == "￥6.00"
    assert text_of(html, "settled-total") == "￥71.50"
    row = html.split(f'id="sale-{day["latte"]["id"]}"')[1].split("</tr>")[0]
    assert "顾客实付 ￥33.00 · 券 ￥3.00 · 应结 ￥33.00" in unescape(row)
    row = html.split(f'id="sale-{day["cake"]["id"]}"')[1].split("</tr>")[0]
    assert "顾客实付 ￥23.00 · 券 ￥3.00 · 应结 ￥26.00" in unescape(row)
    for plain in ("tea", "waiting"):
        row = html.split(f'id="sale-{day[plain]["id"]}"')[1].split("</tr>")[0]
        assert "coupon-note" not in row


def test_a_day_without_coupons_shows_no_coupon_figures(logged_in, till, sim):
    sale = ring_up(till, {"amount": "12.50"})
    pay_found_by_query(till, sim, sale)
    html = logged_in.get("/manager/day").text
    assert text_of(html, "paid-total") == "￥12.50"
    assert 'id="coupons"' not in html and "coupon-note" not in html
    data = logged_in.get("/manager/api/day").json()
    assert (data["paid_fee"], data["cash_fee"], data["coupon_fee"], data["settled_fee"]) == (
        1250,
        1250,
        0,
        1250,
    )


def test_the_day_api_gives_every_figure(logged_in, day):
    data = logged_in.get(f"/manager/api/day?date={day['date']}").json()
    assert (data["paid_fee"], data["cash_fee"], data["coupon_fee"], data["settled_fee"]) == (
        7450,
        6850,
        600,
        7150,
    )
    assert data["net_fee"] == 7450


def test_the_csv_lists_what_each_customer_paid_and_what_the_merchant_settles(logged_in, day):
    response = logged_in.get(f"/manager/day.csv?date={day['date']}")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"), newline="")))
    header = rows[0]
    assert header[-3:] == ["顾客实付(元)", "优惠券(元)", "商户应结(元)"]
    by_number = {row[1]: dict(zip(header, row, strict=True)) for row in rows[1:]}

    def figures(sale: dict) -> tuple[str, ...]:
        row = by_number[sale["out_trade_no"]]
        return row["金额(元)"], row["顾客实付(元)"], row["优惠券(元)"], row["商户应结(元)"]

    assert figures(day["latte"]) == ("36.00", "33.00", "3.00", "33.00")
    assert figures(day["tea"]) == ("12.50", "12.50", "0.00", "12.50")
    assert figures(day["cake"]) == ("26.00", "23.00", "3.00", "26.00")
    assert figures(day["waiting"]) == ("7.00", "", "", "")


def test_the_z_report_prints_the_takings_and_the_coupon_figures(logged_in, day, till, tmp_path):
    response = logged_in.post("/manager/z-report", {"date": day["date"]})
    assert response.status_code == 200
    (job,) = [j for j in till.till.ledger.unfinished_jobs() if j.kind is JobKind.Z_REPORT]
    while till.till.spooler.run_once():
        pass
    data = next((tmp_path / "printer").glob(f"*{job.id}*.bin")).read_bytes()
    for word in ("收款合计", "顾客实付", "优惠券", "商户应结"):
        assert word.encode("gb18030") in data
    for figure in ("74.50", "68.50", "6.00", "71.50"):
        assert figure.encode() in data
    assert data.index("收款合计".encode("gb18030")) < data.index("商户应结".encode("gb18030"))
    document = render_job(
        till.till.ledger.get_job(job.id), till.till.ledger, till.till.config, load_profile("xp80")
    )
    rows = {getattr(b, "left", None): getattr(b, "right", None) for b in document.blocks}
    assert rows["收款合计"] == "￥74.50" and rows["净收入"] == "￥74.50"
    assert rows["顾客实付"] == "￥68.50" and rows["优惠券"] == "￥6.00" and rows["商户应结"] == "￥71.50"


def test_pos_report_prints_the_coupon_figures_after_the_takings(day, till):
    from datetime import date

    from pos.manager.cli import format_figures
    from pos.manager.words import Words
    from pos.reports import day as report

    config = till.till.config
    figures = report.day_figures(till.till.ledger, date.fromisoformat(day["date"]), store=config.store.id)
    lines = format_figures(figures, config, Words("zh-CN")).splitlines()
    shown = {line.split()[0]: line.split()[1] for line in lines if len(line.split()) > 1}
    assert shown["收款"] == "￥74.50" and shown["净收入"] == "￥74.50"
    assert (shown["顾客实付"], shown["优惠券"], shown["商户应结"]) == ("￥68.50", "￥6.00", "￥71.50")
