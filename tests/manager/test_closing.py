"""A sale past its deadline whose order is still being closed at WeChat is "closing", not "awaiting".

WeChat refuses to close an order in its first 5 minutes and the watcher closes at its next pass, so
for a while a sale is AWAITING_PAYMENT in the ledger although the customer's time is up. The day
view, its JSON, ``pos report``'s figures and the printed Z report name it apart. The till here runs
without its watcher, so nothing closes the order while the test looks.
"""

from __future__ import annotations

import re
from datetime import timedelta

from pos.ledger import JobKind, SaleState
from pos.manager.cli import format_figures
from pos.manager.words import Words
from pos.printing.profiles import load_profile
from pos.reports.day import day_figures
from pos.till.documents import render_job


def ring_up(till, amount: str) -> dict:
    response = till.http.post(till.url("/api/sales"), json={"amount": amount})
    assert response.status_code == 201, response.text
    return response.json()


def row_of(html: str, sale_id: int) -> str:
    match = re.search(rf'<tr id="sale-{sale_id}".*?</tr>', html, re.S)
    assert match, sale_id
    return match.group(0)


def test_a_sale_past_its_deadline_shows_as_closing_until_the_order_is_closed(manager, till, clock):
    ledger = till.till.ledger
    # Start at noon in the store's zone, so both sales and the view are on one business day.
    local = till.till.now().astimezone(till.till.config.store.zone)
    noon = (local + timedelta(days=1)).replace(hour=12, minute=0, second=0, microsecond=0)
    clock.advance(seconds=(noon - local).total_seconds())
    late = ring_up(till, "7.00")
    clock.advance(minutes=till.till.config.till.order_ttl, seconds=1)  # the customer's time is up
    waiting = ring_up(till, "5.00")
    assert ledger.get_sale(late["id"]).state is SaleState.AWAITING_PAYMENT  # still, in the ledger
    logged_in = manager
    assert manager.login().status_code == 200  # (after the clock moved: sessions follow the till's clock)

    html = logged_in.get("/manager/day").text
    assert "已超时，关单中" in row_of(html, late["id"]) and "state-closing" in row_of(html, late["id"])
    assert "等待顾客扫码支付" in row_of(html, waiting["id"])
    assert "关单中" not in row_of(html, waiting["id"])
    chip = re.search(r'<span class="chip state-closing".*?</span></span>', html, re.S)
    assert chip and "<b>1</b>" in chip.group(0) and "￥7.00" in chip.group(0)

    data = logged_in.get("/manager/api/day").json()
    assert data["closing"] == {"count": 1, "total_fee": 700}
    assert data["by_state"]["AWAITING_PAYMENT"] == {"count": 2, "total_fee": 1200}  # states stay the ledger's

    text = format_figures(
        day_figures(ledger, till.till.today(), store="S01", now=till.till.now()),
        till.till.config,
        Words("en"),
    )
    assert re.search(r"Awaiting payment\s+1\s+￥5\.00", text) and re.search(
        r"Past deadline, closing\s+1\s+￥7\.00", text
    )

    response = logged_in.post("/manager/z-report", {"date": till.till.today().isoformat()})
    assert response.status_code == 200
    (job,) = [j for j in ledger.unfinished_jobs() if j.kind is JobKind.Z_REPORT]
    lines = render_job(ledger.get_job(job.id), ledger, till.till.config, load_profile("xp80")).text_lines()
    assert [line.split() for line in lines if line.startswith(("待支付", "超时关单中"))] == [
        ["待支付", "1", "￥5.00"],
        ["超时关单中", "1", "￥7.00"],
    ]

    # Once the order is closed the sale is EXPIRED, and nothing is "closing" any more.
    ledger.mark_expired(late["id"])
    html = logged_in.get("/manager/day").text
    assert "关单中" not in html and "已过期" in row_of(html, late["id"])
    assert logged_in.get("/manager/api/day").json()["closing"] == {"count": 0, "total_fee": 0}
