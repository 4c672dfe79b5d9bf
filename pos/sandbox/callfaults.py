"""Gateway faults: a call answers ``SYSTEMERROR`` or hangs, before or after it acted (v2 and v3).

The real gateway's answer to any call can be ``SYSTEMERROR`` (系统错误/系统超时) or no
answer at all, and in both cases the merchant cannot tell whether WeChat acted. A merchant
who tested only against a simulator that always answers would meet that first in
production, so the switch ``Faults.calls`` (``POST /_sim/faults``) makes it happen::

    {"calls": {"refund": "systemerror_after", "order_query": {"fault": "timeout", "times": 2}}}

Kinds (what WeChat did, then what the merchant sees):

- ``systemerror``        nothing; ``result_code=FAIL`` ``err_code=SYSTEMERROR``
- ``systemerror_after``  the call's work (order made, refund taken...); then the same SYSTEMERROR
- ``timeout``            nothing; the answer is held ``Faults.hang_seconds`` (the client gives up)
- ``timeout_after``      the call's work; then the answer is held ``hang_seconds``

``times`` (default 0) counts the calls it spoils, then the switch turns itself off; 0 spoils
every call until the switch is reset (``{"calls": {}}``). The bill (``download_bill``) has no
``result_code``: its SYSTEMERROR is ``return_code=FAIL`` ``return_msg=SYSTEMERROR``, and
"after" changes nothing there (a bill download has no effect).

On API v3 the same switch spoils the same operations (:data:`pos.sandbox.api_v3.OPERATIONS`
maps the v3 paths to these names); its SYSTEMERROR is HTTP 500 ``{"code": "SYSTEM_ERROR"}``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Engine operations a switch can name (micropay/reverse once the simulator has them).
OPERATIONS = (
    "unified_order", "order_query", "close_order", "refund", "refund_query", "download_bill",
    "micropay", "reverse",
)  # fmt: skip
KINDS = ("systemerror", "systemerror_after", "timeout", "timeout_after")
SYSTEMERROR_DES = "系统错误"


def normalise(value: Any) -> dict[str, dict[str, Any]]:
    """The checked form of a ``calls`` switch: ``{op: {"fault": kind, "times": n}}``; ValueError says why."""
    if not isinstance(value, Mapping):
        raise ValueError('calls must be an object like {"refund": "systemerror"}')
    out: dict[str, dict[str, Any]] = {}
    for op, spec in value.items():
        if op not in OPERATIONS:
            raise ValueError(f"calls: unknown call {op!r}; known: {', '.join(OPERATIONS)}")
        if isinstance(spec, str):
            spec = {"fault": spec}
        if not isinstance(spec, Mapping) or set(spec) - {"fault", "times"}:
            raise ValueError(f'calls.{op} must be a kind or {{"fault": kind, "times": n}}')
        kind, times = spec.get("fault"), spec.get("times", 0)
        if kind not in KINDS:
            raise ValueError(f"calls.{op}.fault must be one of {', '.join(KINDS)}")
        if isinstance(times, bool) or not isinstance(times, int) or times < 0:
            raise ValueError(f"calls.{op}.times must be a whole number >= 0")
        out[op] = {"fault": kind, "times": times}
    return out


@dataclass(frozen=True)
class Spoil:
    """What to do to one call: ``before`` (skip the work) and how (``hang`` or SYSTEMERROR)."""

    before: bool
    hang: bool


class CallFaults:
    """Takes one spoil per call from the live switch (counting ``times`` down), thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def take(self, calls: dict[str, dict[str, Any]], op: str) -> Spoil | None:
        with self._lock:
            spec = calls.get(op)
            if spec is None:
                return None
            if spec["times"] > 0:
                spec["times"] -= 1
                if spec["times"] == 0:
                    del calls[op]  # used up: the switch turns itself off
            kind = spec["fault"]
        return Spoil(before=not kind.endswith("_after"), hang=kind.startswith("timeout"))


def hang(seconds: float) -> None:
    """Hold the answer (a real sleep: the merchant's HTTP client must give up on its own)."""
    time.sleep(seconds)


def systemerror_fields() -> dict[str, str]:
    return {"result_code": "FAIL", "err_code": "SYSTEMERROR", "err_code_des": SYSTEMERROR_DES}
