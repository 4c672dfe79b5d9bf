"""The till daemon, composed once: ledger, WeChat Pay client, checkout, watcher and spooler.

``Till(config)`` opens everything a request needs exactly once per process
(the ledger's connection pool, the HTTP session to WeChat, the printer profile
inside the spooler), so the checkout path does no per-request set-up.
``start()`` runs the two workers (the payment watcher and the print spooler);
``stop()`` stops them and closes what was opened. The web app
(:func:`pos.till.app.create_app`) and ``pos till`` sit on top; tests build one
against the simulator and a ``dir:`` printer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from pos.config import Config
from pos.i18n import Translator
from pos.inputs import InputError
from pos.ledger import (
    JobKind,
    NothingToReprint,
    PrintJob,
    Sale,
    SaleState,
    UnknownSale,
    business_date,
    open_ledger,
)
from pos.log import get_logger
from pos.money import parse_yuan
from pos.orders.checkout import Checkout, CheckoutError
from pos.orders.micropay import CodePayment
from pos.orders.refunds import RefundService
from pos.till.qrsvg import qr_svg
from pos.till.spooler import Spooler
from pos.till.validation import CatalogueEntry, SaleRequest
from pos.till.wakeup import JobWakeup
from pos.till.watcher import Watcher
from pos.wechatpay.client import WeChatPayClient
from pos.wechatpay.factory import client_for

log = get_logger("pos.till.service")

Clock = Callable[[], datetime]

# Checkout refusals that are about the sale's state, not the input: 409 Conflict.
CONFLICT_CODES = frozenset({"cannot_void", "still_ordering", "cannot_retry", "not_new", "code_in_flight"})

# What "reprint" means for a sale in each state when the cashier does not say: its latest slip.
DEFAULT_REPRINT = {
    SaleState.NEW: JobKind.SALE_SLIP,
    SaleState.AWAITING_PAYMENT: JobKind.SALE_SLIP,
    SaleState.PAID: JobKind.CONFIRMATION,
    SaleState.PARTLY_REFUNDED: JobKind.REFUND_SLIP,
    SaleState.REFUNDED: JobKind.REFUND_SLIP,
    SaleState.VOIDED: JobKind.VOID_NOTICE,
    SaleState.EXPIRED: JobKind.EXPIRED_NOTICE,
}


def build_catalogue(config: Config) -> dict[str, CatalogueEntry]:
    """The config's [[products]] with prices parsed once (the config loader already checked them)."""
    return {
        p.id: CatalogueEntry(p.id, p.name, parse_yuan(p.price), p.barcode.strip()) for p in config.products
    }


def ensure_data_dir(config: Config) -> None:
    """Create the folder a SQLite ledger file lives in (and [till] data_dir) before opening it."""
    url = make_url(config.database.url)
    if url.get_backend_name() == "sqlite" and url.database and not url.database.startswith(":memory:"):
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    if config.till.data_dir:
        Path(config.till.data_dir).expanduser().mkdir(parents=True, exist_ok=True)


class Till:
    """One per process. Attributes: config, ledger, client, checkout, watcher, spooler, wakeup (PostgreSQL
    only, else None), catalogue, t."""

    def __init__(self, config: Config, *, clock: Clock | None = None) -> None:
        self.config = config
        self.clock: Clock = clock or (lambda: datetime.now(UTC))
        self.zone = config.store.zone
        self.t = Translator(config.store.language)
        self.catalogue = build_catalogue(config)
        ensure_data_dir(config)
        self.ledger = open_ledger(
            config.database.url, timezone=config.store.timezone, clock=clock, **config.database.pool
        )
        self.client = None
        try:
            self.client = client_for(config.merchant)
            self.checkout = Checkout(self.ledger, self.client, config, clock=clock)
            # One payment-code desk for the till: the cashier's request and the watcher share it.
            # Payment codes are v2 micropay whatever [merchant] api says: a v3 merchant needs its v2
            # key for them; without one the till takes printed QRs only (self.paycode is None).
            self.code_client: WeChatPayClient | None = None
            if isinstance(self.client, WeChatPayClient):
                self.code_client = self.client
            elif config.merchant.api_key:
                self.code_client = WeChatPayClient.from_config(config.merchant)
            self.paycode: CodePayment | None = None
            if self.code_client is not None:
                self.paycode = CodePayment(
                    self.ledger, self.code_client, spbill_create_ip=config.merchant.client_ip,
                    language=config.store.language, clock=clock,
                )  # fmt: skip
            # The till's refunds (the manager's pages run in this process): the watcher follows up
            # the open ones of this lane until WeChat says they are final (pos.till.refundwatch).
            self.refunds = RefundService(self.ledger, self.client, config, clock=clock)
            self.watcher = Watcher(self.ledger, self.client, config, clock=clock, on_settled=self._settled,
                                   codes=self.paycode, refunds=self.refunds)  # fmt: skip
            self.spooler = Spooler(self.ledger, config, clock=clock)
            # PostgreSQL: a job queued by any process wakes this till's spooler at once (NOTIFY).
            self.wakeup = (
                JobWakeup(self.ledger, config.store.id, config.till.lane, self.spooler.wake)
                if JobWakeup.available(self.ledger)
                else None
            )
            self.spooler.on_printed = self._printed
            if self.wakeup is not None:  # while it listens, the spooler need not poll the queue
                self.spooler.listening = lambda: self.wakeup is not None and self.wakeup.connected
        except BaseException:
            self._close_connections()
            raise
        self._started = False

    # -- life cycle ---------------------------------------------------------------------------------

    def start(self) -> Till:
        """Start the print spooler and the payment watcher (each resumes what a restart left)."""
        if not self._started:
            self.spooler.start()
            self.watcher.start()
            if self.wakeup is not None:
                self.wakeup.start()
            self._started = True
            log.info("till_started", store=self.config.store.id, lane=self.config.till.lane)
        return self

    def stop(self) -> None:
        """Stop the workers, then close the WeChat session and the ledger's pool. Safe to call twice."""
        if self._started:
            self._started = False
            for worker in (self.wakeup, self.watcher, self.spooler):
                if worker is None:
                    continue
                try:
                    worker.stop()
                except Exception:  # one worker failing to stop must not keep the other running
                    log.exception("worker_stop_failed", worker=type(worker).__name__)
            log.info("till_stopped")
        self._close_connections()

    def _settled(self) -> None:
        """The watcher settled a sale and queued its slip: print it now, not at the spooler's next look."""
        self.spooler.wake()

    def _printed(self, job: PrintJob) -> None:
        """A confirmation printed: its sale is paid, so the watcher need not look at it 2 s after
        its order (the notice reached a listener; the slip is the proof in this process)."""
        if job.kind is JobKind.CONFIRMATION and job.sale_id is not None:
            self.watcher.settled(job.sale_id)

    def _close_connections(self) -> None:
        if self.client is not None:
            self.client.close()
        code_client = getattr(self, "code_client", None)
        if code_client is not None and code_client is not self.client:
            code_client.close()
        self.ledger.close()

    def __enter__(self) -> Till:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- time -----------------------------------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock()

    def today(self) -> date:
        """The store's business day now."""
        return business_date(self.now(), self.zone)

    # -- sales ----------------------------------------------------------------------------------------

    def get_sale(self, sale_id: int) -> Sale:
        try:
            return self.ledger.get_sale(sale_id)
        except UnknownSale:
            raise InputError("error.no_sale", status=404, id=sale_id) from None

    def ring_up(self, wanted: SaleRequest) -> Sale:
        """Order at WeChat and queue the slip; wake the workers so neither waits for its next tick."""
        with self.refusals():
            sale = self.checkout.ring_up(
                items=wanted.items, amount_fen=wanted.amount_fen, body=wanted.body, cashier=wanted.cashier
            )
        self.wake(sale, watcher=False)
        self.watcher.expect(sale)  # its first query in 2 s, without a pass beside the slip's printing
        return sale

    def retry(self, sale_id: int) -> Sale:
        sale = self.get_sale(sale_id)
        if sale.state is not SaleState.FAILED:
            raise InputError("error.cannot_retry", status=409, id=sale_id, state=self._state_word(sale))
        with self.refusals():
            sale = self.checkout.retry(sale_id)
        self.wake(sale)
        return sale

    def void(self, sale_id: int, *, by: str = "") -> Sale:
        """Close the order at WeChat, then VOIDED (or PAID if the customer was quicker); within the
        order's first 5 minutes the sale comes back "voiding" and the watcher finishes the job."""
        sale = self.get_sale(sale_id)
        if not sale.state.is_pending:
            raise InputError("error.cannot_void", status=409, id=sale_id, state=self._state_word(sale))
        with self.refusals():
            sale = self.checkout.void(sale_id, by=by)
        self.wake(sale)
        return sale

    @contextmanager
    def refusals(self) -> Iterator[None]:
        """Checkout's refusals (already in the store's language) as API answers, not tracebacks."""
        try:
            yield
        except CheckoutError as exc:
            status = 409 if exc.code in CONFLICT_CODES else 400
            raise InputError("error.checkout", status=status, text=str(exc)) from None
        except UnknownSale as exc:
            raise InputError("error.no_sale", status=404, id=exc.ref) from None

    def reprint(self, sale_id: int, kind: JobKind | None = None, *, by: str = "") -> PrintJob:
        sale = self.get_sale(sale_id)
        kind = kind or DEFAULT_REPRINT.get(sale.state)
        if kind is None:
            raise InputError("error.nothing_to_reprint", status=409, id=sale_id)
        try:
            return self.spooler.reprint(sale_id, kind, by=by)  # queues the copy and wakes the spooler
        except NothingToReprint:
            raise InputError("error.nothing_to_reprint", status=409, id=sale_id) from None

    def qr_svg(self, sale_id: int) -> str:
        sale = self.get_sale(sale_id)
        if not sale.code_url or not sale.state.is_pending:
            raise InputError("error.no_qr", status=404, id=sale_id, state=self._state_word(sale))
        return qr_svg(sale.code_url, sale.out_trade_no)

    def printer_status(self) -> object:
        return self.spooler.status()

    # -- helpers --------------------------------------------------------------------------------------

    def _state_word(self, sale: Sale) -> str:
        from pos.till.present import sale_status

        return self.t(f"status.{sale_status(sale)}")

    def wake(self, sale: Sale | None, *, watcher: bool = True) -> None:
        """Tell the spooler about a new job, and (unless ``watcher=False``) the watcher about the sale.

        A ring-up does not wake the watcher for a pass: a new order's first query is due 2 s after
        it (``watcher.SCHEDULE``), so a pass now would do nothing for the sale but read every
        pending sale back beside the spooler printing the slip; :meth:`ring_up` tells the watcher
        when that first query is due instead (``Watcher.expect``).
        """
        wake = getattr(self.spooler, "wake", None) or getattr(self.spooler, "nudge", None)
        if callable(wake):
            wake()
        if watcher and sale is not None and sale.state is SaleState.AWAITING_PAYMENT:
            self.watcher.nudge()
