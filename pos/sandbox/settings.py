"""What the simulator is told: the merchant it accepts, its time scale and its fault switches.

Everything here is what a real merchant would set on WeChat's platform (the API
key, the mode-one callback URL, the refund notify URL) or what a test needs to
bend (time scale, the close-order guard, faults). Defaults are the demo
identity from :mod:`pos.config`, so ``pos sim`` and ``pos demo`` agree without
any configuration.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pos.config import DEMO_API_KEY, DEMO_APPID, DEMO_MCH_ID
from pos.sandbox import callfaults, coupons, earlyclose, refundflow, tradestates

# WeChat's notify retry schedule in seconds (15s/15s/30s/3m/10m/20m/30m/30m/30m/60m/3h/3h/3h/6h/6h).
RETRY_SCHEDULE: tuple[int, ...] = (
    15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600,
)  # fmt: skip

V3_ANSWER_FAULTS = (
    "", "bad_signature", "stale_timestamp", "signtest", "wrong_serial", "tampered_body", "missing_headers",
)  # fmt: skip


@dataclass
class Faults:
    """Ways the notification channel misbehaves, on purpose, to test a merchant's listener.

    - ``drop_first``: the next N delivery attempts are lost on the way (counted down).
    - ``duplicate``: every delivery is sent twice, one after the other.
    - ``concurrent``: every delivery is sent as K copies at the same moment (K >= 1).
    - ``delay_seconds``: wait this long (real seconds) before each delivery.
    - ``bad_sign_probe``: before a notice's first delivery, send a copy with a wrong sign
      (v3: a ``WECHATPAY/SIGNTEST/`` signature); a correct listener refuses it, and the probe
      never counts as the delivery.
    - ``v3_answer``: every v3 answer is spoiled this way until reset to "": ``bad_signature``
      (signed by a key that is not WeChat's), ``stale_timestamp`` (10 minutes old),
      ``signtest`` (a probe signature), ``wrong_serial``, ``tampered_body``, ``missing_headers``.
    - ``calls``: calls (v2 or v3) that answer SYSTEMERROR or hang, before or after acting
      (:mod:`pos.sandbox.callfaults`); ``hang_seconds``: how long a hung call holds its answer.
    - ``trade_states``: out_trade_no -> a state the order query reports instead of NOTPAY
      (:mod:`pos.sandbox.tradestates`).
    - ``early_close``: what a close within the first 5 minutes does: ``ignored`` (answers
      SUCCESS, the order stays payable), ``refused`` or ``closed`` (:mod:`pos.sandbox.earlyclose`).
    - ``refund_outcome``: how new refunds end: ``success`` (at once), ``processing`` (SUCCESS after
      ``refund_seconds`` of simulator time), ``change`` or ``refundclose`` (:mod:`pos.sandbox.refundflow`).
    - ``coupon``: payments use a coupon, merchant- or WeChat-funded (:mod:`pos.sandbox.coupons`).
    """

    drop_first: int = 0
    duplicate: bool = False
    concurrent: int = 1
    delay_seconds: float = 0.0
    bad_sign_probe: bool = False
    v3_answer: str = ""
    calls: dict[str, Any] = field(default_factory=dict)
    hang_seconds: float = 5.0
    trade_states: dict[str, Any] = field(default_factory=dict)
    early_close: str = "ignored"
    refund_outcome: str = "success"
    refund_seconds: float = 60.0
    coupon: dict[str, Any] = field(default_factory=dict)

    def update(self, changes: Mapping[str, Any]) -> Faults:
        """A checked copy with ``changes`` applied; ValueError names the bad key."""
        known = {f.name: f for f in dataclasses.fields(self)}
        values = dataclasses.asdict(self)
        for key, value in changes.items():
            if key not in known:
                raise ValueError(f"unknown fault {key!r}; known: {', '.join(sorted(known))}")
            current = values[key]
            if key in _CHECKERS:
                value = _CHECKERS[key](value)
            elif isinstance(current, str):
                if value not in V3_ANSWER_FAULTS:
                    raise ValueError(f"{key} must be one of {', '.join(repr(v) for v in V3_ANSWER_FAULTS)}")
            elif isinstance(current, bool):
                if not isinstance(value, bool):
                    raise ValueError(f"{key} must be true or false")
            elif isinstance(current, int):
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise ValueError(f"{key} must be a whole number >= 0")
            elif isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"{key} must be a number >= 0")
            values[key] = value
        if values["concurrent"] < 1:
            raise ValueError("concurrent must be at least 1")
        return Faults(**values)


_CHECKERS = {
    "calls": callfaults.normalise,
    "trade_states": tradestates.normalise,
    "early_close": earlyclose.check_mode,
    "refund_outcome": refundflow.check_outcome,
    "coupon": coupons.normalise,
}


@dataclass
class SimSettings:
    """The simulator's configuration; every field has a working default."""

    appid: str = DEMO_APPID
    mch_id: str = DEMO_MCH_ID
    api_key: str = DEMO_API_KEY
    merchant_name: str = "演示小店"
    # Mode one: WeChat's platform setting "扫码支付回调URL".
    callback_url: str = ""
    # Refund notices go here when a refund request names no notify_url (a platform setting too).
    refund_notify_url: str = ""
    # Notify retry delays are multiplied by this (0.001 turns 15 s into 15 ms).
    time_scale: float = 1.0
    retry_schedule: tuple[int, ...] = RETRY_SCHEDULE
    # A merchant must answer a notice within this many (real) seconds.
    notify_timeout: float = 5.0
    # Which of WeChat's keys signs v3 answers (unless the request's Wechatpay-Serial names one)
    # and v3 notices: "public_key" (merchants opened since late 2024) or "certificate".
    v3_sign_with: str = "public_key"
    # A closeorder for an order younger than this (simulator clock seconds) is "early": what it
    # does is Faults.early_close (by default: answers SUCCESS, closes nothing).
    close_min_age: int = 300
    # code_url / prepay_id lifetime.
    code_ttl: int = 7200
    # time_expire of a new Native order must be at least this far in the future: the gateway's own
    # text is "time_expire时间过短，刷卡至少1分钟，其他5分钟" (payment codes 1 minute, others 5).
    min_expire: int = 300
    # Answer "Bill Creating" for a day until 10:00 Beijing time the next day, like the real one.
    bill_creating: bool = False
    max_body: int = 64 * 1024
    state_file: str = ""
    faults: Faults = field(default_factory=Faults)

    @property
    def sandbox_key(self) -> str:
        """The key /sandboxnew/pay/getsignkey hands out: stable for one API key, never equal to it."""
        return hashlib.md5(f"sandbox:{self.mch_id}:{self.api_key}".encode()).hexdigest()

    def __post_init__(self) -> None:
        if self.time_scale <= 0:
            raise ValueError("time_scale must be more than 0")
        if self.v3_sign_with not in ("public_key", "certificate"):
            raise ValueError("v3_sign_with must be public_key or certificate")
        if isinstance(self.faults, Mapping):
            self.faults = Faults().update(self.faults)
