"""A shop's whole day on API v2 and on v3 (``api``): sales paid by notice and by query, a refund
that WeChat settles later (PROCESSING, then a refund notice to the listener), the manager's day
view, and ``pos reconcile`` (a real process) against WeChat's bill (v3: the SHA1-checked trade
bill). Then each refund outcome that is not immediate (``refund_outcome``: SUCCESS later,
CHANGE/ABNORMAL, REFUNDCLOSE/CLOSED) ending right in the ledger.

Everything is real: the simulator, the till (its Flask app under waitress, its watcher and
spooler), the listener on the same ledger (its own connection), over loopback HTTP.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pos.ledger import JobKind, PaymentSource, RefundState, SaleState
from pos.ledger.reconciliation import latest_reconciliation
from pos.orders.refunds import RefundError, RefundPending, RefundService
from pos.reconcile import reconcile_day
from pos.sandbox.testing import running_simulator
from pos.sandbox.v3files import write_v3_files
from pos.wechatpay.factory import client_for


@pytest.fixture
def sim():
    """The simulator with its HTTPS port too: v2 refunds need the merchant's client certificate."""
    with running_simulator(tls=True, time_scale=0.001) as running:
        yield running


def cli_config(shop, tmp_path: Path, api: str, sim) -> Path:
    """``pos.toml`` for the command line: the same merchant (v3: its key files) and ledger."""
    merchant = shop.config.merchant
    if api == "v3":
        keys = write_v3_files(tmp_path / "cli-keys", sim.v3)
        lines = "".join(f'{key} = "{value}"\n' for key, value in keys.items())
    else:
        lines = f'appid = "{merchant.appid}"\nmch_id = "{merchant.mch_id}"\napi_key = "{merchant.api_key}"\n'
    path = tmp_path / "pos.toml"
    path.write_text(
        f'[merchant]\n{lines}api_base = "{merchant.api_base}"\nca_file = "{merchant.ca_file}"\n'
        f"timeout = 5\n\n"
        f'[store]\nid = "{shop.config.store.id}"\n\n[database]\nurl = "{shop.config.database.url}"\n',
        encoding="utf-8",
    )
    path.chmod(0o600)
    return path


def test_a_day_paid_refunded_seen_by_the_manager_and_reconciled(api, shop, sim, tmp_path, e2e):
    by_notice, by_query, unpaid = shop.ring_up("18.00"), shop.ring_up("12.50"), shop.ring_up("26.00")
    sim.pay(by_notice["code_url"], notify=True)  # WeChat's notice reaches the listener
    e2e.wait_until(lambda: shop.state(by_notice["id"]) is SaleState.PAID, "PAID by the notice")
    sim.pay(by_query["code_url"], notify=False)  # no notice: the watcher's query finds it
    sim.advance(3)
    shop.till.till.watcher.nudge()
    e2e.wait_until(lambda: shop.state(by_query["id"]) is SaleState.PAID, "PAID by the watcher")
    [paid] = shop.ledger.payments_for_sale(by_notice["id"])
    [asked] = shop.ledger.payments_for_sale(by_query["id"])
    assert (paid.source, asked.source) == (PaymentSource.NOTICE, PaymentSource.QUERY)

    # The manager refunds 5.00; WeChat accepts it and settles it a minute later, with a notice.
    sim.set_faults(refund_outcome="processing", refund_seconds=60)
    http, token = e2e.manager_session(shop.till)
    answer = http.post(
        shop.till.url(f"/manager/sales/{by_notice['id']}/refund"),
        data={"csrf_token": token, "amount": "5.00", "reason": "少找零"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text[:300]
    [refund] = shop.ledger.refunds_for_sale(by_notice["id"])
    assert refund.state is RefundState.PENDING  # accepted, not yet back with the customer
    sim.advance(61)  # WeChat settles it and sends the refund notice to the listener
    e2e.wait_until(
        lambda: shop.ledger.refunds_for_sale(by_notice["id"])[0].state is RefundState.SUCCEEDED,
        "the refund notice to complete the refund",
    )
    e2e.wait_until(  # recorded once the listener's reply is in, a moment after the ledger changed
        lambda: any(d["kind"] == "refund" and d["outcome"] == "ok" for d in sim.notifications()),
        "the refund notice's delivery",
    )
    assert shop.state(by_notice["id"]) is SaleState.PARTLY_REFUNDED
    e2e.wait_until(
        lambda: any(j.kind is JobKind.REFUND_SLIP for j in shop.ledger.jobs_for_sale(by_notice["id"])),
        "the refund slip queued",
    )

    # The manager's day: two paid, 5.00 back, the unpaid one still waiting.
    day = http.get(shop.till.url(f"/manager/api/day?date={shop.day.isoformat()}"), timeout=30).json()
    assert (day["paid_count"], day["paid_fee"], day["refunded_fee"]) == (2, 3050, 500), day
    assert day["net_fee"] == 2550 and day["refund_pending_fee"] == 0, day
    page = http.get(shop.till.url(f"/manager/day?date={shop.day.isoformat()}"), timeout=30).text
    assert by_notice["out_trade_no"] in page and by_query["out_trade_no"] in page
    assert shop.state(unpaid["id"]) is SaleState.AWAITING_PAYMENT

    # `pos reconcile`, as the manager runs it at night: WeChat's bill matches the ledger.
    config = cli_config(shop, tmp_path, api, sim)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pos.cli",
            "--config",
            str(config),
            "reconcile",
            "--date",
            shop.day.isoformat(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    result = latest_reconciliation(shop.ledger, shop.day)
    assert result.status == "matched", result


@pytest.mark.parametrize(
    ("outcome", "wechat_says"),
    [("change", "CHANGE"), ("refundclose", "REFUNDCLOSE"), ("processing", "SUCCESS")],
)
def test_a_refund_wechat_settles_later_ends_right_in_the_ledger(shop, sim, e2e, outcome, wechat_says):
    sale = shop.ring_up("6.00")
    sim.pay(sale["code_url"], notify=True)
    e2e.wait_until(lambda: shop.state(sale["id"]) is SaleState.PAID, "PAID by the notice")
    refunds = RefundService(shop.ledger, shop.till.till.client, shop.config, clock=shop.till.till.clock)
    sim.set_faults(refund_outcome=outcome, refund_seconds=30)
    assert refunds.refund(sale["id"], 600).state is RefundState.PENDING
    assert shop.ledger.get_sale(sale["id"]).refundable_fee == 0  # reserved while WeChat works on it
    sim.advance(31)  # WeChat settles it; its refund notice goes to the listener
    e2e.wait_until(
        lambda: shop.ledger.refunds_for_sale(sale["id"])[0].state is not RefundState.PENDING,
        f"the {wechat_says} refund notice to settle the refund",
    )
    [refund] = shop.ledger.refunds_for_sale(sale["id"])
    [at_wechat] = [o for o in sim.orders() if o["out_trade_no"] == sale["out_trade_no"]]
    assert [r["status"] for r in at_wechat["refunds"]] == [wechat_says]
    if wechat_says == "SUCCESS":
        assert refund.state is RefundState.SUCCEEDED
        assert shop.state(sale["id"]) is SaleState.REFUNDED
        return
    assert refund.state is not RefundState.SUCCEEDED  # the money is not back with the customer
    assert shop.ledger.flags_for_sale(sale["id"]), "the manager must be told"
    assert shop.state(sale["id"]) is SaleState.PAID
    sim.set_faults(refund_outcome="success")
    if wechat_says == "REFUNDCLOSE":  # WeChat gave the amount back: it can be refunded again
        assert refunds.refund(sale["id"], 600).state is RefundState.SUCCEEDED
    else:  # CHANGE: the money left the merchant; a second refund never reaches the customer
        with pytest.raises(RefundError):
            refunds.refund(sale["id"], 600)
        [at_wechat] = [o for o in sim.orders() if o["out_trade_no"] == sale["out_trade_no"]]
        assert [r["status"] for r in at_wechat["refunds"]] == ["CHANGE"]


def paid(shop, sim, e2e, amount: str) -> dict:
    sale = shop.ring_up(amount)
    sim.pay(sale["code_url"], notify=True)
    e2e.wait_until(lambda: shop.state(sale["id"]) is SaleState.PAID, "PAID by the notice")
    return sale


def refunds_at_wechat(sim, out_trade_no: str) -> list[dict]:
    return next(o for o in sim.orders() if o["out_trade_no"] == out_trade_no)["refunds"]


@pytest.mark.parametrize("fault", ["systemerror_after", "timeout_after", "systemerror", "timeout"])
def test_a_refund_whose_outcome_is_unknown_stays_pending_and_is_sent_once(shop, sim, e2e, fault):
    sale = paid(shop, sim, e2e, "9.00")
    client = shop.till.till.client
    client.timeout, client.backoff = 0.3, 0  # a held answer outlasts the till's patience
    refunds = RefundService(shop.ledger, client, shop.config, clock=shop.till.till.clock)
    sim.set_faults(calls={"refund": fault, "refund_query": "systemerror"}, hang_seconds=0.6)
    try:
        first = refunds.refund(sale["id"], 900)
    except RefundPending as exc:
        first = exc.refund
    number = first.out_refund_no
    if fault.endswith("_after"):  # WeChat did refund: its refund notice to the listener settles it
        e2e.wait_until(
            lambda: shop.ledger.get_refund(number).state is RefundState.SUCCEEDED, "the refund notice"
        )
    else:
        assert first.state is RefundState.PENDING
        assert shop.ledger.get_sale(sale["id"]).refundable_fee == 0  # reserved while unknown
        [still] = refunds.sync(sale["id"])  # the query fails too: nothing is decided on a guess
        assert still.state is RefundState.PENDING
    sim.set_faults(calls={})
    [done] = refunds.sync(sale["id"])  # asked, and re-sent under its own number if WeChat never saw it
    assert done.state is RefundState.SUCCEEDED and done.out_refund_no == number
    assert [r["out_refund_no"] for r in refunds_at_wechat(sim, sale["out_trade_no"])] == [number]
    assert shop.state(sale["id"]) is SaleState.REFUNDED


@pytest.mark.parametrize("fault", ["systemerror", "timeout"])
def test_a_bill_download_that_fails_is_an_error_run_then_the_day_reconciles(shop, sim, e2e, fault):
    sale = paid(shop, sim, e2e, "18.00")
    client = shop.till.till.client
    client.timeout, client.backoff = 0.3, 0
    sim.set_faults(calls={"download_bill": fault}, hang_seconds=0.6)
    failed = reconcile_day(shop.ledger, client, shop.config, shop.day)
    assert failed.status == "error" and failed.matched == 0 and failed.differences == (), failed
    assert shop.state(sale["id"]) is SaleState.PAID and shop.ledger.flags_for_sale(sale["id"]) == []
    sim.set_faults(calls={})
    later = reconcile_day(shop.ledger, client, shop.config, shop.day)
    assert (later.status, later.matched) == ("matched", 1), later


@pytest.mark.parametrize("funded_by", ["merchant", "wechat"])
def test_a_coupon_payment_found_by_query_keeps_the_cash_and_reconciles(shop, sim, e2e, funded_by):
    sim.set_faults(coupon={"fee": 300, "funded_by": funded_by})
    sale = shop.ring_up("18.00")
    sim.pay(sale["code_url"], notify=False)  # the watcher's query (v3: amount.payer_total) tells it
    sim.advance(3)
    shop.till.till.watcher.nudge()
    e2e.wait_until(lambda: shop.state(sale["id"]) is SaleState.PAID, "PAID by the watcher")
    assert shop.ledger.flags_for_sale(sale["id"]) == []  # not an amount mismatch
    [payment] = shop.ledger.payments_for_sale(sale["id"])
    assert (payment.total_fee, payment.cash_fee) == (1800, 1500)
    with client_for(shop.config.merchant) as client:
        result = reconcile_day(shop.ledger, client, shop.config, shop.day)
    assert (result.status, result.matched) == ("matched", 1), result
