"""Two ``pos till`` processes (lanes 01 and 02 of one store) and a ``pos listen`` process on one
PostgreSQL ledger, the simulator as WeChat: each till prints its own sales' slips and confirmations
and nothing of the other's; a till stopped while its customer pays prints the confirmation it
missed when it starts again, and the other till never takes it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from pos.ledger import JobKind, JobState, open_ledger
from pos.processes import PosProcess, ProcessGroup, pos_command, start_pos
from pos.sandbox.testing import running_simulator
from pos.testing.chain import printed, wait_until, write_config

pytestmark = pytest.mark.parametrize("database", ["postgresql"], indirect=True)


@pytest.fixture
def sim():
    with running_simulator(time_scale=0.001) as running:
        yield running


@pytest.fixture
def listener(sim, database, tmp_path) -> Iterator[PosProcess]:
    config = write_config(tmp_path / "listener", sim, database.url_in(tmp_path))
    with start_pos(config, "listen") as process:
        yield process


def ring_up(till: PosProcess, amount: str) -> dict:
    answer = requests.post(till.url + "/api/sales", json={"amount": amount}, timeout=30)
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_two_till_processes_print_their_own_and_an_offline_till_catches_up(sim, database, listener, tmp_path):
    url = database.url_in(tmp_path)
    folders = {lane: tmp_path / f"till-{lane}" for lane in ("01", "02")}
    configs = {
        lane: write_config(f, sim, url, lane=lane, notify_url=listener.url + "/wechatpay/notify")
        for lane, f in folders.items()
    }
    group = ProcessGroup()
    try:
        tills = {
            lane: group.start(
                pos_command(config, "till"), name=f"till {lane}", log=folders[lane] / "till.log"
            )
            for lane, config in configs.items()
        }
        sales = {lane: ring_up(till, "18.00") for lane, till in tills.items()}
        assert {lane: s["out_trade_no"].split("-")[1] for lane, s in sales.items()} == {
            "01": "01",
            "02": "02",
        }
        with open_ledger(url) as ledger:
            slips = {lane: ledger.jobs_for_sale(s["id"])[0].id for lane, s in sales.items()}
            for lane in folders:
                wait_until(lambda lane=lane: printed(folders[lane]) == [slips[lane]], f"till {lane}'s slip")

            assert tills["02"].stop() == 0  # till 02 goes off; its customer pays all the same
            for sale in sales.values():
                sim.pay(sale["code_url"])
            wait_until(lambda: len(printed(folders["01"])) == 2, "till 01's confirmation")
            [_, confirmation_01] = ledger.jobs_for_sale(sales["01"]["id"])
            assert printed(folders["01"]) == [slips["01"], confirmation_01.id]
            missed = wait_until(
                lambda: ledger.jobs_for_sale(sales["02"]["id"])[1:], "the listener to pay 02's sale"
            )
            assert [(j.kind, j.state, j.lane) for j in missed] == [
                (JobKind.CONFIRMATION, JobState.QUEUED, "02")
            ]

            tills["02"] = group.start(  # back: it prints what it missed
                pos_command(configs["02"], "till"), name="till 02 again", log=folders["02"] / "till.log"
            )
            wait_until(lambda: len(printed(folders["02"])) == 2, "till 02's missed confirmation")
            assert printed(folders["02"]) == [slips["02"], missed[0].id]
            assert printed(folders["01"]) == [slips["01"], confirmation_01.id]  # 01 never took it
            assert ledger.unfinished_jobs() == []
    finally:
        group.stop()
    for till in tills.values():
        assert "Traceback" not in till.log()
