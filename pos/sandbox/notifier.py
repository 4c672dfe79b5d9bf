"""Delivers notices to merchants the way WeChat does: in the background, retried, imperfectly.

A notice is delivered at once, then again after each delay of the retry
schedule (15 s, 15 s, 30 s, 3 min ... 6 h, times ``time_scale``) until the
merchant answers HTTP 200 with ``<return_code>SUCCESS</return_code>`` (v2) or
any 2xx (v3, whose notices are signed afresh at every attempt) within
``notify_timeout`` seconds. Due times are on the simulator's clock, so
advancing the clock also brings retries forward. The fault switches in
:class:`pos.sandbox.settings.Faults` make it lose, repeat, parallelise, delay
or forge deliveries. Every attempt is logged for tests (``GET /_sim/notifications``).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import requests

from pos.log import get_logger
from pos.sandbox.clock import SimClock, dashed_time
from pos.sandbox.settings import SimSettings
from pos.wechatpay import xmlcodec
from pos.wechatpay.errors import XmlError

log = get_logger(__name__)

LOG_LIMIT = 5000


@dataclass
class Notice:
    id: int
    kind: str  # "pay" or "refund"
    url: str
    body: bytes
    out_trade_no: str
    probe_body: bytes | None = None
    on_settled: Callable[[str], None] | None = None  # called with "delivered" or "gave_up"
    # API v3: signs each attempt afresh, (body, probe) -> Wechatpay-* headers; None for v2.
    sign: Callable[[bytes, bool], dict[str, str]] | None = None
    api: str = "v2"  # decides the content type and what counts as delivered
    attempts: int = 0
    due: float = 0.0
    delay: float = 0.0  # the scheduled wait before the coming attempt, in simulator seconds
    done: bool = False
    given_up: bool = False
    outcomes: list[str] = field(default_factory=list)


class Notifier:
    """A scheduler thread plus a small pool of senders; :meth:`stop` ends both."""

    def __init__(self, clock: SimClock, settings: SimSettings, session: requests.Session | None = None):
        self.clock = clock
        self.settings = settings
        self.session = session or requests.Session()
        self._cv = threading.Condition()
        self._queue: list[tuple[float, int, Notice]] = []
        self._seq = itertools.count(1)
        self._log_seq = itertools.count(1)
        self._log: list[dict[str, Any]] = []
        self._notices: dict[int, Notice] = {}
        self._running = False
        self._thread: threading.Thread | None = None
        self._pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="sim-notify")
        self._in_flight = 0
        clock.on_advance(self._wake)

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        with self._cv:
            if self._running:
                return
            self._running = True
        self._thread = threading.Thread(target=self._run, name="sim-notifier", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cv:
            self._running = False
            self._cv.notify_all()
        if self._thread:
            self._thread.join(timeout=5)
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- API --------------------------------------------------------------------------------

    def submit(
        self,
        kind: str,
        url: str,
        body: bytes,
        out_trade_no: str,
        probe_body: bytes | None = None,
        on_settled: Callable[[str], None] | None = None,
        *,
        sign: Callable[[bytes, bool], dict[str, str]] | None = None,
        api: str = "v2",
    ) -> int:
        """Queue a notice for immediate delivery; returns its id.

        ``on_settled("delivered" | "gave_up")`` runs once the notice is done with, so the
        owner can remember it (a restarted simulator re-sends notices still pending).
        """
        notice = Notice(
            next(self._seq), kind, url, body, out_trade_no, probe_body, on_settled, sign, api,
            due=self.clock.now(),
        )  # fmt: skip
        with self._cv:
            self._notices[notice.id] = notice
            heapq.heappush(self._queue, (notice.due, notice.id, notice))
            self._cv.notify_all()
        self.start()
        return notice.id

    def log(self) -> list[dict[str, Any]]:
        with self._cv:
            return [dict(entry) for entry in self._log]

    def clear_log(self) -> None:
        with self._cv:
            self._log.clear()

    def idle(self) -> bool:
        """True when nothing is being sent and nothing is due before the schedule's next wait."""
        with self._cv:
            return self._in_flight == 0 and not any(q[0] <= self.clock.now() for q in self._queue)

    def pending(self) -> list[dict[str, Any]]:
        with self._cv:
            return [
                {"notice": n.id, "kind": n.kind, "out_trade_no": n.out_trade_no, "attempts": n.attempts,
                 "due": n.due}
                for _, _, n in sorted(self._queue)
            ]  # fmt: skip

    # -- the scheduler ----------------------------------------------------------------------

    def _wake(self) -> None:
        with self._cv:
            self._cv.notify_all()

    def _run(self) -> None:
        with self._cv:
            while self._running:
                if not self._queue:
                    self._cv.wait()
                    continue
                due, _, notice = self._queue[0]
                wait = due - self.clock.now()
                if wait > 0:
                    self._cv.wait(timeout=min(wait, 0.5))
                    continue
                heapq.heappop(self._queue)
                self._in_flight += 1
                try:
                    self._pool.submit(self._deliver, notice)
                except RuntimeError:  # the pool is shut down: we are stopping
                    self._in_flight -= 1
                    return

    def _deliver(self, notice: Notice) -> None:
        try:
            self._attempt(notice)
        except Exception:  # a bug here must not kill the sender pool
            log.exception("notify_crash", notice=notice.id)
            notice.outcomes.append("error")
            self._reschedule(notice, delivered=False)
        finally:
            with self._cv:
                self._in_flight -= 1

    def _attempt(self, notice: Notice) -> None:
        faults = self.settings.faults
        if faults.delay_seconds:
            time.sleep(faults.delay_seconds)
        attempt = notice.attempts + 1
        if attempt == 1 and notice.probe_body is not None and faults.bad_sign_probe:
            self._send(notice, notice.probe_body, attempt, copy=0, kind="probe")
        with self._cv:
            dropped = self.settings.faults.drop_first > 0
            if dropped:
                self.settings.faults.drop_first -= 1
        if dropped:
            self._record(notice, attempt, 1, "dropped", None, "", "lost on the way (fault: drop_first)")
            self._reschedule(notice, delivered=False)
            return
        rounds = 2 if faults.duplicate else 1
        delivered = False
        copy = 0
        for _ in range(rounds):
            copies = max(1, faults.concurrent)
            numbers = list(range(copy + 1, copy + copies + 1))
            copy += copies
            if copies == 1:
                results = [self._send(notice, notice.body, attempt, numbers[0], notice.kind)]
            else:
                barrier = threading.Barrier(copies)
                results = self._together(notice, attempt, numbers, barrier)
            delivered = delivered or any(results)
        self._reschedule(notice, delivered)

    def _together(self, notice: Notice, attempt: int, numbers: list[int], barrier: threading.Barrier) -> list:
        # Concurrent copies get their own threads, released together by the barrier.
        out: list[bool] = [False] * len(numbers)

        def run(i: int, copy: int) -> None:
            out[i] = self._send(notice, notice.body, attempt, copy, notice.kind, barrier)

        threads = [threading.Thread(target=run, args=(i, n)) for i, n in enumerate(numbers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return out

    def _send(
        self,
        notice: Notice,
        body: bytes,
        attempt: int,
        copy: int,
        kind: str,
        barrier: threading.Barrier | None = None,
    ) -> bool:
        if barrier is not None:
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(timeout=2)
        timeout = self.settings.notify_timeout
        started = time.monotonic()
        headers = {"Content-Type": "text/xml; charset=utf-8", "User-Agent": "Mozilla/4.0 (pos sim)"}
        if notice.api == "v3":
            headers["Content-Type"] = "application/json"
        if notice.sign is not None:  # v3: signed at each attempt, so a retry hours later is fresh
            headers.update(notice.sign(body, kind == "probe"))
        try:
            response = self.session.post(
                notice.url,
                data=body,
                headers=headers,
                timeout=timeout,
                allow_redirects=False,
            )
        except requests.Timeout:
            self._record(notice, attempt, copy, "timeout", None, "", f"no answer within {timeout} s", kind)
            return False
        except requests.RequestException as exc:
            self._record(notice, attempt, copy, "error", None, "", f"{type(exc).__name__}: {exc}", kind)
            return False
        elapsed = time.monotonic() - started
        reply = response.content[:2048]
        judge = _judge_v3 if notice.api == "v3" else _judge
        ok, detail = judge(response.status_code, reply, elapsed, timeout)
        self._record(notice, attempt, copy, "ok" if ok else "fail", response.status_code, reply, detail, kind)
        return ok and kind != "probe"

    def _record(self, notice, attempt, copy, outcome, status, reply, detail, kind=None) -> None:
        now = self.clock.now()
        entry = {
            "id": next(self._log_seq),
            "notice": notice.id,
            "kind": kind or notice.kind,
            "out_trade_no": notice.out_trade_no,
            "url": notice.url,
            "attempt": attempt,
            "copy": copy,
            "scheduled_delay": notice.delay,
            "at": now,
            "beijing": dashed_time(now),
            "status": status,
            "reply": reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply,
            "outcome": outcome,
            "detail": detail,
        }
        with self._cv:
            self._log.append(entry)
            del self._log[:-LOG_LIMIT]
        log.info(
            "notify",
            kind=entry["kind"],
            out_trade_no=notice.out_trade_no,
            attempt=attempt,
            copy=copy,
            outcome=outcome,
            detail=detail,
        )

    def _reschedule(self, notice: Notice, delivered: bool) -> None:
        settled = ""
        with self._cv:
            notice.attempts += 1
            schedule = self.settings.retry_schedule
            if delivered:
                notice.done = True
                settled = "delivered"
            elif notice.attempts > len(schedule):
                notice.given_up = True
                settled = "gave_up"
            else:
                notice.delay = schedule[notice.attempts - 1] * self.settings.time_scale
                notice.due = self.clock.now() + notice.delay
                heapq.heappush(self._queue, (notice.due, notice.id, notice))
                self._cv.notify_all()
        if settled and notice.on_settled is not None:
            notice.on_settled(settled)


def _judge(status: int, reply: bytes, elapsed: float, timeout: float) -> tuple[bool, str]:
    """WeChat's rule: HTTP 200, in time, and an XML reply whose return_code is SUCCESS."""
    if elapsed > timeout:
        return False, f"answered after {elapsed:.1f} s (limit {timeout} s)"
    if status != 200:
        return False, f"HTTP {status}, not 200"
    try:
        fields = xmlcodec.decode(reply)
    except XmlError as exc:
        return False, f"reply is not WeChat XML: {exc}"
    if fields.get("return_code") != "SUCCESS":
        return (
            False,
            f"return_code={fields.get('return_code', '')!r} return_msg={fields.get('return_msg', '')!r}",
        )
    return True, "SUCCESS"


def _judge_v3(status: int, reply: bytes, elapsed: float, timeout: float) -> tuple[bool, str]:
    """v3's rule: any 2xx in time (200 or 204, no body needed); 4xx/5xx mean "send it again"."""
    if elapsed > timeout:
        return False, f"answered after {elapsed:.1f} s (limit {timeout} s)"
    if not 200 <= status < 300:
        return False, f"HTTP {status}, not 2xx"
    return True, f"HTTP {status}"
