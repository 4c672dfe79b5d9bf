"""Everyone reports the payment at once: one PAID, one confirmation slip.

The listener (its own Flask app and its own ledger connection on the same SQLite file, as
``pos listen`` would be) receives WeChat's notice as several simultaneous copies, each sent
twice (the simulator's ``concurrent`` and ``duplicate`` faults), while the till's watcher is
told to query the same order at the same moment. The ledger's paid transition decides the race.
On API v2 (XML notices) and v3 (signed, encrypted JSON notices) alike.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter

from pos.ledger import JobKind, SaleState, open_ledger
from pos.listener.app import create_app as listener_app
from pos.till.testing import running_till
from pos.web import BackgroundServer

COPIES = 6


def test_notices_and_the_watchers_query_at_once_make_one_paid_and_one_slip(
    database, api, sim, printer, tmp_path, e2e
):
    late = e2e.LateApp()
    listener_server = BackgroundServer(late, threads=8).start()
    base = e2e.config(api, tmp_path, sim, database=database.config)
    merchant = dataclasses.replace(base.merchant, notify_url=listener_server.base_url + "/wechatpay/notify")
    config = dataclasses.replace(base, merchant=merchant)
    clock = e2e.clock_of(sim)
    sources: Counter[str] = Counter()
    try:
        with running_till(config, clock=clock) as till:
            listener_ledger = open_ledger(config.database.url, timezone=config.store.timezone, clock=clock)
            late.set(listener_app(config, listener_ledger))
            sim.set_faults(concurrent=COPIES, duplicate=True)
            ledger = till.till.ledger
            sales = []
            for n in range(4):
                answer = till.http.post(till.url("/api/sales"), json={"amount": f"{n + 3}.00"}, timeout=30)
                assert answer.status_code == 201 and answer.json()["state"] == "AWAITING_PAYMENT"
                sales.append(answer.json())

            for sale in sales:
                start = threading.Barrier(2)

                def customer_pays(sale=sale, start=start):
                    start.wait()
                    sim.pay(sale["code_url"], notify=True)

                def watcher_asks(start=start):
                    start.wait()
                    sim.advance(2)  # the watcher's query is due now
                    till.till.watcher.nudge()

                threads = [threading.Thread(target=customer_pays), threading.Thread(target=watcher_asks)]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join(30)
                e2e.wait_until(lambda sale=sale: ledger.get_sale(sale["id"]).state is SaleState.PAID, "PAID")

            e2e.wait_until(sim.sim.notifier.idle, "the simulator's notices to be delivered")
            e2e.wait_until(lambda: not ledger.unfinished_jobs(), "the print queue to empty")
            deliveries = sim.notifications()
            for sale in sales:
                mine = [d for d in deliveries if d["out_trade_no"] == sale["out_trade_no"]]
                assert len(mine) >= COPIES, mine  # every copy reached the listener...
                assert {d["outcome"] for d in mine} == {"ok"}  # ...and was answered SUCCESS
                [order] = [o for o in sim.orders() if o["out_trade_no"] == sale["out_trade_no"]]
                payments = ledger.payments_for_sale(sale["id"])
                [accepted] = [p for p in payments if p.accepted]
                assert accepted.transaction_id == order["transaction_id"]
                assert {p.transaction_id for p in payments} == {order["transaction_id"]}
                sources[str(accepted.source)] += 1
                confirmations = [
                    j for j in ledger.jobs_for_sale(sale["id"]) if j.kind is JobKind.CONFIRMATION
                ]
                assert len(confirmations) == 1
                assert len(printer.lines_for(sale["out_trade_no"], "confirmation")) == 1
            listener_ledger.close()
    finally:
        listener_server.stop()
    print(f"who recorded the payment first: {dict(sources)}")  # informative: the race has no fixed winner
