"""The happy path, whole: ring up over HTTP, the slip's printed QR scans to WeChat's code_url, the
customer pays without any notice reaching the till, the watcher finds it, one confirmation prints.
On API v2 and v3 alike (``api``)."""

from __future__ import annotations

from pos.ledger import JobKind, JobState, PaymentSource
from pos.till.testing import running_till


def test_slip_qr_is_the_order_and_a_silent_payment_prints_one_confirmation(
    database, api, sim, printer, tmp_path, e2e
):
    config = e2e.config(api, tmp_path, sim, database=database.config)
    with running_till(config, clock=e2e.clock_of(sim)) as till:
        answer = till.http.post(
            till.url("/api/sales"),
            json={"items": [{"name": "拿铁", "price": "18.00", "qty": 2}, {"name": "水", "price": "2.00"}]},
            timeout=30,
        )
        assert answer.status_code == 201, answer.text
        sale = answer.json()
        out_trade_no = sale["out_trade_no"]
        assert sale["state"] == "AWAITING_PAYMENT" and sale["total_fee"] == 3800

        # WeChat (the simulator) holds exactly this order, and issued this code_url.
        [order] = [o for o in sim.orders() if o["out_trade_no"] == out_trade_no]
        assert order["total_fee"] == 3800 and order["state"] == "NOTPAY"
        assert sale["code_url"] == order["code_url"]

        # The slip's bytes, as a printer would get them, hold a QR that scans to that code_url.
        [slip] = e2e.wait_until(lambda: printer.lines_for(out_trade_no, "sale_slip"), "the sale slip")
        assert printer.qr_texts(slip) == [order["code_url"]]

        # The customer pays; WeChat's notice never comes (notify off): only the till's query can know.
        sim.pay(sale["code_url"], notify=False)
        assert sim.notifications() == []
        sim.advance(2)  # the watcher's first query is due 2 s after the order
        till.till.watcher.nudge()
        paid = e2e.wait_until(
            lambda: (
                (s := till.http.get(till.url(f"/api/sales/{sale['id']}"), timeout=10).json())["state"]
                == "PAID"
                and s
            ),
            "the watcher to mark the sale PAID",
        )
        [order] = [o for o in sim.orders() if o["out_trade_no"] == out_trade_no]
        assert paid["transaction_id"] == order["transaction_id"]

        e2e.wait_until(lambda: printer.lines_for(out_trade_no, "confirmation"), "the confirmation slip")
        # More watcher passes and spooler turns must not print it again.
        passes = till.till.watcher.passes
        for _ in range(3):
            sim.advance(2)
            till.till.watcher.nudge()
        e2e.wait_until(lambda: till.till.watcher.passes >= passes + 3, "three more watcher passes")
        e2e.wait_until(lambda: till.till.spooler.status().queued == 0, "an empty print queue")

        ledger = till.till.ledger
        [payment] = ledger.payments_for_sale(sale["id"])
        assert payment.source is PaymentSource.QUERY and payment.transaction_id == order["transaction_id"]
        jobs = ledger.jobs_for_sale(sale["id"])
        assert sorted(j.kind for j in jobs) == [JobKind.CONFIRMATION, JobKind.SALE_SLIP]
        assert all(j.state is JobState.DONE for j in jobs)
    assert len(printer.lines_for(out_trade_no, "confirmation")) == 1
    assert len(printer.lines_for(out_trade_no)) == 2
