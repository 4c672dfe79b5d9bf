"""A till served on loopback, for tests and benches (never imported by the till itself).

    from pos.sandbox.testing import running_simulator
    from pos.till.testing import running_till, till_config

    with running_simulator() as sim:
        config = till_config(tmp_path, sim)
        with running_till(config) as running:
            sale = running.http.post(running.base_url + "/api/sales", json={"amount": "12.50"}).json()
            sim.pay(sale["code_url"], notify=False)

Everything is real: a SQLite ledger in ``tmp_path``, the simulator as WeChat, a
``dir:`` printer in ``tmp_path / "printer"``, and the Flask app under waitress in
a thread (:class:`pos.web.BackgroundServer`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

from pos import config as pos_config
from pos.config import Config, Product
from pos.till.app import SERVER_OPTIONS, create_app
from pos.till.service import Till
from pos.web import BackgroundServer

SAMPLE_PRODUCTS = (
    Product(id="LATTE", name="拿铁", price="18.00", barcode="6901234567892"),
    Product(id="TEA", name="柠檬茶", price="12.50", barcode="6920000000017"),
    Product(id="CAKE", name="芝士蛋糕", price="26.00"),
)


def till_config(tmp_path: Path, sim: Any, *, language: str = "zh-CN", **sections: Any) -> Config:
    """Defaults pointed at ``sim`` (a RunningSimulator), with the ledger and printer under ``tmp_path``.

    ``sections`` replace whole config sections (``till=TillConfig(...)``) or the products.
    """
    base = pos_config.from_mapping({}, "<test>", env={})
    merchant = dataclasses.replace(
        base.merchant,
        appid=sim.appid,
        mch_id=sim.mch_id,
        api_key=sim.api_key,
        api_base=sim.base_url,
        timeout=5.0,
    )
    values: dict[str, Any] = {
        "merchant": merchant,
        "store": dataclasses.replace(base.store, language=language),
        "till": dataclasses.replace(base.till, data_dir=str(tmp_path / "data")),
        "database": pos_config.DatabaseConfig(url=f"sqlite:///{tmp_path / 'data' / 'pos.sqlite3'}"),
        "printer": dataclasses.replace(base.printer, device=f"dir:{tmp_path / 'printer'}"),
        "products": SAMPLE_PRODUCTS,
    }
    values.update(sections)
    return dataclasses.replace(base, **values)


@dataclass
class RunningTill:
    till: Till
    base_url: str
    http: requests.Session

    def url(self, path: str) -> str:
        return self.base_url + path


@contextmanager
def running_till(
    config: Config, *, clock: Callable[[], datetime] | None = None, workers: bool = True
) -> Iterator[RunningTill]:
    """A Till (workers started unless ``workers=False``) and its app on a free loopback port."""
    till = Till(config, clock=clock)
    try:
        if workers:
            till.start()
        server = BackgroundServer(create_app(till), **SERVER_OPTIONS).start()
        try:
            with requests.Session() as http:
                yield RunningTill(till, server.base_url, http)
        finally:
            server.stop()
    finally:
        till.stop()
