"""Everything the simulator remembers: orders, their refunds, short URLs and the clock offset.

One lock guards it all (waitress serves requests on several threads and the
notifier runs beside them). With a state file, every change is written to a
temporary file and renamed over the old one, so a crash leaves either the old
state or the new one, never half of each.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Order states, as orderquery reports them in trade_state.
NOTPAY, SUCCESS, REFUND, CLOSED = "NOTPAY", "SUCCESS", "REFUND", "CLOSED"


@dataclass
class Refund:
    out_refund_no: str
    refund_id: str
    refund_fee: int
    requested_at: float
    succeeded_at: float
    refund_desc: str = ""
    notify_url: str = ""
    status: str = "SUCCESS"
    # Which API asked for the refund: its notice goes out in that API's form.
    api: str = "v2"
    # A refund that is not immediate (refundflow): the status it ends in, and when.
    final_status: str = ""
    settles_at: float | None = None
    # The coupon's share of this refund (coupons.refund_share): what goes back to the coupon.
    coupon_refund_fee: int = 0


@dataclass
class Order:
    """One unified order, keyed by (environment, out_trade_no)."""

    out_trade_no: str
    sandbox: bool
    # The request's business parameters (no nonce_str/sign/sign_type): re-entry must match them.
    params: dict[str, str]
    sign_type: str
    total_fee: int
    created_at: float
    prepay_id: str
    code_url: str
    code_expires_at: float
    expires_at: float | None = None
    state: str = NOTPAY
    transaction_id: str = ""
    time_end: str = ""
    paid_at: float | None = None
    openid: str = ""
    bank_type: str = ""
    cash_fee: int = 0
    is_subscribe: str = "N"
    closed_at: float | None = None
    # The payment notice: "" (none asked), "pending", "delivered" or "gave_up".
    notice: str = ""
    refunds: list[Refund] = field(default_factory=list)
    # Which API placed the order ("v2" or "v3"): the payment notice speaks that API.
    api: str = "v2"
    # A coupon used in the payment (coupons): its amount, CASH / NO_CASH, and id.
    coupon_fee: int = 0
    coupon_type: str = ""
    coupon_id: str = ""

    @property
    def key(self) -> str:
        return order_key(self.sandbox, self.out_trade_no)

    @property
    def refunded(self) -> int:
        """Refunded or on the way back; a closed refund (REFUNDCLOSE) gave its amount back."""
        return sum(r.refund_fee for r in self.refunds if r.status != "REFUNDCLOSE")

    def param(self, name: str) -> str:
        return self.params.get(name, "")


def order_key(sandbox: bool, out_trade_no: str) -> str:
    return ("sandbox/" if sandbox else "live/") + out_trade_no


class SimState:
    """The simulator's memory; call :meth:`save` after a change (it is a no-op without a file)."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.lock = threading.RLock()
        self.path = Path(path) if path else None
        self.orders: dict[str, Order] = {}
        self.short_urls: dict[str, str] = {}
        self.clock_offset: float = 0.0
        if self.path and self.path.exists():
            self._load()

    # -- lookups -------------------------------------------------------------------------

    def order(self, sandbox: bool, out_trade_no: str) -> Order | None:
        return self.orders.get(order_key(sandbox, out_trade_no))

    def by_transaction(self, sandbox: bool, transaction_id: str) -> Order | None:
        return next(
            (o for o in self.orders.values() if o.sandbox == sandbox and o.transaction_id == transaction_id),
            None,
        )

    def by_code_url(self, code_url: str) -> Order | None:
        return next((o for o in self.orders.values() if o.code_url == code_url), None)

    def by_prepay_id(self, prepay_id: str) -> Order | None:
        return next((o for o in self.orders.values() if o.prepay_id == prepay_id), None)

    def add(self, order: Order) -> None:
        self.orders[order.key] = order

    # -- persistence ---------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "clock_offset": self.clock_offset,
            "orders": [dataclasses.asdict(o) for o in self.orders.values()],
            "short_urls": self.short_urls,
        }

    def save(self) -> None:
        """Write the state atomically (temp file + rename) when a state file was given."""
        if not self.path:
            return
        with self.lock:
            text = json.dumps(self.to_json(), ensure_ascii=False, indent=1)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=self.path.name + ".", suffix=".tmp", dir=self.path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(text)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise

    def _load(self) -> None:
        assert self.path is not None
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            self.clock_offset = float(data.get("clock_offset", 0.0))
            self.short_urls = dict(data.get("short_urls", {}))
            for raw in data.get("orders", []):
                refunds = [Refund(**r) for r in raw.pop("refunds", [])]
                order = Order(**raw, refunds=refunds)
                self.orders[order.key] = order
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ValueError(f"{self.path}: not a simulator state file ({exc})") from None
