"""pos.ledger.writelock: writers of one SQLite ledger take turns across processes, and give up in time."""

from __future__ import annotations

import fcntl
import multiprocessing
import os
import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from pos.ledger import open_ledger
from pos.ledger.schema import sales
from pos.ledger.writelock import WriteLock, lock_path_for

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("POS_TEST_DATABASE_URL")), reason="SQLite files and their lock file"
)


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "pos.sqlite3"
    open_ledger(f"sqlite:///{path}").close()  # migrated once
    return path


def _hold(lock_file: str, held: multiprocessing.Event, release: multiprocessing.Event) -> None:
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    held.set()
    release.wait(30)
    os.close(fd)


@pytest.fixture
def other_process(db):
    """Another process holding the ledger's write lock until the test lets it go."""
    spawn = multiprocessing.get_context("spawn")
    held, release = spawn.Event(), spawn.Event()
    holder = spawn.Process(target=_hold, args=(str(lock_path_for(db)), held, release))
    holder.start()
    assert held.wait(30)
    yield release
    release.set()
    holder.join(30)


def _count(ledger) -> int:
    with ledger.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(sales)).scalar_one()


def test_a_write_waits_for_another_process_and_goes_through_when_it_lets_go(db, other_process):
    ledger = open_ledger(f"sqlite:///{db}", busy_timeout_ms=30_000)
    done = threading.Event()

    def write() -> None:
        ledger.create_sale(store="S01", lane="01", total_fee=100, body="等待")
        done.set()

    writer = threading.Thread(target=write)
    writer.start()
    assert not done.wait(0.3)  # still waiting for the other process (SQLite's own lock is free)
    assert _count(ledger) == 0
    other_process.set()
    writer.join(30)
    assert done.is_set() and _count(ledger) == 1
    ledger.close()


def test_a_write_that_waits_too_long_fails_like_a_locked_database_and_writes_nothing(db, other_process):
    ledger = open_ledger(f"sqlite:///{db}", busy_timeout_ms=200)
    with pytest.raises(OperationalError, match="database is locked"):
        ledger.create_sale(store="S01", lane="01", total_fee=100, body="超时")
    assert _count(ledger) == 0
    other_process.set()
    ledger.create_sale(store="S01", lane="01", total_fee=100, body="之后")  # the lock was left clean
    assert _count(ledger) == 1
    ledger.close()


def _ring_up(url: str, count: int, start: multiprocessing.Event, failures: multiprocessing.Queue) -> None:
    ledger = open_ledger(url)
    start.wait(30)
    failed = 0
    for _ in range(count):
        try:
            ledger.create_sale(store="S01", lane=f"{os.getpid() % 90 + 10}", total_fee=100, body="并发")
        except Exception:
            failed += 1
    failures.put(failed)
    ledger.close()


def test_four_processes_writing_at_once_all_get_their_turn(db):
    spawn = multiprocessing.get_context("spawn")
    start, failures = spawn.Event(), spawn.Queue()
    writers = [
        spawn.Process(target=_ring_up, args=(f"sqlite:///{db}", 40, start, failures)) for _ in range(4)
    ]
    for writer in writers:
        writer.start()
    start.set()
    lost = sum(failures.get(timeout=120) for _ in writers)
    for writer in writers:
        writer.join(30)
    assert lost == 0
    with open_ledger(f"sqlite:///{db}") as ledger:
        assert _count(ledger) == 160


def test_a_forked_child_takes_the_lock_for_itself_not_through_its_parents_file(tmp_path):
    lock = WriteLock(tmp_path / "x.writers", timeout=0.2)
    with lock:  # the parent holds it while the child tries
        child = os.fork()
        if child == 0:  # pragma: no cover - the child's verdict is its exit code
            try:
                with lock:
                    os._exit(1)  # got it through the parent's open file: wrong
            except OperationalError:
                os._exit(0)
            os._exit(2)
        _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_the_lock_is_reentrant_in_a_thread_and_released_when_the_outer_one_ends(tmp_path):
    lock = WriteLock(tmp_path / "x.writers", timeout=0.2)
    with lock, lock:
        pass
    fd = os.open(tmp_path / "x.writers", os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free again: would raise BlockingIOError if held
    os.close(fd)
    lock.close()
