"""The manager's day view and its JSON add the day's takings up by cashier (the sales' signed-in names)."""

from __future__ import annotations

from pos.ledger.cashiers import set_cashier
from pos.till.signin import hash_pin


def test_takings_by_cashier(till, logged_in):
    assert "by-cashier" not in logged_in.get("/manager/day").text  # nobody signed in for anything yet
    set_cashier(till.till.ledger, "小王", hash_pin("2468"))
    http = till.http
    token = http.get(till.url("/api/session")).json()["csrf_token"]
    signed = http.post(
        till.url("/api/session"), json={"name": "小王", "pin": "2468"}, headers={"X-CSRF-Token": token}
    )
    headers = {"X-CSRF-Token": signed.json()["csrf_token"]}
    for amount in ("12.50", "3.00"):
        assert http.post(till.url("/api/sales"), json={"amount": amount}, headers=headers).status_code == 201
    page = logged_in.get("/manager/day").text
    assert 'data-cashier="小王"' in page
    rows = logged_in.get("/manager/api/day").json()["by_cashier"]
    assert [(r["cashier"], r["sales"], r["paid_fee"]) for r in rows] == [("小王", 2, 0)]
