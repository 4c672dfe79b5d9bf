"""``pos manager check-refunds`` as a person runs it (a subprocess on a config file), against the
simulator over mutual TLS, on SQLite and PostgreSQL: a refund WeChat keeps PROCESSING is reported
pending, then completed once WeChat settled it; other lanes can be left out."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from pos import config as pos_config
from pos.ledger import JobKind, LineItem, RefundState, SaleState, open_ledger
from pos.money import format_price
from pos.orders.refunds import RefundService
from pos.sandbox.testing import RunningSimulator, running_simulator
from pos.wechatpay import WeChatPayClient


@pytest.fixture
def sim() -> Iterator[RunningSimulator]:
    with running_simulator(tls=True, time_scale=0.0001) as running:
        yield running


@pytest.fixture
def config_file(tmp_path: Path, database_url: str, sim: RunningSimulator) -> Path:
    cert_file, key_file = sim.pki.client
    path = tmp_path / "pos.toml"
    path.write_text(
        f"""[store]
id = "S01"
language = "en"

[till]
lane = "01"

[database]
url = "{database_url}"

[merchant]
appid = "{sim.appid}"
mch_id = "{sim.mch_id}"
api_key = "{sim.api_key}"
api_base = "{sim.tls_base_url}"
ca_file = "{sim.pki.ca_file}"
cert_file = "{cert_file}"
key_file = "{key_file}"
notify_url = "http://127.0.0.1:9/wechatpay/notify"
timeout = 5.0
""",
        encoding="utf-8",
    )
    return path


def check_refunds(config_file: Path, *extra: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-m", "pos.cli", "manager", "check-refunds", "--config", str(config_file), *extra],
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode().splitlines()


def test_check_refunds_follows_up_the_pending_refunds_now(config_file, sim):
    config = pos_config.load(config_file, env={})
    with (
        open_ledger(config.database.url) as ledger,
        WeChatPayClient.from_config(config.merchant, backoff=0) as client,
    ):
        sale = ledger.create_sale(store="S01", lane="01", items=[LineItem("拿铁", 800)])
        order = client.unified_order(
            out_trade_no=sale.out_trade_no, total_fee=800, body="拿铁", notify_url=config.merchant.notify_url,
            product_id="LATTE", spbill_create_ip="127.0.0.1",
        )  # fmt: skip
        ledger.record_order(
            sale.id, code_url=order.code_url, prepay_id=order.prepay_id,
            expires_at=sale.created_at + timedelta(minutes=15), print_slip=False,
        )  # fmt: skip
        transaction_id = sim.pay(order.code_url, notify=False)
        ledger.mark_paid(
            sale.out_trade_no, transaction_id=transaction_id, total_fee=800,
            time_end=client.query_order(sale.out_trade_no).time_end, source="query",
        )  # fmt: skip
        sim.set_faults(refund_outcome="processing", refund_seconds=120)
        number = RefundService(ledger, client, config).refund(sale.id, 800).out_refund_no
        price = format_price(800)

        assert check_refunds(config_file) == [
            f"Refund {number} ({price}) was sent; waiting for WeChat Pay to confirm it."
        ]
        assert check_refunds(config_file, "--lane", "02") == ["No refund is pending."]
        sim.advance(121)  # WeChat settles it; its notice goes to a closed port
        assert check_refunds(config_file) == [f"Refunded {price} (refund {number})."]
        assert ledger.get_refund(number).state is RefundState.SUCCEEDED
        assert ledger.get_sale(sale.id).state is SaleState.REFUNDED
        assert check_refunds(config_file) == ["No refund is pending."]
        assert [j.kind for j in ledger.jobs_for_sale(sale.id)].count(JobKind.REFUND_SLIP) == 1
