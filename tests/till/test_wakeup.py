"""PostgreSQL: a job queued by another process wakes the right till's spooler at once.

A ``pos listen`` process marks a sale paid when the simulator's notice reaches it; the enqueue of
the confirmation NOTIFYs the sale's till, whose :class:`~pos.till.wakeup.JobWakeup` wakes its
spooler. The spoolers here never poll (``idle_poll`` of an hour), so the slip printing at all shows
the notification woke it; the counters show which till heard what. The other till never prints it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text

from pos import config as pos_config
from pos.ledger import JobKind, LineItem, open_ledger
from pos.orders.checkout import Checkout
from pos.processes import PosProcess, start_pos
from pos.sandbox.testing import running_simulator
from pos.testing.chain import printed, wait_until, write_config
from pos.till.spooler import Spooler
from pos.till.wakeup import JobWakeup
from pos.wechatpay import WeChatPayClient

pytestmark = pytest.mark.parametrize("database", ["postgresql"], indirect=True)

NEVER = 3600.0  # the spoolers' idle poll: in this test only a notification wakes them


@pytest.fixture
def sim():
    with running_simulator(time_scale=0.001) as running:
        yield running


@pytest.fixture
def listener(sim, database, tmp_path) -> Iterator[PosProcess]:
    config = write_config(tmp_path / "listener", sim, database.url_in(tmp_path))
    with start_pos(config, "listen") as process:
        yield process


def test_a_confirmation_queued_by_a_listener_process_wakes_the_sales_till_alone(
    sim, database, listener, tmp_path
):
    url = database.url_in(tmp_path)
    folders = {"a": tmp_path / "till-a", "b": tmp_path / "till-b"}
    configs = {
        name: pos_config.load(
            write_config(folder, sim, url, lane=lane, notify_url=listener.url + "/wechatpay/notify")
        )
        for (name, folder), lane in zip(folders.items(), ("01", "02"), strict=True)
    }
    with open_ledger(url) as ledger:
        spoolers = {n: Spooler(ledger, c, idle_poll=NEVER) for n, c in configs.items()}
        wakeups = {
            n: JobWakeup(ledger, c.store.id, c.till.lane, spoolers[n].wake) for n, c in configs.items()
        }
        client = WeChatPayClient.from_config(configs["a"].merchant, timeout=5.0)
        try:
            for name in ("a", "b"):
                spoolers[name].start()
                assert wakeups[name].start().wait_listening(30)
            sale = Checkout(ledger, client, configs["a"]).ring_up(items=[LineItem("拿铁", 1800)])
            [slip] = ledger.jobs_for_sale(sale.id)
            wait_until(lambda: printed(folders["a"]) == [slip.id], "a's sale slip")
            heard = wakeups["a"].notifications
            assert heard >= 1  # the slip's own notification woke a's spooler

            sim.pay(sale.code_url)  # the notice goes to the listener process, which marks it paid
            wait_until(
                lambda: len(ledger.jobs_for_sale(sale.id)) == 2, "the listener to queue the confirmation"
            )
            confirmation = ledger.jobs_for_sale(sale.id)[1]
            assert (confirmation.kind, confirmation.store, confirmation.lane) == (
                JobKind.CONFIRMATION,
                "S01",
                "01",
            )
            wait_until(lambda: printed(folders["a"]) == [slip.id, confirmation.id], "a's confirmation")
            assert wakeups["a"].notifications > heard  # woken by the listener process's NOTIFY
            assert wakeups["b"].notifications == 0  # b heard nothing of a's jobs
            assert printed(folders["b"]) == []
        finally:
            for name in ("a", "b"):
                wakeups[name].stop()
                spoolers[name].stop()
            client.close()


def test_the_wakeup_listens_again_after_its_connection_drops(database, tmp_path):
    wakes: list[int] = []
    with open_ledger(database.url_in(tmp_path)) as ledger:
        wakeup = JobWakeup(ledger, "S01", "01", lambda: wakes.append(1)).start()
        try:
            assert wakeup.wait_listening(30)
            wait_until(lambda: len(wakes) == 1, "the wake on connecting (jobs queued while nobody listened)")
            with ledger.engine.begin() as conn:  # the server drops it (a restart, a failover)
                dropped = conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND query LIKE 'LISTEN%'"
                        " AND pid <> pg_backend_pid()"
                    )
                ).all()
            assert len(dropped) == 1
            # One wake as the connection is lost (the spooler polls meanwhile), one on listening
            # again (for what was queued while nobody listened).
            wait_until(lambda: len(wakes) == 3 and wakeup.connected, "listening again, after two wakes")
            ledger.enqueue_job(JobKind.TEST, store="S01", lane="01")
            wait_until(lambda: wakeup.notifications == 1, "the job's notification on the new connection")
            assert len(wakes) == 4
        finally:
            wakeup.stop()


def test_a_till_listens_for_its_jobs_on_postgresql_only(demo_config):
    from pos.till.service import Till

    for kind in ("postgresql", "sqlite"):
        if kind == "sqlite":
            demo_config = demo_config.replace(
                database=pos_config.DatabaseConfig(url=f"sqlite:///{demo_config.till.data_dir}/pos.sqlite3")
            )
        till = Till(demo_config).start()
        try:
            assert (till.wakeup is not None) == (kind == "postgresql")
            if till.wakeup is not None:
                assert till.wakeup.wait_listening(30)
            # Listening, the spooler does not poll the queue every idle_poll (notifications say it all).
            assert till.spooler.listening() is (kind == "postgresql")
        finally:
            till.stop()
        assert till.spooler.listening() is False
