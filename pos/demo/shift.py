"""``pos demo --auto``: a short scripted shift through the same HTTP API the cashier's page uses,
a summary, and exit 0 only when every sale ended as it should, the printer is empty and the day
reconciles with the simulator's bill."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pos.demo.shop import DemoShop
from pos.log import get_logger

if TYPE_CHECKING:  # imported when the shift runs
    import requests

log = get_logger("pos.demo")


@dataclass
class Step:
    title: str
    sale: dict[str, Any]
    expected: str


class ShiftFailed(RuntimeError):
    pass


def auto_shift(shop: DemoShop, *, timeout: float = 30.0) -> int:
    """Five sales, each ending a different way, through the same HTTP API the cashier's page uses."""
    import requests

    http = requests.Session()
    if shop.config.till.api_token:  # --cashiers: the till wants the token from scripts
        http.headers["Authorization"] = f"Bearer {shop.config.till.api_token}"
    api = shop.till_url + "/api"
    simulator = shop.sim_url + "/_sim"

    def ring_up(body: dict[str, Any]) -> dict[str, Any]:
        response = http.post(api + "/sales", json=body, timeout=15)
        if response.status_code != 201:
            raise ShiftFailed(f"ring-up refused: {response.status_code} {response.text}")
        sale = response.json()
        if sale["state"] != "AWAITING_PAYMENT":
            raise ShiftFailed(f"sale {sale['out_trade_no']} did not reach WeChat: {sale}")
        return sale

    def pay(sale: dict[str, Any], notify: bool) -> None:
        response = http.post(
            simulator + "/pay", json={"code_url": sale["code_url"], "notify": notify}, timeout=15
        )
        response.raise_for_status()

    def wait_for(sale: dict[str, Any], state: str) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            current = http.get(f"{api}/sales/{sale['id']}", timeout=15).json()
            if current["state"] == state:
                return current
            if time.monotonic() > deadline:
                raise ShiftFailed(f"sale {sale['out_trade_no']} is {current['state']}, expected {state}")
            time.sleep(0.1)

    already_printed = len(_printed_jobs(shop))
    steps: list[Step] = []
    ttl_seconds = shop.config.till.order_ttl * 60
    try:
        sale = ring_up({"items": [{"product_id": "LATTE", "qty": 1}, {"product_id": "TEA", "qty": 2}]})
        pay(sale, notify=True)
        steps.append(Step("paid, WeChat's notice reached the listener", wait_for(sale, "PAID"), "PAID"))
        _refund(shop, sale["id"], 1250)
        refunded = http.get(f"{api}/sales/{sale['id']}", timeout=15).json()
        steps.append(Step("then 12.50 refunded by the manager", refunded, "PARTLY_REFUNDED"))

        sale = ring_up({"amount": "9.90", "body": "零钱测试"})
        pay(sale, notify=False)
        steps.append(Step("paid, no notice: the till's own query found it", wait_for(sale, "PAID"), "PAID"))

        sale = ring_up({"items": [{"product_id": "CAKE", "qty": 1}]})
        voided = http.post(f"{api}/sales/{sale['id']}/void", json={}, timeout=15).json()
        log.info("demo_void_requested", state=voided.get("state"))
        shop.advance(5 * 60 + 1)  # WeChat lets an order be closed 5 minutes after it was made
        steps.append(Step("voided by the cashier, closed at WeChat", wait_for(sale, "VOIDED"), "VOIDED"))

        sale = ring_up({"items": [{"product_id": "WATER", "qty": 3}]})
        shop.advance(ttl_seconds + 60)  # the customer walked away; the deadline passes
        steps.append(Step("not paid before the deadline, closed", wait_for(sale, "EXPIRED"), "EXPIRED"))

        # Shelf labels (mode one) exist in v2 only; a v3 shift has none.
        label = _scan_label(shop, http, simulator) if shop.config.merchant.api == "v2" else None
        if label is not None:
            steps.append(Step("mode one: a shelf label scanned and paid", wait_for(label, "PAID"), "PAID"))
    except (ShiftFailed, requests.RequestException) as exc:
        print(f"pos demo --auto: FAILED: {exc}", flush=True)
        return 1

    printed = _wait_for_printer(shop, timeout)
    printed["jobs"] = printed["jobs"][already_printed:]
    reconciled = _reconcile_today(shop)
    print(_summary(steps, printed), flush=True)
    print(f"  reconciliation with the simulator's bill: {reconciled.message}", flush=True)
    ok = (
        all(step.sale["state"] == step.expected for step in steps)
        and printed["queued"] == 0
        and reconciled.status == "matched"
    )
    return 0 if ok else 1


def _reconcile_today(shop: DemoShop) -> Any:
    """The manager's morning check, run on the shift just made: the simulator serves today's bill."""
    from pos.ledger import business_date
    from pos.reconcile import reconcile_day

    today = business_date(shop.now(), shop.config.store.zone)
    return reconcile_day(shop.till.ledger, shop.till.client, shop.config, today, now=shop.now())


def _refund(shop: DemoShop, sale_id: int, refund_fee: int) -> None:
    """The manager refunds part of a sale (as the day view's refund form does), over the
    simulator's HTTPS port with the merchant certificate."""
    from pos.orders.refunds import RefundError, RefundService

    try:
        RefundService(shop.till.ledger, shop.till.client, shop.config).refund(
            sale_id, refund_fee, reason="demo", by="demo"
        )
    except RefundError as exc:
        raise ShiftFailed(f"refund refused: {exc}") from None


def _scan_label(shop: DemoShop, http: requests.Session, simulator: str) -> dict[str, Any] | None:
    """The customer scans a shelf label (mode one): WeChat asks the listener, then the customer pays."""
    from pos.wechatpay.modeone import bizpayurl

    merchant = shop.config.merchant
    url = bizpayurl("LATTE", appid=merchant.appid, mch_id=merchant.mch_id, api_key=merchant.api_key)
    response = http.post(simulator + "/scan", json={"url": url, "notify": True}, timeout=15)
    if response.status_code != 200:
        raise ShiftFailed(f"mode-one scan refused: {response.status_code} {response.text}")
    out_trade_no = response.json()["out_trade_no"]
    sale = shop.till.ledger.sale_by_out_trade_no(out_trade_no)
    return {"id": sale.id, "out_trade_no": out_trade_no}


def _wait_for_printer(shop: DemoShop, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status = shop.till.spooler.status()
        if (status.queued == 0 and status.current_job is None) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    return {"queued": status.queued, "jobs": _printed_jobs(shop)}


def _printed_jobs(shop: DemoShop) -> list[dict[str, Any]]:
    return printed_jobs(Path(shop.config.printer.device[4:]))


def printed_jobs(printer: Path) -> list[dict[str, Any]]:
    """A ``dir:`` printer's log: one JSON line per job written."""
    jobs_file = printer / "jobs.jsonl"
    lines = jobs_file.read_text(encoding="utf-8").splitlines() if jobs_file.exists() else []
    return [json.loads(line) for line in lines]


def _summary(steps: list[Step], printed: dict[str, Any]) -> str:
    rows = ["", "shift summary:"]
    for step in steps:
        mark = "ok " if step.sale["state"] == step.expected else "BAD"
        rows.append(f"  {mark} {step.sale['out_trade_no']:<22} {step.sale['state']:<16} {step.title}")
    kinds: dict[str, int] = {}
    for job in printed["jobs"]:
        kinds[job["kind"]] = kinds.get(job["kind"], 0) + 1
    printed_text = ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items())) or "nothing"
    rows.append(f"  printer: {printed_text}; {printed['queued']} still queued")
    return "\n".join(rows)
