"""The day view, its CSV and the Z report over real HTTP, on a day with every kind of sale.

The day is made the way the till makes it: sales rung up through the cashier's
API against the simulator, paid by the simulated customer and found by the
watcher's query; the other outcomes (expiry, void, refunds, anomalies) through
the ledger's own transitions, which are what the watcher, the listener and the
refund service call. The expected figures are written out in fen by hand.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
import sqlalchemy

from pos.ledger import JobKind, LineItem, SaleState, queries
from pos.printing.profiles import load_profile
from pos.reports import day as report
from pos.reports.day import BOM
from pos.till.documents import render_job

STATE_WORDS = {
    "PAID": "已支付",
    "PARTLY_REFUNDED": "部分退款",
    "REFUNDED": "已退款",
    "EXPIRED": "已过期（未支付）",
    "VOIDED": "已作废",
    "AWAITING_PAYMENT": "等待顾客扫码支付",
}


def ring_up(till, body: dict) -> dict:
    response = till.http.post(till.url("/api/sales"), json=body)
    assert response.status_code == 201, response.text
    return response.json()


def pay(till, sim, sale: dict) -> None:
    sim.pay(sale["code_url"], notify=False)
    till.till.watcher.poll_once(now=till.till.now() + timedelta(seconds=3))
    assert till.till.ledger.get_sale(sale["id"]).state is SaleState.PAID


def refund(ledger, sale_id: int, fee: int) -> None:
    started = ledger.start_refund(sale_id, fee, reason="test")
    ledger.complete_refund(started.out_refund_no, refund_id=f"5000{started.id:024d}")


@pytest.fixture
def day(till, sim):
    """Today's sales: what happened to each, and the figures a manager must see (fen)."""
    ledger = till.till.ledger
    latte = ring_up(till, {"items": [{"product_id": "LATTE", "qty": 2}]})  # 3600, paid
    pay(till, sim, latte)
    tea = ring_up(till, {"amount": "12.50", "body": "柠檬茶"})  # 1250, paid, 500 refunded
    pay(till, sim, tea)
    refund(ledger, tea["id"], 500)
    cake = ring_up(till, {"items": [{"product_id": "CAKE"}]})  # 2600, paid, refunded in full
    pay(till, sim, cake)
    refund(ledger, cake["id"], 2600)
    expired = ring_up(till, {"amount": "9.90"})
    ledger.mark_expired(expired["id"])
    voided = ring_up(till, {"amount": "1.00"})
    ledger.mark_voided(voided["id"], by="test")
    waiting = ring_up(till, {"amount": "7.00", "body": "=HYPERLINK(1)"})  # a formula-looking description
    late = ring_up(till, {"amount": "5.00"})  # voided, then paid all the same: 500, flagged
    ledger.mark_voided(late["id"], by="test")
    transaction = sim.pay(late["code_url"], notify=False)
    ledger.mark_paid(
        late["out_trade_no"],
        transaction_id=transaction,
        total_fee=500,
        time_end=datetime.now(UTC),
        source="query",
    )
    wrong = ring_up(till, {"amount": "3.00"})  # WeChat reports 0.01 for it: flagged, not paid
    ledger.mark_paid(
        wrong["out_trade_no"],
        transaction_id="4200000000202611270000000001",
        total_fee=1,
        time_end=datetime.now(UTC),
        source="notice",
    )
    ledger.mark_paid(
        "S09-01-20261127-0001",
        transaction_id="4200000000202611270000000002",
        total_fee=888,
        time_end=datetime.now(UTC),
        source="notice",
    )
    # Yesterday's sale must not count today.
    ledger.create_sale(
        store="S01", lane="01", items=[LineItem("拿铁", 1800)], now=till.till.now() - timedelta(days=1)
    )
    return {
        "date": till.till.today().isoformat(),
        "sales": [latte, tea, cake, expired, voided, waiting, late, wrong],
        "paid": 3600 + 1250 + 2600 + 500,
        "refunded": 500 + 2600,
        "net": 3600 + 1250 + 2600 + 500 - 500 - 2600,
        "counts": {
            "PAID": 2,
            "PARTLY_REFUNDED": 1,
            "REFUNDED": 1,
            "EXPIRED": 1,
            "VOIDED": 1,
            "AWAITING_PAYMENT": 2,
        },
    }


def text_of(html: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)<', html, re.S)
    assert match, element_id
    return unescape(match.group(1)).strip()


def test_day_totals_to_the_fen(logged_in, day):
    html = logged_in.get(f"/manager/day?date={day['date']}").text
    assert text_of(html, "paid-total") == "￥79.50" == f"￥{day['paid'] / 100:.2f}"
    assert text_of(html, "refunded-total") == "￥31.00" == f"￥{day['refunded'] / 100:.2f}"
    assert text_of(html, "net-total") == "￥48.50" == f"￥{day['net'] / 100:.2f}"
    for state, count in day["counts"].items():
        chip = re.search(rf'data-state="{state}"[^>]*>([^<]*)<b>(\d+)</b>', html)
        assert chip and chip.group(1).strip() == STATE_WORDS[state] and int(chip.group(2)) == count, state
    assert "全部 8" in html  # yesterday's sale is not in today's day


def test_day_api_gives_the_same_figures(logged_in, day):
    data = logged_in.get(f"/manager/api/day?date={day['date']}").json()
    assert (data["paid_fee"], data["refunded_fee"], data["net_fee"]) == (
        day["paid"],
        day["refunded"],
        day["net"],
    )
    assert {state: v["count"] for state, v in data["by_state"].items()} == day["counts"]
    assert sorted(f["kind"] for f in data["flags"]) == [
        "amount_mismatch",
        "paid_after_close",
        "unknown_order",
    ]


def test_every_sale_is_listed_with_its_numbers(logged_in, day, till):
    html = logged_in.get(f"/manager/day?date={day['date']}").text
    for sale in day["sales"]:
        row = re.search(rf'<tr id="sale-{sale["id"]}".*?</tr>', html, re.S)
        assert row, sale["out_trade_no"]
        record = till.till.ledger.get_sale(sale["id"])
        assert record.out_trade_no in row.group(0)
        if record.transaction_id:
            assert record.transaction_id in row.group(0)
        assert STATE_WORDS[record.state.value] in row.group(0)
        assert ("/refund" in row.group(0)) == (record.refundable_fee > 0)  # a refund form on paid sales only
    assert "拿铁×2" in html and "&lt;" not in text_of(html, f"sale-{day['sales'][0]['id']}")


def test_flags_say_what_happened_and_what_to_do_and_can_be_resolved(logged_in, day, till):
    html = logged_in.get(f"/manager/day?date={day['date']}").text
    flags = re.findall(r'<article class="flag open" data-kind="([a-z_]+)">(.*?)</article>', html, re.S)
    kinds = {kind: unescape(body) for kind, body in flags}
    assert set(kinds) == {"paid_after_close", "unknown_order", "amount_mismatch"}
    assert "钱已收到，已计入当天收款" in kinds["paid_after_close"] and "全额退款" in kinds["paid_after_close"]
    assert "S09-01-20261127-0001" in kinds["unknown_order"] and "other_channels" in kinds["unknown_order"]
    assert "￥0.01" in kinds["amount_mismatch"] and "￥3.00" in kinds["amount_mismatch"]
    assert "不要凭此交货" in kinds["amount_mismatch"]
    flag_id = int(re.search(r"/manager/flags/(\d+)/resolve", kinds["unknown_order"]).group(1))
    response = logged_in.post(
        f"/manager/flags/{flag_id}/resolve", {"date": day["date"], "note": "美团的订单，已核对"}
    )
    assert response.status_code == 200 and "异常已标记为已处理" in response.text
    assert re.search(
        r'<article class="flag resolved" data-kind="unknown_order">.*?美团的订单，已核对', response.text, re.S
    )
    assert till.till.ledger.open_flags() and all(f.id != flag_id for f in till.till.ledger.open_flags())


def test_filter_by_state_and_flagged(logged_in, day):
    html = logged_in.get(f"/manager/day?date={day['date']}&show=EXPIRED").text
    assert len(re.findall(r'<tr id="sale-', html)) == 1
    html = logged_in.get(f"/manager/day?date={day['date']}&show=flagged").text
    assert len(re.findall(r'<tr id="sale-', html)) == 2  # the late payment and the wrong amount
    assert logged_in.get(f"/manager/day?date={day['date']}&show=nonsense").status_code == 200


def test_bad_date_goes_back_to_today_and_says_why(logged_in):
    response = logged_in.get("/manager/day?date=2026-02-30")
    assert response.status_code == 200 and response.url.endswith("/manager/day")
    assert "日期须为 YYYY-MM-DD 格式" in response.text


@pytest.mark.parametrize("date", ["0001-01-01", "9999-12-31"])
def test_days_outside_the_ledgers_calendar_go_back_to_today_and_say_why(logged_in, till, date):
    response = logged_in.get(f"/manager/day?date={date}")
    assert response.status_code == 200 and response.url.endswith("/manager/day")
    assert "1970-01-01" in unescape(response.text) and "9998-12-31" in unescape(response.text)
    answer = logged_in.get(f"/manager/api/day?date={date}")
    assert answer.status_code == 400 and "9998-12-31" in answer.json()["error"]
    assert logged_in.get(f"/manager/day.csv?date={date}").status_code == 400
    for action in ("/manager/z-report", "/manager/reconcile"):
        refused = logged_in.post(action, {"date": date}, allow_redirects=False)
        assert refused.status_code == 400, (action, refused.status_code)
    assert till.till.ledger.unfinished_jobs() == []  # no Z report of a year the ledger cannot hold


@pytest.mark.parametrize("row_id", [str(2**31), str(2**64), "9" * 5000])
def test_ids_beyond_the_ledgers_range_are_404(logged_in, row_id):
    assert logged_in.post(f"/manager/sales/{row_id}/refund", {"amount": "1.00"}).status_code == 404
    assert logged_in.post(f"/manager/flags/{row_id}/resolve", {"note": "x"}).status_code == 404


def test_empty_day_and_chart(logged_in, day):
    html = logged_in.get("/manager/day?date=2020-01-01").text
    assert (
        "没有符合条件的销售" in html and "这一天没有收款" in html and text_of(html, "net-total") == "￥0.00"
    )
    html = logged_in.get(f"/manager/day?date={day['date']}").text
    svg = re.search(r"<svg class=\"chart\".*?</svg>", html, re.S).group(0)
    bars = re.findall(r'<rect class="bar"[^>]*><title>(\d\d):00 ￥([\d.]+)</title>', svg)
    assert sum(round(float(amount) * 100) for _, amount in bars) == day["paid"]  # bars add up to the takings


def test_csv_export(logged_in, day, till):
    response = logged_in.get(f"/manager/day.csv?date={day['date']}")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert f'filename="pos-S01-{day["date"]}.csv"' in response.headers["Content-Disposition"]
    raw = response.content
    assert raw.startswith(BOM.encode("utf-8")) and raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert rows[0] == [
        "下单时间",
        "商户订单号",
        "微信支付订单号",
        "商品",
        "金额(元)",
        "已退款(元)",
        "状态",
        "机号",
        "收银员",
        "支付时间",
        "顾客实付(元)",
        "优惠券(元)",
        "商户应结(元)",
    ]
    body = {row[1]: row for row in rows[1:]}
    assert len(rows) == 1 + 8 and set(body) == {s["out_trade_no"] for s in day["sales"]}
    latte, tea, cake = (body[s["out_trade_no"]] for s in day["sales"][:3])
    assert latte[3] == "拿铁×2" and latte[4] == "36.00" and latte[5] == "0.00" and latte[6] == "已支付"
    assert latte[2] == till.till.ledger.get_sale(day["sales"][0]["id"]).transaction_id
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", latte[0]) and latte[0][:10] == day["date"]
    assert tea[4:7] == ["12.50", "5.00", "部分退款"] and cake[4:7] == ["26.00", "26.00", "已退款"]
    assert body[day["sales"][5]["out_trade_no"]][3] == "'=HYPERLINK(1)"  # never a formula in a spreadsheet
    assert (
        sum(round(float(r[4]) * 100) for r in rows[1:] if r[6] in ("已支付", "部分退款", "已退款"))
        == day["paid"]
    )
    assert sum(round(float(r[5]) * 100) for r in rows[1:]) == day["refunded"]


def _csv(logged_in, day) -> tuple[bytes, str | None]:
    """The day's CSV and its Content-Length header (None: streamed as it is made)."""
    response = logged_in.get(f"/manager/day.csv?date={day['date']}")
    assert response.status_code == 200
    return response.content, response.headers.get("Content-Length")


def test_the_csv_download_streams_the_same_bytes_the_report_makes(logged_in, day, till, monkeypatch):
    alone = b"".join(
        report.csv_chunks(till.till.ledger, till.till.today(), store="S01", zone=till.till.zone,
                          state_words=words_of(till))
    )  # fmt: skip
    monkeypatch.setattr(queries, "CSV_BATCH", 3)  # the day's 8 sales in three batches
    raw, length = _csv(logged_in, day)
    assert (raw, length) == (alone, None)  # streamed (chunked), never sized and kept in memory
    assert len(_rows(raw)) == 8


def test_a_change_to_the_day_is_in_the_next_csv(logged_in, day, till, sim):
    first, _ = _csv(logged_in, day)
    waiting = next(sale for sale in day["sales"] if sale["body"] == "=HYPERLINK(1)")
    pay(till, sim, waiting)  # the listener's way: a paid notice changes one sale of the day
    after, _ = _csv(logged_in, day)
    assert after != first
    assert next(r for r in _rows(after) if r[1] == waiting["out_trade_no"])[6] == "已支付"
    # Written to the file by another program, bypassing the ledger: the next CSV reads it.
    other = sqlalchemy.create_engine(till.till.ledger.engine.url)  # its own connections, not the ledger's
    with other.begin() as db:
        db.execute(
            sqlalchemy.text("UPDATE sales SET cashier = 'Zhang' WHERE out_trade_no = :no"),
            {"no": waiting["out_trade_no"]},
        )
    other.dispose()
    changed, _ = _csv(logged_in, day)
    assert next(r for r in _rows(changed) if r[1] == waiting["out_trade_no"])[8] == "Zhang"


def test_a_download_stopped_halfway_gives_its_connection_back(day, till, monkeypatch):
    ledger = till.till.ledger
    monkeypatch.setattr(queries, "CSV_BATCH", 2)
    before = ledger.engine.pool.checkedout()
    chunks = report.csv_chunks(ledger, till.till.today(), store="S01", zone=till.till.zone)
    assert next(chunks).startswith(BOM.encode("utf-8"))  # the header, before any sale is read
    assert ledger.engine.pool.checkedout() == before
    next(chunks)  # the first batch: the read transaction is open
    assert ledger.engine.pool.checkedout() == before + 1
    chunks.close()  # the client went away
    assert ledger.engine.pool.checkedout() == before


def _rows(raw: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))[1:]


def words_of(till) -> dict:
    from pos.manager.words import Words

    return Words(till.till.config.store.language).states()


def test_z_report_is_queued_and_printed_with_the_days_figures(logged_in, day, till, tmp_path):
    response = logged_in.post("/manager/z-report", {"date": day["date"]})
    assert response.status_code == 200 and "日结报表已发送到打印机" in response.text
    jobs = [j for j in till.till.ledger.unfinished_jobs() if j.kind is JobKind.Z_REPORT]
    assert len(jobs) == 1 and jobs[0].payload == {"business_date": day["date"]}
    while till.till.spooler.run_once():  # the spooler prints the queue: slips first, then the report
        pass
    printed = [json.loads(line) for line in (tmp_path / "printer" / "jobs.jsonl").read_text().splitlines()]
    assert any(str(jobs[0].id) in json.dumps(entry) for entry in printed)
    data = next((tmp_path / "printer").glob(f"*{jobs[0].id}*.bin")).read_bytes()
    for figure in ("79.50", "31.00", "48.50"):
        assert figure.encode() in data
    assert "净收入".encode("gb18030") in data
    document = render_job(
        till.till.ledger.get_job(jobs[0].id), till.till.ledger, till.till.config, load_profile("xp80")
    )
    rows = {getattr(b, "left", None): getattr(b, "right", None) for b in document.blocks}
    assert rows["收款合计"] == "￥79.50" and rows["退款合计"] == "￥31.00" and rows["净收入"] == "￥48.50"


def test_reconciliation_panel_runs_now_and_shows_the_result(logged_in, day, till):
    from pos.ledger.reconciliation import latest_reconciliation

    html = logged_in.get(f"/manager/day?date={day['date']}").text
    assert text_of(html, "recon-status") == "这一天还没有对账"
    response = logged_in.post("/manager/reconcile", {"date": day["date"]})
    assert response.status_code == 200
    result = latest_reconciliation(till.till.ledger, datetime.fromisoformat(day["date"]).date())
    assert result is not None
    problems = [d for d in result.differences if d.kind.value != "other_channel"]
    headline = {
        "matched": "全部相符",
        "differences": f"有 {len(problems)} 处差异",
        "no_bill": "微信当天没有账单（没有交易）",
        "not_ready": "微信账单尚未生成（次日 10 点后可下载）",
        "error": "对账出错",
    }[result.status.value]
    assert text_of(response.text, "recon-status") == headline
    assert headline in response.text.split('id="recon-status"')[0]  # the notice on top says it too
    for difference in problems:
        assert difference.out_trade_no in response.text


def test_refund_refusals_say_why_and_change_nothing(logged_in, day, till):
    ledger = till.till.ledger
    latte, expired = day["sales"][0], day["sales"][3]

    def refund_form(sale_id: int, amount: str):
        response = logged_in.post(f"/manager/sales/{sale_id}/refund", {"date": day["date"], "amount": amount})
        assert response.status_code == 200 and response.url.split("?")[0].endswith("/manager/day")
        return unescape(re.search(r'<p class="notice error"[^>]*>(.*?)</p>', response.text, re.S).group(1))

    assert "只有" not in refund_form(expired["id"], "1.00") and "不能退款" in refund_form(
        expired["id"], "1.00"
    )
    assert "金额须为数字" in refund_form(latte["id"], "abc")
    assert "金额须大于 0.00" in refund_form(latte["id"], "0")
    assert "超过可退金额 ￥36.00" in refund_form(latte["id"], "36.01")
    # This till has no merchant certificate configured: the refund service refuses before anything starts.
    assert "退款未完成" in refund_form(latte["id"], "1.00")
    assert ledger.refunds_for_sale(latte["id"]) == [] and ledger.get_sale(latte["id"]).state is SaleState.PAID
    assert (
        logged_in.post("/manager/sales/999999/refund", {"date": day["date"], "amount": "1.00"}).status_code
        == 404
    )


def test_chart_is_well_formed_svg(logged_in, day):
    import xml.etree.ElementTree as ET

    html = logged_in.get(f"/manager/day?date={day['date']}").text
    svg = ET.fromstring(re.search(r"<svg class=\"chart\".*?</svg>", html, re.S).group(0))
    assert svg.tag == "{http://www.w3.org/2000/svg}svg" and svg.get("role") == "img"
    assert svg.find("{http://www.w3.org/2000/svg}polyline") is not None  # the earlier weeks' line
    assert "<script" not in html and 'style="' not in html  # nothing the CSP would block


def test_pages_in_english(tmp_path, sim, kit, clock):
    from pos.till.testing import running_till

    with running_till(kit.manager_config(tmp_path, sim, language="en"), clock=clock, workers=False) as till:
        manager = kit.Manager(till)
        assert "Manager login" in manager.get("/manager/login").text
        assert "Wrong password" in manager.login("nope").text
        html = manager.login().text
        for words in (
            "Business day",
            "Paid",
            "Refunded",
            "Net",
            "Export CSV",
            "Print Z report",
            "Nothing flagged",
        ):
            assert words in html, words
        assert "收款" not in html
        raw = manager.get("/manager/day.csv").content
        assert raw.decode("utf-8-sig").startswith(
            "Time,out_trade_no,WeChat transaction_id,Items,Amount (yuan)"
        )
