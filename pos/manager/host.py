"""What the manager's pages use of the service that mounts them: a :class:`Host`.

The till's app registers the manager's blueprint and puts its :class:`~pos.till.service.Till` in
``app.extensions["pos_till"]``; the pages reach it through this Protocol instead of importing the
till, so imports point one way only (the till above the manager, as ``.importlinter`` says).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any, Protocol

from pos.config import Config
from pos.i18n import Translator
from pos.ledger import JobKind, Ledger, PrintJob
from pos.orders.refunds import RefundService
from pos.wechatpay import WeChatPayClient


class JobQueue(Protocol):
    """The print queue's one call the manager makes: a Z report printed on the till's printer."""

    def enqueue(
        self, kind: JobKind | str, *, sale_id: int | None = None, payload: dict[str, Any] | None = None
    ) -> PrintJob: ...


class Host(Protocol):
    """The till's service as the manager's pages see it."""

    config: Config
    ledger: Ledger
    client: WeChatPayClient  # refunds go to WeChat through the till's client
    refunds: RefundService  # the till's: its watcher follows up the refunds still open
    clock: Callable[[], datetime]
    t: Translator
    spooler: JobQueue

    def now(self) -> datetime: ...

    def today(self) -> date: ...
