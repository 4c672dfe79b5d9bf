"""The till's answers when its ledger's database is out of reach: a chain's PostgreSQL server
restarting or failing over must cost the cashier a "try again in a moment", never a 500, and the
till must carry on by itself once the server is back."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pos import config as pos_config
from pos.sandbox.testing import running_simulator
from pos.testing.postgres import Cluster, PostgresUnavailable, start_cluster
from pos.testing.system import unavailable
from pos.till.testing import running_till, till_config


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    """A throwaway cluster of this test's own: the session's shared server must not stop."""
    try:
        own = start_cluster()
    except PostgresUnavailable as exc:
        unavailable(f"no PostgreSQL to stop and start: {exc}")
    try:
        yield own
    finally:
        own.stop()


def test_a_ring_up_while_the_database_is_down_is_503_and_the_till_carries_on_after(cluster, tmp_path):
    body = {"items": [{"name": "拿铁", "price": "18.00"}]}
    with running_simulator() as sim:
        config = till_config(tmp_path, sim, database=pos_config.DatabaseConfig(url=cluster.url()))
        with running_till(config) as till:
            first = till.http.post(till.url("/api/sales"), json=body, timeout=30)
            assert first.status_code == 201, first.text
            cluster.stop_server()
            down = till.http.post(till.url("/api/sales"), json=body, timeout=60)
            assert down.status_code == 503, down.text
            assert down.json() == {"error": "暂时连不上账本数据库，请稍后重试"}
            assert "Traceback" not in down.text
            cluster.start_server()
            again = till.http.post(till.url("/api/sales"), json=body, timeout=30)
            assert again.status_code == 201, again.text
            assert again.json()["state"] == "AWAITING_PAYMENT"
            listed = till.http.get(till.url(f"/api/sales/{first.json()['id']}"), timeout=30).json()
            assert listed["state"] == "AWAITING_PAYMENT"  # what was recorded before is still there
