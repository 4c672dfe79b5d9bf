"""``pos listen`` in several processes: one listening socket, a waitress server in each process.

A listener process spends about 0.8 ms of CPU on a notice (verification, the
ledger's transaction, waitress itself) and Python runs one thread at a time, so
one process cannot use a second core. ``[listener] workers = 2`` (or ``pos listen
--workers 2``) forks that many processes after the socket is bound; the kernel
hands each new connection to one of them. They share nothing but the socket and
the ledger, whose writers take turns across processes without sleeping (see
:mod:`pos.ledger.writelock`), so a sale is still paid once and its slip queued
once whichever process a notice reaches; each keeps its own memory of recent
repeats, so a repeat reaching the other process reads the ledger once.

The parent only waits. SIGTERM or SIGINT stops every worker and then the parent.
A worker that dies on its own (a crash, the OOM killer) stops the others and the
parent exits with 1, so systemd's ``Restart=on-failure`` starts the whole set
again: half a listener that looks healthy is worse than a restart.

Forking is safe here because it happens before any thread, database connection
or WeChat session exists: each worker builds its own.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import sys
from collections.abc import Callable
from types import FrameType

from pos.log import get_logger
from pos.ports import BACKLOG, listening_socket  # noqa: F401  (re-exported: the socket the workers share)

log = get_logger("pos.listener.workers")

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def serve_in_processes(count: int, serve: Callable[[int], None]) -> int:
    """Fork ``count`` workers, each running ``serve(number)`` (numbered from 1) until SIGTERM or
    SIGINT; return 0 when they were asked to stop, 1 when one ended on its own."""
    children: dict[int, int] = {}
    for number in range(1, count + 1):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child, which leaves through os._exit
            code = _run_worker(serve, number)
            logging.shutdown()  # os._exit skips what a normal exit flushes
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        children[pid] = number
    stopping = False

    def stop_all(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            _signal(child, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop_all)
    signal.signal(signal.SIGINT, stop_all)
    result = 0
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:  # pragma: no cover - every child already reaped
            break
        number = children.pop(pid, None)
        if number is None:  # pragma: no cover - not one of ours
            continue
        if not stopping:
            log.error("listener_worker_died", worker=number, pid=pid, exit=os.waitstatus_to_exitcode(status))
            result = 1
            stopping = True
            for child in children:
                _signal(child, signal.SIGTERM)
    return result


def _run_worker(serve: Callable[[int], None], number: int) -> int:  # pragma: no cover - in the child
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    parent = os.getppid()
    _stop_with_parent()
    if os.getppid() != parent:  # the parent died before we asked to be told
        return 0
    try:
        serve(number)
    except KeyboardInterrupt:
        return 0
    except BaseException as exc:
        log.error("listener_worker_failed", worker=number, error=type(exc).__name__)
        return 1
    return 0


def _stop_with_parent() -> None:  # pragma: no cover - in the child
    """Ask Linux for SIGTERM when the parent dies, however it dies (``kill -9`` included), so no
    worker is left serving alone. systemd stops the whole group anyway; a terminal does not."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the parent's SIGTERM handler still stops us
        pass


def _interrupt(signum: int, frame: FrameType | None) -> None:  # pragma: no cover - in the child
    raise KeyboardInterrupt


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # already gone
        os.kill(pid, signum)
