"""A chain's ledger lives on a PostgreSQL server that restarts, or fails over to its standby. The
ledger must carry on without a till or listener restart: a dead connection in the pool is found
before it is used (``pool_pre_ping``), and a URL that names the primary and its standby reaches
whichever one takes writes (libpq's multiple hosts with ``target_session_attrs=read-write``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import make_url

from pos.ledger import SaleState, open_ledger
from pos.testing.postgres import Cluster, PostgresUnavailable, start_cluster
from pos.testing.system import unavailable


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    """A throwaway cluster of this test's own (the session's shared server must not restart)."""
    try:
        own = start_cluster()
    except PostgresUnavailable as exc:
        unavailable(f"no PostgreSQL for a restart test: {exc}")
    try:
        yield own
    finally:
        own.stop()


def test_a_ledger_carries_on_after_its_server_restarts(cluster):
    with open_ledger(cluster.url()) as ledger:
        before = ledger.create_sale(store="S01", lane="01", total_fee=100, body="重启前")
        cluster.stop_server()  # every pooled connection is now dead
        cluster.start_server()
        after = ledger.create_sale(store="S01", lane="01", total_fee=200, body="重启后")
        assert after.out_trade_no != before.out_trade_no
        assert ledger.get_sale(before.id).state is SaleState.NEW
        assert after.total_fee == 200


def test_a_url_naming_a_dead_primary_and_a_live_standby_reaches_the_live_one(cluster, tmp_path):
    # The first host is a socket folder where no server runs (a primary that is down); libpq
    # tries the next host, as it would the standby promoted after a failover.
    dead = tmp_path / "no-server-here"
    dead.mkdir()
    live = make_url(cluster.url())
    url = live.set(query={"host": [str(dead), live.query["host"]], "target_session_attrs": "read-write"})
    with open_ledger(url.render_as_string(hide_password=False)) as ledger:
        sale = ledger.create_sale(store="S02", lane="01", total_fee=300, body="备库")
        assert ledger.get_sale(sale.id).total_fee == 300
