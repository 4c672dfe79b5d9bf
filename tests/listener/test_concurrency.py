"""Racing copies of one notice through the real server: the ledger's conditional update decides."""

from __future__ import annotations

import threading

import requests

from pos.ledger import JobKind, SaleState
from pos.wechatpay import notices


def race(url: str, bodies: list[bytes]) -> list[requests.Response]:
    """POST every body at the same moment, each from its own thread and connection."""
    barrier = threading.Barrier(len(bodies))
    responses: list[requests.Response | None] = [None] * len(bodies)

    def send(i: int) -> None:
        with requests.Session() as http:
            barrier.wait(timeout=10)
            responses[i] = http.post(url, data=bodies[i], headers={"Content-Type": "text/xml"}, timeout=30)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert all(r is not None for r in responses)
    return responses  # type: ignore[return-value]


def test_fifty_copies_of_one_notice_at_once_make_one_paid_and_one_job(stack):
    sale = stack.ring_up(1800)
    body = stack.signed(stack.notice_for(sale))
    responses = race(stack.notify_url, [body] * 50)
    assert [r.status_code for r in responses] == [200] * 50
    assert all(r.content == notices.success_reply() for r in responses)
    after = stack.ledger.get_sale(sale.id)
    assert after.state is SaleState.PAID
    jobs = [j for j in stack.ledger.jobs_for_sale(sale.id) if j.kind is JobKind.CONFIRMATION]
    assert len(jobs) == 1
    assert [p.accepted for p in stack.ledger.payments_for_sale(sale.id)] == [True]
    paid_events = [e for e in stack.ledger.events_for_sale(sale.id) if e.event == "paid"]
    assert len(paid_events) == 1
    # Copies that reached mark_paid after the winner were stored as repeats; none as a second payment.
    verdicts = [m.verdict for m in stack.ledger.messages_for(sale.out_trade_no)]
    assert verdicts.count("paid") == 1
    assert set(verdicts) <= {"paid", "already_paid"}
    assert stack.ledger.open_flags() == []


def test_copies_of_many_notices_interleaved_pay_each_sale_once(stack):
    sales = [stack.ring_up(100 + i) for i in range(10)]
    bodies = [stack.signed(stack.notice_for(s)) for s in sales for _ in range(5)]
    responses = race(stack.notify_url, bodies)
    assert all(r.content == notices.success_reply() for r in responses)
    for sale in sales:
        assert stack.ledger.get_sale(sale.id).state is SaleState.PAID
        jobs = [j for j in stack.ledger.jobs_for_sale(sale.id) if j.kind is JobKind.CONFIRMATION]
        assert len(jobs) == 1
